/**
 * Option checks are strict and synchronous everywhere: an unknown option or URL
 * parameter is an error naming the accepted ones, and a TTL below the engine's
 * floor throws before anything is loaded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError, isInvalidArgument } from '../../src/errors.js';
import { connect } from '../../src/distributed/connect.js';
import { SCHEMES } from '../../src/distributed/connect-url.js';
import { Mutex } from '../../src/local/mutex.js';
import { Semaphore } from '../../src/local/semaphore.js';
import { RWLock } from '../../src/local/rw-lock.js';
import { KeyedMutex, KeyedRWLock } from '../../src/local/keyed.js';
import { LockDirectory } from '../../src/file/lock-directory.js';
import { memoryCapabilities } from '../../src/drivers/memory/driver.js';
import { fileCapabilities } from '../../src/drivers/file/driver.js';
import { MIN_TTL_MS as ETCD_MIN } from '../../src/drivers/etcd/session.js';
import { MIN_TTL_MS as REDIS_MIN } from '../../src/drivers/redis/capabilities.js';
import { MIN_TTL_MS as POSTGRES_MIN } from '../../src/drivers/postgres/driver.js';
import { MIN_TTL_MS as ZOOKEEPER_MIN } from '../../src/drivers/zookeeper/driver.js';

const argError = (pattern: RegExp) => (e: unknown) => isInvalidArgument(e) && pattern.test((e as Error).message);
const configError = (pattern: RegExp) => (e: unknown) => e instanceof ConfigurationError && pattern.test(e.message);

test('connect(): an unknown option throws synchronously, naming the accepted ones', () => {
  assert.throws(
    () => connect('memory://strict', { tll: 5_000 } as never),
    argError(/^options\.tll is not an option; accepted: ttl, namespace, identity, require, connectTimeout, driverOptions$/),
  );
  // An option present but undefined is absent (spreading optional settings is fine).
  return connect('memory://strict', { ttl: undefined, namespace: undefined }).then((c) => c.close());
});

test("connect(): a ttl below the engine's floor throws synchronously, before the driver is loaded", () => {
  for (const [url, floor, driver] of [
    ['etcd://127.0.0.1:1', 2_000, 'etcd'],
    ['zookeeper://127.0.0.1:1', 1_000, 'zookeeper'],
    ['postgres://127.0.0.1:1/db', 500, 'postgres'],
    ['redis://127.0.0.1:1', 100, 'redis'],
    ['memory://strict', 20, 'memory'],
  ] as const) {
    assert.throws(() => connect(url, { ttl: 1 }), argError(new RegExp(`options\\.ttl must be at least ${floor} ms, the smallest TTL the ${driver} driver supports; got 1`)), url);
  }
});

test("the scheme table's TTL floors are the drivers' own", () => {
  assert.equal(SCHEMES.memory!.minTtlMs, memoryCapabilities.minTtlMs);
  assert.equal(SCHEMES.file!.minTtlMs, fileCapabilities.minTtlMs);
  assert.equal(SCHEMES.etcd!.minTtlMs, ETCD_MIN);
  for (const scheme of ['redis', 'rediss', 'redis+sentinel', 'rediss+sentinel']) assert.equal(SCHEMES[scheme]!.minTtlMs, REDIS_MIN, scheme);
  assert.equal(SCHEMES.postgres!.minTtlMs, POSTGRES_MIN);
  assert.equal(SCHEMES.postgresql!.minTtlMs, POSTGRES_MIN);
  assert.equal(SCHEMES.zookeeper!.minTtlMs, ZOOKEEPER_MIN);
});

test('connect(): an unknown URL parameter is a ConfigurationError naming the accepted ones', async () => {
  await assert.rejects(connect('etcd://127.0.0.1:1?timeout=5'), configError(/unknown parameter "timeout": etcd:\/\/ URLs take only layout/));
  await assert.rejects(connect('redis://127.0.0.1:1/0?db=1'), configError(/unknown parameter "db": redis:\/\/ URLs take no query parameters/));
  await assert.rejects(connect('zookeeper://127.0.0.1:1,127.0.0.1:2/app?x=1'), configError(/unknown parameter "x": zookeeper:\/\/ URLs take only layout/));
  await assert.rejects(connect('memory://strict?ttl=5'), configError(/unknown parameter "ttl": memory:\/\/ URLs take no/));
  await assert.rejects(connect('file:///tmp/deadbolt-strict?prefx=nova'), configError(/unknown parameter "prefx": file:\/\/ URLs take only prefix, cleanup/));
  await assert.rejects(
    connect('postgres://app:s3cret@127.0.0.1:1/db?sslmode=require&bogus=1'),
    (e) => configError(/unknown parameter "bogus": postgres:\/\/ URLs take only schema, host, .*sslmode/)(e) && !/s3cret/.test((e as Error).message),
  );
  await assert.rejects(connect('file:///tmp/deadbolt-strict?cleanup=sometimes'), configError(/cleanup="sometimes" is not one of never, on-release/));
});

test('acquire options: an unknown key throws synchronously on every lock', async () => {
  const unknown = (key: string, accepted: string) => argError(new RegExp(`^options\\.${key} is not an option; accepted: ${accepted}$`));
  assert.throws(() => new Mutex().acquire({ tiemout: 5 } as never), unknown('tiemout', 'mode, signal, timeout, weight'));
  assert.throws(() => new Semaphore(2).tryAcquire({ wieght: 2 } as never), unknown('wieght', 'weight'));
  assert.throws(() => new RWLock().tryAcquire({ shared: true } as never), unknown('shared', 'mode'));
  assert.throws(() => new RWLock().acquire({ shared: true } as never), unknown('shared', 'mode, signal, timeout'));
  assert.throws(() => new KeyedMutex().acquire('k', { wait: false } as never), unknown('wait', 'mode, signal, timeout'));
  assert.throws(() => new KeyedRWLock().tryAcquire('k', { exclusive: true } as never), unknown('exclusive', 'mode'));
  await new Mutex().run(async () => {}, { timeout: undefined }); // undefined values are absent

  const dir = mkdtempSync(join(tmpdir(), 'deadbolt-strict-'));
  try {
    assert.throws(() => new LockDirectory(dir, { cleanUp: 'never' } as never), unknown('cleanUp', 'prefix, cleanup, fileMode, recordArgs'));
    const locks = new LockDirectory(dir);
    assert.throws(() => locks.acquire('a', { owner: undefined, retries: 3 } as never), unknown('retries', 'mode, signal, timeout'));
    assert.throws(() => locks.tryAcquire('a', { timeout: 5 } as never), unknown('timeout', 'mode'));
    assert.throws(() => locks.clean({ olderthan: 5 } as never), unknown('olderthan', 'olderThan, dryRun'));
    const coordinator = await connect(`file://${dir}`);
    assert.throws(() => coordinator.tryAcquire('a', { signal: undefined, wait: 1 } as never), unknown('wait', 'mode'));
    assert.throws(() => coordinator.break('a', { reason: 'x', force: true } as never), unknown('force', 'reason, by, expect'));
    await coordinator.close();
    await locks.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
