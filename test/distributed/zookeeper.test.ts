/**
 * What only the ZooKeeper driver can show, on a real standalone ZooKeeper
 * (tickTime 500 ms: sessions of 1 to 10 s): processes that are paused, killed
 * or cut off, the negotiated session timeout, and bad input.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { channels } from '../../src/diagnostics.js';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import { BackendUnavailableError, ConfigurationError, LockLostError, SessionLostError, UnsupportedError } from '../../src/errors.js';
import { RECOVERY_BOUND_MS } from '../../src/drivers/zookeeper/index.js';
import { bounded, record, whenAborted } from '../conformance/harness.js';
import { spawnWorker, type Worker } from '../file/helpers.js';
import { requireServer, startZooKeeper, type ZooKeeperHandle } from '../harness/index.js';
import { ZkProxy } from './fixtures/zookeeper-proxy.js';
import { ZkClient, zxid } from '../../src/drivers/zookeeper/client.js';
import { parseZooKeeperUrl } from '../../src/drivers/zookeeper/config.js';
import { isConnectionLoss as zkLoss } from '../../src/drivers/zookeeper/map-error.js';
import { setTimeout as delay } from 'node:timers/promises';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';
import { watchEventLoop } from '../harness/event-loop-lag.js';

// Sessions the tests freeze, kill or cut off: short, since those tests wait one out (SIGSTOP, SIGKILL or
// the proxy make the expiry deterministic). Every other session is steady: a starved process still renews it.
const TTL = 2_000;
const server = requireServer('zookeeper', { suite: 'zookeeper driver' });
const worker = fileURLToPath(new URL('./fixtures/zookeeper-worker.js', import.meta.url));
let namespaces = 0;

describe('zookeeper driver', { skip: server.available ? false : server.reason, timeout: HANG_GUARD_MS }, () => {
  let zookeeper: ZooKeeperHandle;
  let proxy: ZkProxy;
  const opened: Coordinator[] = [];
  const workers: Worker[] = [];
  const open = async (url: string, options: { ttl?: number; namespace: string }): Promise<Coordinator> => {
    const c = await connect(url, { ttl: STEADY_TTL_MS, connectTimeout: CONNECT_TIMEOUT_MS, ...options });
    opened.push(c);
    return c;
  };
  const spawn = (args: string[]): Worker => {
    const w = spawnWorker(worker, args);
    workers.push(w);
    return w;
  };

  before(async () => {
    zookeeper = await startZooKeeper();
    proxy = await ZkProxy.start(zookeeper.endpoints);
  });
  after(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await Promise.allSettled(opened.map((c) => c.close()));
    await proxy?.close();
    await zookeeper?.stop();
  });

  test('mutual exclusion across 4 processes: exact shared counter, increasing tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deadbolt-zk-'));
    try {
      const file = join(dir, 'counter.json');
      writeFileSync(file, JSON.stringify({ count: 0, token: '0' }));
      const ns = `mp-${process.pid}-${++namespaces}`;
      const iterations = 40;
      const procs = Array.from({ length: 4 }, () => spawn(['counter', zookeeper.url, ns, 'counter', String(iterations), file, String(STEADY_TTL_MS)]));
      await Promise.all(procs.map((p) => bounded(p.line(/^DONE/), 4 * EVENT_BOUND_MS, `worker done (stderr: ${p.stderr()})`)));
      assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { count: number }).count, 4 * iterations);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SIGSTOP a holder past its session: next holder gets a higher token; on resume the holder learns it and its release deletes nothing', async (t) => {
    const namespace = `stop-${process.pid}-${++namespaces}`;
    const holder = spawn(['hold', zookeeper.url, namespace, 'frozen', String(TTL)]);
    const [, heldToken] = (await bounded(holder.line(/^HELD /), EVENT_BOUND_MS, 'holder acquired')).split(' ');
    const b = await open(zookeeper.url, { namespace });
    const waiting = b.acquire('frozen');
    holder.child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    const next = await bounded(waiting, TTL + RECOVERY_BOUND_MS + EVENT_BOUND_MS, 'granted after the frozen holder session expired');
    const waited = performance.now() - stoppedAt;
    t.diagnostic(`granted ${waited.toFixed(0)} ms after SIGSTOP; tokens ${heldToken} → ${next.token}`);
    assert.ok(next.token > BigInt(heldToken!), `token ${next.token} after ${heldToken}`);
    assert.equal(next.predecessor?.outcome, 'expired');
    // The ensemble counts the timeout from the holder's last request, up to ttl/3 before the stop.
    assert.ok(waited >= TTL / 2, `granted ${waited.toFixed(0)} ms after the stop: not waiting for the session to expire`);
    holder.child.kill('SIGCONT');
    const resumedAt = performance.now();
    // Told on resume, before its next keepalive could say so: the bound is only a hang guard.
    assert.equal(await bounded(holder.line(/^LOST /), EVENT_BOUND_MS, 'holder told on resume'), 'LOST session');
    t.diagnostic(`frozen holder told ${(performance.now() - resumedAt).toFixed(0)} ms after SIGCONT`);
    await bounded(holder.line(/^RELEASED$/), EVENT_BOUND_MS, 'holder released');
    assert.deepEqual((await b.holders('frozen')).map((h) => h.token), [next.token], 'the frozen holder deleted nothing');
    assert.equal(next.signal.aborted, false);
    await next.release();
  });

  test('SIGKILL a holder: the lock is re-acquired within the session timeout + recoveryBoundMs', async (t) => {
    const namespace = `kill-${process.pid}-${++namespaces}`;
    const holder = spawn(['hold', zookeeper.url, namespace, 'killed', String(TTL)]);
    await bounded(holder.line(/^HELD /), EVENT_BOUND_MS, 'holder acquired');
    const b = await open(zookeeper.url, { namespace });
    const waiting = b.acquire('killed');
    const lag = watchEventLoop();
    holder.child.kill('SIGKILL');
    const killedAt = performance.now();
    const next = await bounded(waiting, TTL + RECOVERY_BOUND_MS + EVENT_BOUND_MS, 'granted after the session timeout'); // a hang guard
    const took = performance.now() - killedAt;
    lag.stop();
    t.diagnostic(`re-acquired ${took.toFixed(0)} ms after SIGKILL (session timeout ${TTL} ms, event loop up to ${lag.maxLagMs} ms late)`);
    assert.ok(took <= TTL + b.capabilities.recoveryBoundMs + lag.slackMs(), `took ${took.toFixed(0)} ms`);
    assert.equal(next.predecessor?.outcome, 'expired');
    await next.release();
  });

  test('expiry while disconnected: suspended first, then lost; another client acquires; the cut-off release deletes nothing', async (t) => {
    const namespace = `cut-${process.pid}-${++namespaces}`;
    const suspended = record(t, channels.sessionSuspended);
    const lostSessions = record(t, channels.sessionLost);
    const a = await open(proxy.url, { namespace, ttl: TTL });
    const b = await open(zookeeper.url, { namespace });
    const held = await a.acquire('cut');
    const events: string[] = [];
    const waiting = b.acquire('cut').then((g) => (events.push('other granted'), g));
    held.signal.addEventListener('abort', () => events.push('holder told'));
    proxy.reset(a.session.id);
    const mine = (m: object): boolean => (m as { sessionId?: string }).sessionId === a.session.id;
    await waitFor(() => suspended.some(mine), EVENT_BOUND_MS, 'suspended'); // the event, not a state a starved poll could miss
    const next = await bounded(waiting, TTL + RECOVERY_BOUND_MS + EVENT_BOUND_MS, 'other client granted');
    assert.deepEqual(events, ['holder told', 'other granted']);
    assert.equal(suspended.filter(mine).length, 1, 'suspended once');
    assert.equal(lostSessions.filter(mine).length, 1, 'then lost');
    assert.equal((held.signal.reason as LockLostError).reason, 'session');
    assert.ok(a.signal.reason instanceof SessionLostError);
    proxy.restore(a.session.id);
    await held.release(); // no error, deletes nothing
    assert.deepEqual((await b.holders('cut')).map((h) => h.token), [next.token]);
    await next.release();
  });

  test('session timeout: the negotiated value is the TTL (ZooKeeper clamps into [2, 20] × tickTime)', async () => {
    const namespace = `ttl-${process.pid}-${++namespaces}`;
    const short = await open(zookeeper.url, { namespace, ttl: 1_000 });
    assert.equal(short.session.ttlMs, 1_000);
    const long = await open(zookeeper.url, { namespace, ttl: 60_000 });
    assert.equal(long.session.ttlMs, 10_000, 'maxSessionTimeout is 20 × tickTime');
    assert.throws(() => connect(zookeeper.url, { ttl: 500, namespace }), RangeError); // synchronously: the floor is the scheme's
    assert.match(short.session.id, /^0x[0-9a-f]+$/);
  });

  test('chroot: locks live under it; one that does not exist is a clear ConfigurationError', async () => {
    const namespace = `chroot-${process.pid}-${++namespaces}`;
    const err = await connect(`${zookeeper.url}/no/such/chroot`, { namespace }).catch((e: unknown) => e);
    assert.ok(err instanceof ConfigurationError, String(err));
    assert.match(err.message, /chroot \/no\/such\/chroot .*does not exist/);
    const root = await open(zookeeper.url, { namespace });
    await (await root.acquire('make-parent')).release(); // creates /<namespace>/locks/…
    const inside = await open(`${zookeeper.url}/${namespace}`, { namespace: 'inner' });
    const guard = await inside.acquire('x');
    assert.deepEqual((await inside.holders('x')).map((h) => h.token), [guard.token]);
    assert.deepEqual(await root.list(), [], 'the chrooted lock is not in the root namespace');
    await guard.release();
  });

  test('bad URLs and unreachable servers fail fast with the right error', async () => {
    await assert.rejects(connect(`${zookeeper.url}?sessionTimeout=5`), ConfigurationError);
    await assert.rejects(connect(`zookeeper://user:secret@${zookeeper.endpoints[0]}`), (e: unknown) => e instanceof ConfigurationError && !e.message.includes('secret'));
    await assert.rejects(connect(zookeeper.url, { driverOptions: { sessionTimeout: 5 } }), ConfigurationError);
    const closed = await unusedPort();
    // Failed by the refusal (its message says so), long before a generous timeout.
    await assert.rejects(connect(`zookeeper://127.0.0.1:${closed}`, { connectTimeout: 60_000 }), (e: unknown) => e instanceof BackendUnavailableError && /ECONNREFUSED/.test(e.message));
  });

  test('a server without multi (older than 3.4) is refused with UnsupportedError', async () => {
    const fake = await fakeOldServer();
    try {
      const err = await connect(`zookeeper://127.0.0.1:${fake.port}`, { connectTimeout: CONNECT_TIMEOUT_MS }).catch((e: unknown) => e);
      assert.ok(err instanceof UnsupportedError, String(err));
      assert.match(err.message, /3\.4 or later/);
    } finally {
      fake.close();
    }
  });

  test('client: a silent connection is dropped, the expiry is reported on reconnecting, later requests fail with SessionLostError', async () => {
    const config = parseZooKeeperUrl(new URL(proxy.url), { endpoints: [], connectTimeout: CONNECT_TIMEOUT_MS });
    const client = await ZkClient.open(config, 1_000);
    try {
      let expired: unknown;
      client.onExpired((error) => (expired = error));
      proxy.hold(client.sessionId);
      // The watchdog gives up on the silent connection (a third of the timeout), failing what was in flight.
      const pending = client.exists('/').then(() => 'answered', (e: unknown) => e);
      await delay(5_000); // the ensemble expires the 1 s session meanwhile (5 timeouts: a starved server still does)
      assert.ok(zkLoss(await pending), 'the request in flight failed with a connection loss');
      proxy.restore(client.sessionId);
      await waitFor(() => client.expired, EVENT_BOUND_MS, 'expired after reconnecting');
      assert.ok(expired instanceof SessionLostError);
      await assert.rejects(client.exists('/'), SessionLostError);
    } finally {
      await client.close();
    }
  });

  test('a create whose answer was lost is recovered by its GUID: one claim, the right token, nothing left over', async () => {
    const namespace = `lostreply-${process.pid}-${++namespaces}`;
    const a = await open(proxy.url, { namespace });
    const b = await open(zookeeper.url, { namespace });
    const control = await ZkClient.open(parseZooKeeperUrl(new URL(zookeeper.url), { endpoints: [], connectTimeout: CONNECT_TIMEOUT_MS }), 10_000);
    try {
      const dir = `/${namespace}/locks/x`;
      await (await b.acquire('x')).release(); // the parents exist: the create is the first request
      proxy.stallReplies(a.session.id);
      const acquiring = a.acquire('x');
      const children = await claimsOf(control, dir, 1); // the create was applied
      proxy.cut(a.session.id); // its answer is lost with the connection
      const guard = await bounded(acquiring, EVENT_BOUND_MS, 'granted after recovering the create');
      const { stat } = await control.getData(`${dir}/${children[0]}`);
      assert.equal(guard.token, zxid(stat.czxid), "the recovered claim's czxid is the token");
      assert.deepEqual(await control.getChildren(dir), children, 'no second claim was made');
      assert.equal(a.session.state === 'lost', false);
      await guard.release();
      assert.deepEqual(await control.getChildren(dir), []);
    } finally {
      proxy.restore(a.session.id);
      await control.close();
    }
  });

  test('claims deleted by hand: a waiting one is made again, a held one is lost as "deleted"', async () => {
    const namespace = `byhand-${process.pid}-${++namespaces}`;
    const a = await open(zookeeper.url, { namespace });
    const b = await open(zookeeper.url, { namespace });
    const control = await ZkClient.open(parseZooKeeperUrl(new URL(zookeeper.url), { endpoints: [], connectTimeout: 2_000 }), 10_000);
    try {
      const dir = `/${namespace}/locks/x`;
      const held = await a.acquire('x');
      const waiting = b.acquire('x');
      const [holder, waiter] = await claimsOf(control, dir, 2);
      await control.remove(`${dir}/${waiter}`, -1); // the waiter's claim
      await delay(100);
      const again = await claimsOf(control, dir, 2); // made again
      assert.equal(again[0], holder);
      assert.notEqual(again[1], waiter);
      await control.remove(`${dir}/${holder}`, -1); // the holder's claim
      const reason = await whenAborted(held.signal, EVENT_BOUND_MS, 'holder told');
      assert.equal((reason as LockLostError).reason, 'deleted');
      const next = await bounded(waiting, EVENT_BOUND_MS, 'the re-made claim is granted');
      assert.ok(next.token > held.token);
      await held.release(); // deletes nothing
      assert.deepEqual((await b.holders('x')).map((h) => h.token), [next.token]);
      await next.release();
    } finally {
      await control.close();
    }
  });

  test('a guard of a lost session cannot be revived: release after loss resolves, the holder learns the loss', async () => {
    const namespace = `lost-${process.pid}-${++namespaces}`;
    const a = await open(proxy.url, { namespace, ttl: TTL });
    const held = await a.acquire('x');
    proxy.hold(a.session.id);
    const reason = await whenAborted(held.signal, TTL + EVENT_BOUND_MS, 'lost');
    assert.ok(reason instanceof LockLostError);
    proxy.restore(a.session.id);
    await held.release();
    await assert.rejects(a.acquire('y'), SessionLostError);
  });
});

/** The claim nodes under `dir`, in queue order, once there are at least `count` (within EVENT_BOUND_MS). */
async function claimsOf(client: ZkClient, dir: string, count: number): Promise<string[]> {
  const until = performance.now() + EVENT_BOUND_MS;
  for (;;) {
    const children = await client.getChildren(dir).catch(() => [] as string[]);
    if (children.length >= count) return children.sort((x, y) => Number(x.slice(-10)) - Number(y.slice(-10)));
    if (performance.now() > until) throw new Error(`${dir} never had ${count} claims`);
    await delay(5);
  }
}

