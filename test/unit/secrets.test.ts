/**
 * URL credentials never leave deadbolt: not in a message, a `cause` chain
 * (AggregateError.errors included), `String(err)`, a stack, a diagnostic or a
 * listing, whatever characters the password holds (raw `/ # ? @ : %`,
 * percent-encoded, Unicode), for every scheme, and the CLI never echoes a
 * malformed `--backend` whole.
 *
 * Engines are not needed here: every host is a free 127.0.0.1 port nobody
 * listens on (connect fails at once), or a fake driver that behaves like a
 * client library quoting the URL in its errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { channels } from '../../src/diagnostics.js';
import { BackendError, BackendUnavailableError, ConfigurationError, DeadboltError, LockLostError } from '../../src/errors.js';
import { connect, connectWith, type DriverSource } from '../../src/distributed/connect.js';
import { SCHEMES, parseConnectUrl, redact, userInfoOf } from '../../src/distributed/connect-url.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import type { DriverFactory, DriverSession } from '../../src/distributed/driver.js';
import { Secrets } from '../../src/distributed/secrets.js';
import { MemoryDriver } from '../../src/drivers/memory/driver.js';
import { memorySpace } from '../../src/drivers/memory/index.js';
import { resolveTarget } from '../../src/cli/target.js';
import { CliError } from '../../src/cli/exit-codes.js';
import { freePorts } from '../harness/ports.js';
import { NASTY_PASSWORDS, assertClean, recordingDiagnostics, settlesWithin } from '../support/secret-leaks.js';
import { HANG_GUARD_MS } from '../harness/bounds.js';

test('redact: hides the whole user information, whatever the password holds, and secret query parameters', () => {
  for (const password of NASTY_PASSWORDS) {
    for (const written of [password, encodeURIComponent(password)]) {
      for (const url of [
        `etcd://user:${written}@10.0.0.1:2379,10.0.0.2:2379`,
        `redis://:${written}@10.0.0.1:6379/0`,
        `postgres://us%3Aer:${written}@db:5432/app?sslmode=require`,
        `zookeeper://us:er:${written}@10.0.0.1:2181/apps`,
        `mongodb://u:${written}@h/x`,
        `u:${written}@h:1`,
      ]) {
        const shown = redact(url);
        assertClean(shown, password, url);
        assert.match(shown, /\*\*\*@/, url);
      }
    }
  }
  assert.equal(redact('postgres://db/app?password=hunter22&sslmode=require'), 'postgres://db/app?password=***&sslmode=require');
  assert.equal(redact('redis://h?auth_token=abcdef'), 'redis://h?auth_token=***');
  assert.equal(redact('file:///run/locks@2'), 'file:///run/locks@2', 'an @ in a file path is no credential');
  assert.equal(userInfoOf('redis://:p@ss@h:1'), ':p@ss');
  assert.equal(userInfoOf('etcd://h:1'), undefined);
});

test('parsing: raw "/", "?", "#" or a stray "%" in credentials is refused, saying what to do and showing none of it', () => {
  for (const password of ['pa/ss/word', 'pa#ss#word', 'pa?ss=word&x', 'pa%ss%word', 'all/#?@:%mixed']) {
    for (const scheme of ['etcd', 'redis', 'rediss', 'redis+sentinel', 'postgres', 'postgresql', 'zookeeper']) {
      const url = `${scheme}://user:${password}@127.0.0.1:1/x`;
      const err = (() => {
        try {
          parseConnectUrl(url);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      assert.ok(err instanceof ConfigurationError, `${url}: ${String(err)}`);
      assert.match(err.message, /percent-encod|%25|%XX/, url);
      assertClean(err, password, url);
    }
  }
  // A raw '@' or ':' is read as meant (the last '@' ends the user information).
  const target = parseConnectUrl('redis://us:pa@ss:w@127.0.0.1:6390/0');
  assert.equal(decodeURIComponent(target.url.username), 'us');
  assert.equal(decodeURIComponent(target.url.password), 'pa@ss:w');
  assert.deepEqual(target.endpoints, [{ host: '127.0.0.1', port: 6390 }]);
  assert.equal(target.display, 'redis://us:***@127.0.0.1:6390/0', 'a plainly written user name is shown');
  assert.equal(redact('redis://u%3Ase/r:pw@h'), 'redis://***:***@h', 'an ambiguous one is not');
  assert.equal(redact('postgres://alice@h/db'), 'postgres://alice@h/db');
});

test('connect: no scheme leaks a password into its error, cause chain or diagnostics (servers refusing)', { timeout: HANG_GUARD_MS }, async () => {
  const [p1, p2] = await freePorts(2);
  const templates = (userInfo: string): string[] => [
    `etcd://${userInfo}@127.0.0.1:${p1},127.0.0.1:${p2}`,
    `redis://${userInfo}@127.0.0.1:${p1}/0`,
    `rediss://${userInfo}@127.0.0.1:${p1}`,
    `redis+sentinel://${userInfo}@127.0.0.1:${p1},127.0.0.1:${p2}/mymaster`,
    `postgres://${userInfo}@127.0.0.1:${p1}/db`,
    `postgresql://${userInfo}@127.0.0.1:${p1}/db?application_name=x`,
    `zookeeper://${userInfo}@127.0.0.1:${p1},127.0.0.1:${p2}/apps`,
    `file://${userInfo}@/tmp/deadbolt-no-such-dir`,
  ];
  for (const password of NASTY_PASSWORDS) {
    for (const written of [password, encodeURIComponent(password)]) {
      for (const userInfo of [`:${written}`, `us%3Aer:${written}`]) {
        for (const url of templates(userInfo)) {
          const { result: err, published } = await recordingDiagnostics(() =>
            settlesWithin(connect(url, { connectTimeout: 30_000, ttl: 2_000 }).then(
              (c) => c.close().then(() => new Error(`connected to ${redact(url)}`)),
              (e: unknown) => e,
            ), 10_000, redact(url)),
          );
          assert.ok(err instanceof DeadboltError, `${redact(url)}: ${String(err)}`);
          assert.ok(err instanceof ConfigurationError || err instanceof BackendUnavailableError, `${redact(url)}: ${String(err)}`);
          assertClean(err, password, redact(url));
          assertClean(published, password, `diagnostics of ${redact(url)}`);
        }
      }
    }
  }
});

test('connect: a memory:// coordinator with credentials in its URL lists and reports nothing of them', async () => {
  for (const password of NASTY_PASSWORDS) {
    const url = `memory://user:${encodeURIComponent(password)}@secrets-unit`;
    const { result: listed, published } = await recordingDiagnostics(async () => {
      const c = await connect(url, { ttl: 1_000 });
      const guard = await c.acquire('x');
      const result = { list: await c.list(), holders: await c.holders('x'), caps: c.capabilities, owner: c.owner };
      await guard.release();
      await c.close();
      return result;
    });
    assertClean(listed, password, url);
    assertClean(published, password, `diagnostics of ${redact(url)}`);
  }
});

/** A client library that quotes the URL and the password everywhere: message, stack, own properties, causes. */
function leakyError(url: string, password: string): Error {
  const inner = Object.assign(new Error(`connect ECONNREFUSED while dialing ${url}`), { code: 'ECONNREFUSED', config: { url, password } });
  const aggregate = new AggregateError([inner, new Error(`auth ${password} failed`)], `all hosts of ${url} failed`);
  return Object.assign(new Error(`client failed for ${url} (password ${encodeURIComponent(password)})`, { cause: aggregate }), {
    options: { connectionString: url, nested: [{ password }] },
  });
}

