/**
 * What the redis driver does with bad input and risky servers: wrong
 * credentials (a clear error at once, not a timeout), an unreachable server,
 * an unsupported version or a cluster node, a replica reached directly, a
 * server that may evict lock keys (notes and a process warning), a user who
 * may not run CONFIG (settings "unknown"), and URL parsing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/distributed/connect.js';
import { BackendError, BackendUnavailableError, ConfigurationError, ErrorCodes, UnsupportedError } from '../../src/errors.js';
import { parseRedisUrl } from '../../src/drivers/redis/client.js';
import { requireServer, startRedis, type RedisHandle } from '../harness/index.js';
import { startFakeRedis } from './fixtures/redis-fake-server.js';
import { CONNECT_TIMEOUT_MS, STEADY_CONNECT } from '../harness/bounds.js';

const requirement = requireServer('redis', { suite: 'redis configuration' });
const skip = requirement.available ? false : requirement.reason;

/** The rejection of `promise` (fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => assert.fail(`expected a rejection, got ${String(value)}`),
    (error: unknown) => error,
  );
}

describe('redis: credentials', { skip }, () => {
  let redis: RedisHandle;
  before(async () => {
    redis = await startRedis({ password: 'right-pass' });
  });
  after(() => redis?.stop());

  test('a wrong password is a BackendError naming the credentials, long before the connect timeout', async () => {
    // A BackendError, not the BackendUnavailableError of a timeout: the refusal ended the attempt.
    const err = await rejection(connect(redis.url.replace('right-pass', 'wrong-pass'), { connectTimeout: 60_000 }));
    assert.ok(err instanceof BackendError, String(err));
    assert.equal(err.code, ErrorCodes.BACKEND);
    assert.match(err.message, /rejected the credentials/);
    assert.doesNotMatch(err.message, /wrong-pass/, 'the password is not in the message');
  });

  test('no password where one is required is the same clear error', async () => {
    const err = await rejection(connect(redis.url.replace(':right-pass@', ''), { connectTimeout: CONNECT_TIMEOUT_MS }));
    assert.ok(err instanceof BackendError && /rejected the credentials/.test(err.message), String(err));
  });

  test('the right password, from the URL or from driverOptions, works', async () => {
    const a = await connect(redis.url, STEADY_CONNECT);
    const b = await connect(redis.url.replace(':right-pass@', ''), { ...STEADY_CONNECT, driverOptions: { password: 'right-pass' } });
    const guard = await a.acquire('auth');
    assert.equal(await b.tryAcquire('auth'), undefined);
    await guard.release();
    await Promise.all([a.close(), b.close()]);
  });
});

describe('redis: servers it refuses or warns about', { skip }, () => {
  let redis: RedisHandle;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  test('nothing listening: BackendUnavailableError at the connect timeout', async () => {
    const fake = await startFakeRedis({});
    const url = fake.url;
    await fake.close();
    const err = await rejection(connect(url, { connectTimeout: 300 }));
    assert.ok(err instanceof BackendUnavailableError, String(err));
  });

  test('Redis older than 6.2 is refused with UnsupportedError naming both versions', async (t) => {
    const fake = await startFakeRedis({ redis_version: '5.0.7' });
    t.after(() => fake.close());
    const err = await rejection(connect(fake.url, { connectTimeout: CONNECT_TIMEOUT_MS }));
    assert.ok(err instanceof UnsupportedError, String(err));
    assert.match(err.message, /Redis 5\.0\.7 .* needs Redis 6\.2\.0 or later/);
  });

  test('a cluster node is refused with UnsupportedError', async (t) => {
    const fake = await startFakeRedis({ redis_version: '7.0.15', cluster_enabled: '1' });
    t.after(() => fake.close());
    const err = await rejection(connect(fake.url, { connectTimeout: CONNECT_TIMEOUT_MS }));
    assert.ok(err instanceof UnsupportedError && /Cluster/.test(err.message), String(err));
  });

  test('a replica reached directly is a ConfigurationError pointing at the master or Sentinel', async (t) => {
    const replica = await startRedis();
    t.after(() => replica.stop());
    await replica.command(['REPLICAOF', '127.0.0.1', String(redis.members[0]!.port)]);
    const err = await rejection(connect(replica.url, { connectTimeout: CONNECT_TIMEOUT_MS }));
    assert.ok(err instanceof ConfigurationError && /read-only replica/.test(err.message), String(err));
  });

  test('a maxmemory-policy that can evict lock keys: a note and a process warning', async (t) => {
    await redis.command(['CONFIG', 'SET', 'maxmemory', '256mb']);
    await redis.command(['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru']);
    t.after(async () => {
      await redis.command(['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
      await redis.command(['CONFIG', 'SET', 'maxmemory', '0']);
    });
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    t.after(() => void process.off('warning', onWarning));
    const c = await connect(redis.url, STEADY_CONNECT);
    t.after(() => c.close());
    assert.ok(c.capabilities.notes.some((n) => /allkeys-lru/.test(n) && /two holders/.test(n)), c.capabilities.notes.join('\n'));
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    const warning = warnings.find((w) => (w as { code?: string }).code === 'DEADBOLT_REDIS_EVICTION');
    assert.ok(warning, 'a process warning');
    assert.match(warning.message, /evict lock keys/);
  });

  test('with noeviction there is no eviction note and no warning', async (t) => {
    const c = await connect(redis.url, STEADY_CONNECT);
    t.after(() => c.close());
    assert.ok(!c.capabilities.notes.some((n) => /evict/.test(n)), c.capabilities.notes.join('\n'));
  });

  test('a user who may not run CONFIG: persistence and eviction "unknown", durableTokens false, locks still work', async (t) => {
    await redis.command(['ACL', 'SETUSER', 'locks', 'on', '>locks-pass', '~*', '&*', '+@all', '-config']);
    const url = redis.url.replace('redis://', 'redis://locks:locks-pass@');
    const c = await connect(url, STEADY_CONNECT);
    t.after(() => c.close());
    assert.equal(c.capabilities.durableTokens, false);
    assert.ok(c.capabilities.notes.some((n) => /Persistence unknown/.test(n) && /NOPERM/.test(n)), c.capabilities.notes.join('\n'));
    assert.ok(c.capabilities.notes.some((n) => /Eviction policy unknown/.test(n)));
    const guard = await c.acquire('limited-user');
    await guard.release();
  });

  test('a TTL below the minimum is a RangeError naming it, thrown synchronously', () => {
    assert.throws(() => connect(redis.url, { ttl: 50 }), (err) => err instanceof RangeError && /options\.ttl must be at least 100 ms/.test(err.message));
  });
});

test('redis URLs: database, user, TLS, Sentinel master, and errors naming the bad part', () => {
  const plain = parseRedisUrl(new URL('redis://user:p%40ss@10.0.0.1:6380/3'), { connectTimeout: 1_000 });
  assert.deepEqual(
    { host: plain.options.host, port: plain.options.port, db: plain.options.db, username: plain.options.username, password: plain.options.password, tls: plain.options.tls },
    { host: '10.0.0.1', port: 6380, db: 3, username: 'user', password: 'p@ss', tls: undefined },
  );
  assert.equal(plain.sentinel, false);
  assert.doesNotMatch(plain.display, /p@ss/);
  assert.deepEqual(parseRedisUrl(new URL('rediss://h'), { connectTimeout: 1_000 }).options.tls, {});
  const sentinel = parseRedisUrl(new URL('redis+sentinel://:pw@s1:26379/mymaster/2'), {
    connectTimeout: 1_000,
    endpoints: [
      { host: 's1', port: 26_379 },
      { host: 's2', port: 26_380 },
    ],
    driverOptions: { sentinelPassword: 'spw' },
  });
  assert.equal(sentinel.sentinel, true);
  assert.deepEqual(sentinel.options.sentinels, [
    { host: 's1', port: 26_379 },
    { host: 's2', port: 26_380 },
  ]);
  assert.equal(sentinel.options.name, 'mymaster');
  assert.equal(sentinel.options.db, 2);
  assert.equal(sentinel.options.password, 'pw');
  assert.equal(sentinel.options.sentinelPassword, 'spw');
  assert.throws(() => parseRedisUrl(new URL('redis+sentinel://s1:26379'), { connectTimeout: 1 }), /names the master/);
  assert.throws(() => parseRedisUrl(new URL('redis://h/zero'), { connectTimeout: 1 }), /must be a number; got "zero"/);
});
