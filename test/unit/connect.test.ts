/**
 * connect(): URL and option checks, driver loading and its failures, and the
 * connectTimeout bound, with fake driver sources where a real engine would be needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError, ConfigurationError, isInvalidArgument } from '../../src/errors.js';
import { connect, connectWith, type DriverSource } from '../../src/distributed/connect.js';
import { SCHEMES } from '../../src/distributed/connect-url.js';
import type { Driver, DriverFactory, DriverOptions } from '../../src/distributed/driver.js';
import { MemoryDriver } from '../../src/drivers/memory/driver.js';
import { memorySpace } from '../../src/drivers/memory/index.js';

/** A source with one extra scheme, `fake://`, whose module is `module()`. */
function fakeSource(module: () => Promise<unknown>, authority: 'hosts' | 'host' = 'hosts'): DriverSource {
  return {
    schemes: { ...SCHEMES, fake: { driver: 'fake', authority, defaultPort: 7000, example: 'fake://h:1', parameters: ['x'] } },
    load: (driver) => (driver === 'fake' ? module() : Promise.reject(new Error(`unexpected driver ${driver}`))),
  };
}

/** A memory driver that records what it was given and whether it was closed. */
function recordingFactory(overrides: Partial<Driver> = {}) {
  const seen: { url?: URL; options?: DriverOptions; closed: number } = { closed: 0 };
  const createDriver: DriverFactory = async (url, options) => {
    seen.url = url;
    seen.options = options;
    const driver = new MemoryDriver(memorySpace('connect-unit'), options.namespace);
    return Object.assign(driver, { close: async () => void seen.closed++, ...overrides });
  };
  return { seen, source: fakeSource(async () => ({ createDriver })) };
}

const isArgError = (pattern: RegExp) => (e: unknown) => isInvalidArgument(e) && pattern.test((e as Error).message);

test('bad arguments throw synchronously, naming the option and the value', () => {
  assert.throws(() => connect(42 as never), isArgError(/url must be a backend URL string.*got 42/));
  assert.throws(() => connect('memory://x', { ttl: 'soon' as never }), isArgError(/options\.ttl.*"soon"/));
  assert.throws(() => connect('memory://x', { ttl: 0 }), isArgError(/options\.ttl.*got 0/));
  assert.throws(() => connect('memory://x', { ttl: 1.5 }), isArgError(/options\.ttl/));
  assert.throws(() => connect('memory://x', { connectTimeout: -1 }), isArgError(/options\.connectTimeout/));
  assert.throws(() => connect('memory://x', { namespace: 'a b' }), isArgError(/options\.namespace.*"a b"/));
  assert.throws(() => connect('memory://x', { namespace: '/a' }), isArgError(/options\.namespace/));
  assert.throws(() => connect('memory://x', { require: ['teleport' as never] }), isArgError(/options\.require\[0\].*shared.*"teleport"/));
  assert.throws(() => connect('memory://x', { identity: { pid: -1 } }), isArgError(/options\.identity\.pid/));
  assert.throws(() => connect('memory://x', { identity: { id: '' } }), isArgError(/options\.identity\.id/));
  assert.throws(() => connect('memory://x', null as never), isArgError(/options must be an object/));
});

test('unknown or missing scheme: ConfigurationError listing the known ones', async () => {
  await assert.rejects(connect('mongodb://h:1'), (e) => e instanceof ConfigurationError && /"mongodb:".*memory:\/\/, file:\/\/, etcd:\/\/.*zookeeper:\/\//.test(e.message));
  await assert.rejects(connect('just-a-name'), (e) => e instanceof ConfigurationError && /no scheme/.test(e.message));
});

test('malformed host lists: ConfigurationError naming the bad part, password hidden', async () => {
  const cases: [string, RegExp][] = [
    ['etcd://a:1,,b:2', /host list entry 2 \(""\) is empty/],
    ['etcd://a:1,b:99999', /host list entry 2 \("b:99999"\) has an invalid port "99999"/],
    ['etcd://a:x', /host "a:x" has an invalid port "x"/],
    ['etcd://', /names no host/],
    ['etcd://a b:1', /characters a host name cannot have/],
    ['redis://a:1,b:2', /lists 2 hosts, but redis:\/\/ takes one/],
    ['zookeeper://user:s3cret@h:1,:2/chroot', /host list entry 2 \(":2"\)/],
  ];
  for (const [url, pattern] of cases) {
    const err = await connect(url).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ConfigurationError, `${url}: ${String(err)}`);
    assert.match(err.message, pattern, url);
    assert.doesNotMatch(err.message, /s3cret/);
  }
});