function leakySource(createDriver: DriverFactory): DriverSource {
  return {
    schemes: { ...SCHEMES, leaky: { driver: 'leaky', authority: 'hosts', defaultPort: 1, example: 'leaky://h:1' } },
    load: async () => ({ createDriver }),
  };
}

test('connect: a client library error quoting the URL and the password is masked, causes included', async () => {
  for (const password of NASTY_PASSWORDS) {
    const url = `leaky://user:${encodeURIComponent(password)}@127.0.0.1:1`;
    const failing = leakySource(async (u) => Promise.reject(leakyError(String(u) + decodeURIComponent(u.password), password)));
    const err = await connectWith(failing, url).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof BackendUnavailableError, String(err));
    assertClean(err, password, url);
    assert.match(err.message, /\*\*\*/);
    const frozen = leakySource(async () => Promise.reject(Object.freeze(new Error(`frozen ${password}`))));
    const copy = await connectWith(frozen, url).then(() => undefined, (e: unknown) => e);
    assertClean(copy, password, `${url} (frozen cause)`);
  }
});

test('coordinator: errors, loss causes, diagnostics and listings of a leaky driver are masked after connect', { timeout: HANG_GUARD_MS }, async () => {
  const password = 'all/#?@:%mixed';
  const url = `leaky://user:${encodeURIComponent(password)}@127.0.0.1:1`;
  let sessions: DriverSession[] = [];
  const source = leakySource(async (_u, options) => {
    const driver = new MemoryDriver(memorySpace('secrets-unit-leaky'), options.namespace);
    const openSession = driver.openSession.bind(driver);
    return Object.assign(driver, {
      openSession: async (ttl: number, owner: Parameters<typeof openSession>[1]) => {
        const session = await openSession(ttl, owner);
        sessions.push(session);
        return Object.assign(session, { keepAlive: () => Promise.reject(leakyError(url, password)) });
      },
      acquire: () => Promise.reject(leakyError(url, password)),
      list: async () => [{ name: 'x', mode: 'exclusive', token: 1n, owner: { id: 'a', host: 'h', pid: 1, command: `worker --backend ${url} --pw ${password}` }, since: new Date(), backend: 'leaky' }],
    });
  });
  const { result, published } = await recordingDiagnostics(async () => {
    const c: Coordinator = await connectWith(source, url, { ttl: 300 });
    let onSuspended!: (message: unknown) => void;
    const suspended = new Promise((resolve) => diagnosticsChannel.subscribe(channels.sessionSuspended, (onSuspended = resolve)));
    const acquireError = await c.acquire('y').then(() => undefined, (e: unknown) => e);
    const listed = await c.list();
    await suspended; // the failed keepalive was published with its error
    diagnosticsChannel.unsubscribe(channels.sessionSuspended, onSuspended);
    sessions[0]!.onLost?.(leakyError(url, password)); // the engine says the session is gone
    const lost = c.signal.reason;
    await c.close();
    return { acquireError, listed, lost };
  });
  assert.ok(result.acquireError instanceof Error);
  assert.ok(result.lost instanceof Error);
  assert.ok(published.length > 0, 'diagnostics were published');
  assertClean(result, password, 'coordinator results');
  assertClean(published, password, 'diagnostics');
  sessions = [];
});