/** Resolve once `condition()` holds (checked every 5 ms); reject after `ms` naming `what`. */
async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const until = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await delay(5);
  }
}

async function unusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A server that completes the handshake, then answers every request with UNIMPLEMENTED (-6), as 3.3 did for multi. */
async function fakeOldServer(): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((socket) => {
    sockets.add(socket);
    let buffer = Buffer.alloc(0);
    let greeted = false;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4 && buffer.length >= 4 + buffer.readInt32BE(0)) {
        const frame = buffer.subarray(4, 4 + buffer.readInt32BE(0));
        buffer = buffer.subarray(4 + frame.length);
        if (!greeted) {
          greeted = true;
          const reply = Buffer.alloc(4 + 4 + 4 + 8 + 4 + 16);
          reply.writeInt32BE(reply.length - 4, 0);
          reply.writeInt32BE(frame.readInt32BE(12), 8); // the timeout asked for
          reply.writeBigInt64BE(0x1234n, 12);
          reply.writeInt32BE(16, 20);
          socket.write(reply);
          continue;
        }
        const xid = frame.readInt32BE(0);
        if (xid === -2) continue; // ping
        if (frame.readInt32BE(4) === -11) return void socket.destroy(); // closeSession
        const reply = Buffer.alloc(4 + 16);
        reply.writeInt32BE(16, 0);
        reply.writeInt32BE(xid, 4);
        reply.writeBigInt64BE(0n, 8);
        reply.writeInt32BE(-6, 16);
        socket.write(reply);
      }
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    port: (s.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      s.close();
    },
  };
}