test('host lists reach the driver parsed, and the URL as written', async () => {
  const { seen, source } = recordingFactory();
  const c = await connectWith(source, 'fake://u:pw@h1:1,[::1]:2,h3/chroot?x=1', { ttl: 1_000, namespace: 'n1' });
  await c.close();
  assert.deepEqual(seen.options!.endpoints, [
    { host: 'h1', port: 1 },
    { host: '::1', port: 2 },
    { host: 'h3', port: 7000 },
  ]);
  assert.equal(String(seen.url), 'fake://u:pw@h1:1,[::1]:2,h3/chroot?x=1');
  assert.equal(seen.url!.href, 'fake://u:pw@h1:1,[::1]:2,h3/chroot?x=1');
  assert.equal(seen.url!.hostname, 'h1');
  assert.equal(seen.url!.port, '1');
  assert.equal(seen.url!.pathname, '/chroot');
  assert.equal(seen.url!.password, 'pw');
  assert.equal(seen.options!.namespace, 'n1');
  assert.equal(seen.options!.ttl, 1_000);
  assert.equal(seen.options!.connectTimeout, 5_000);
  assert.equal(seen.closed, 1, 'close() closes the driver');
});

test('a missing client package: ConfigurationError naming the npm install to run', async () => {
  const source = fakeSource(() => import('deadbolt-test-no-such-client-package' as string));
  const err = await connectWith(source, 'fake://h:1').then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ConfigurationError, String(err));
  assert.match(err.message, /fake:\/\/ driver needs the package "deadbolt-test-no-such-client-package".*npm install deadbolt-test-no-such-client-package/);
  assert.equal((err.cause as { code?: string }).code, 'ERR_MODULE_NOT_FOUND');
});

test('a driver that is not part of this build: ConfigurationError saying so', async () => {
  const missing = new URL('./no-such-driver/index.js', import.meta.url).href;
  const err = await connectWith(fakeSource(() => import(missing)), 'fake://h:1').then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ConfigurationError, String(err));
  assert.match(err.message, /the fake driver \(for fake:\/\/\) is not available in this build/);
});

test('an unreachable engine: BackendUnavailableError within connectTimeout, and the late driver is closed', async () => {
  let finish!: (driver: Driver) => void;
  let closed = 0;
  let signal: AbortSignal | undefined;
  const createDriver: DriverFactory = (_url, options) => {
    signal = options.signal;
    return new Promise((resolve) => (finish = resolve));
  };
  const started = performance.now();
  const err = await connectWith(fakeSource(async () => ({ createDriver })), 'fake://10.255.255.1:1', { connectTimeout: 100 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const took = performance.now() - started;
  assert.ok(err instanceof BackendUnavailableError, String(err));
  assert.match(err.message, /within 100 ms/);
  assert.ok(took >= 95, `gave up early, after ${took} ms`);
  assert.equal(signal?.aborted, true, 'the driver is told to stop connecting');
  const late = new MemoryDriver(memorySpace('connect-unit'), 'late');
  late.close = async () => void closed++;
  finish(late);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, 1);
});

test('a driver failing to connect: BackendUnavailableError keeping the cause; deadbolt errors pass through', async () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const failing = fakeSource(async () => ({ createDriver: async () => Promise.reject(refused) }));
  const err = await connectWith(failing, 'fake://127.0.0.1:1').then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof BackendUnavailableError);
  assert.equal(err.cause, refused);
  assert.match(err.message, /could not connect to fake:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
  const config = new ConfigurationError('bad TLS file');
  const passing = fakeSource(async () => ({ default: async () => Promise.reject(config) }));
  await assert.rejects(connectWith(passing, 'fake://h'), (e) => e === config);
});

test('ttl below the engine minimum: RangeError naming it; the driver is closed', async () => {
  const { seen, source } = recordingFactory();
  await assert.rejects(connectWith(source, 'fake://h:1', { ttl: 5 }), isArgError(/options\.ttl must be at least 20 ms, the smallest TTL the memory driver supports; got 5/));
  assert.equal(seen.closed, 1);
});

test('require: a missing capability is a ConfigurationError naming it; the driver is closed', async () => {
  const { seen, source } = recordingFactory();
  await assert.rejects(
    connectWith(source, 'fake://h:1', { require: ['serverLease', 'durableTokens'] }),
    (e) => e instanceof ConfigurationError && /lacks required capabilities: durableTokens/.test(e.message),
  );
  assert.equal(seen.closed, 1);
  const ok = await connectWith(source, 'fake://h:1', { require: ['shared', 'serverLease'] });
  await ok.close();
});

test('memory:// through the real loader; index.ts imports no driver', async () => {
  const c = await connect('memory://unit-connect', { ttl: 1_000 });
  assert.equal(c.backend, 'memory');
  assert.equal(c.session.state, 'connected');
  await c.close();
  const other = await connect('memory:unit-connect-2');
  await other.close();
  const index = await import('node:fs/promises').then((fs) => fs.readFile(fileURLToPath(new URL('../../../src/index.ts', import.meta.url)), 'utf8'));
  assert.doesNotMatch(index, /drivers\//);
});

test('etcd://127.0.0.1:1 is refused, not timed out', async () => {
  const err = await connect('etcd://127.0.0.1:1', { connectTimeout: 60_000 }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ConfigurationError || (err instanceof BackendUnavailableError && /ECONNREFUSED/.test(err.message)), String(err));
});