test("coordinator: a lock broken by another process is lost on a connection with credentials too, its message masked", { timeout: HANG_GUARD_MS }, async () => {
  const password = 'loss-pw/#?@:%';
  const url = `leaky://user:${encodeURIComponent(password)}@127.0.0.1:1`;
  const space = memorySpace('secrets-unit-loss');
  const source = leakySource(async (_u, options) => new MemoryDriver(space, options.namespace));
  const holder: Coordinator = await connectWith(source, url);
  const other = new MemoryDriver(space, 'deadbolt');
  try {
    const guard = await holder.acquire('x');
    // another process breaks it, quoting the password in its reason (as a careless operator might)
    await other.break('x', { reason: `worker --pw ${password} hung`, by: 'ops', at: new Date() });
    const lost = await new Promise<unknown>((resolve) => onceAborted(guard.signal, resolve));
    assert.ok(lost instanceof LockLostError, String(lost));
    assert.equal(lost.reason, 'broken');
    assertClean(lost, password, 'the loss');
    await guard.release();
  } finally {
    await holder.close();
    await other.close();
  }
});

function onceAborted(signal: AbortSignal, fn: (reason: unknown) => void): void {
  if (signal.aborted) fn(signal.reason);
  else signal.addEventListener('abort', () => fn(signal.reason), { once: true });
}

test('Secrets: every spelling of the password and password-like driverOptions, in place, cycles and all', () => {
  const secrets = Secrets.of('redis://us%3Aer:p%40ss%2Fw@h:1', { auth: { username: 'u', password: 'etcd-pass' }, authInfo: [{ scheme: 'digest', auth: 'zk:zk-secret' }] });
  const err = new Error('p@ss/w p%40ss%2Fw us:er:p@ss/w etcd-pass zk-secret');
  (err as { self?: unknown }).self = err;
  assert.equal(secrets.scrub(err), err, 'scrubbed in place');
  assert.equal(err.message, '*** *** *** *** ***');
  assert.equal(secrets.text('the user us:er is fine'), 'the user us:er is fine', 'the user name alone is no secret');
  assert.equal(Secrets.of('redis://h:1', {}).empty, true);
  assert.equal(Secrets.of('redis://:ab@h:1', {}).text('ab cab'), 'ab cab', 'too short to search for in free text');
});

test('CLI: a malformed --backend or DEADBOLT_BACKEND is never echoed whole', () => {
  for (const password of NASTY_PASSWORDS) {
    for (const value of [`etcd://user:${password}@h:1:2`, `file://user:${password}@host/dir`, `user:${password}@h`, `etcd://u:${password}@h`]) {
      for (const [options, env] of [
        [{ backend: value }, {}],
        [{}, { DEADBOLT_BACKEND: value }],
      ] as const) {
        const err = (() => {
          try {
            resolveTarget(options, env);
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        assert.ok(err instanceof CliError, `${redact(value)}: ${String(err)}`);
        assertClean(err, password, redact(value));
      }
    }
  }
  const err = (() => {
    try {
      resolveTarget({ backend: 'etcd://user:pa/ss@h:x' });
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  assert.match(String(err?.message), /percent-encoded|not a URL|supports only file/);
});

test('BackendError from an engine keeps no credentials either (a refused password)', async () => {
  const password = 'wr/ong#pa?ss@w:rd';
  const url = `leaky://user:${encodeURIComponent(password)}@127.0.0.1:1`;
  const source = leakySource(async () => Promise.reject(new BackendError(`WRONGPASS for ${url} ${password}`)));
  const err = await connectWith(source, url).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof BackendError);
  assertClean(err, password, url);
});
