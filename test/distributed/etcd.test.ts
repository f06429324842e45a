/**
 * The etcd driver against a real etcd (started by the harness), across real
 * processes: mutual exclusion, token order, a frozen holder, a killed holder,
 * an engine restart, break, and connection failures. A three-member cluster
 * loses its leader in etcd-cluster.test.ts.
 *
 * Skipped, loudly, without an etcd binary; a failure instead when CI is set.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockLostError, connect, type Coordinator } from '../../src/index.js';
import { etcdRequest, b64, freePort, requireServer, startEtcd, type EtcdHandle } from '../harness/index.js';
import { Worker, killAllWorkers } from './fixtures/etcd-workers.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, STEADY_CONNECT, STEADY_TTL_MS } from '../harness/bounds.js';
import { watchEventLoop } from '../harness/event-loop-lag.js';

// Holders the tests freeze or kill: etcd's minimum, since those tests wait one out (SIGSTOP/SIGKILL
// make the expiry deterministic). Every other session is steady: a starved process still renews it.
const TTL = 2_000;
const server = requireServer('etcd', { suite: 'etcd driver (cross-process)' });
let namespaces = 0;
/** A namespace of its own for each test, so that no test sees another's keys. */
const freshNamespace = (): string => `t${process.pid}-${++namespaces}`;

describe('etcd driver', { skip: server.available ? false : server.reason }, () => {
  let etcd: EtcdHandle;
  const opened: Coordinator[] = [];
  const open = async (namespace: string, ttl = STEADY_TTL_MS): Promise<Coordinator> => {
    const coordinator = await connect(etcd.url, { ttl, namespace, connectTimeout: CONNECT_TIMEOUT_MS });
    opened.push(coordinator);
    return coordinator;
  };

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await killAllWorkers();
    await Promise.allSettled(opened.map((c) => c.close()));
    await etcd?.stop();
  });

  test('4 processes × 25 acquisitions: the unprotected counter is exact, tokens follow the order of the writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deadbolt-etcd-counter-'));
    try {
      const file = join(dir, 'counter');
      writeFileSync(file, '0');
      const namespace = freshNamespace();
      const workers = Array.from({ length: 4 }, () =>
        Worker.spawn({ task: 'counter', url: etcd.url, namespace, ttl: STEADY_TTL_MS, name: 'counter', rounds: 25, file }),
      );
      const reports = await Promise.all(workers.map((w) => w.next('counted', 4 * EVENT_BOUND_MS)));
      assert.equal(readFileSync(file, 'utf8'), '100');
      const records = reports.flatMap((r) => r.records).sort((a, b) => a.value - b.value);
      assert.deepEqual(records.map((r) => r.value), Array.from({ length: 100 }, (_, i) => i + 1));
      for (let i = 1; i < records.length; i++) {
        assert.ok(BigInt(records[i]!.token) > BigInt(records[i - 1]!.token), `token of write ${i + 1} not above the previous one`);
      }
      await Promise.all(workers.map((w) => w.exited));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a holder frozen past its TTL: the next holder gets a higher token; the frozen one resumes aborted and deletes nothing', async (t) => {
    const namespace = freshNamespace();
    const frozen = Worker.spawn({ task: 'hold', url: etcd.url, namespace, ttl: TTL, name: 'frozen' });
    const held = await frozen.next('held');
    // Waiting before the freeze, so that it sees the lease run out (and reports the predecessor) rather
    // than find the name already free after a slow connect.
    const next = await open(namespace);
    const waiting = next.acquire('frozen', { timeout: EVENT_BOUND_MS });
    await sleep(250); // the claim reaching etcd
    frozen.signal('SIGSTOP');
    const stoppedAt = performance.now();
    const guard = await waiting;
    t.diagnostic(`next holder after ${Math.round(performance.now() - stoppedAt)} ms (TTL ${TTL})`);
    assert.ok(guard.token > BigInt(held.token));
    assert.equal(guard.predecessor?.outcome, 'expired');

    const resumedAt = Date.now();
    frozen.signal('SIGCONT');
    const aborted = await frozen.next('aborted');
    await frozen.next('released');
    const late = frozen.messages.filter((m) => m.type === 'work' && m.at >= resumedAt);
    assert.deepEqual(late, [], 'the frozen holder did work after resuming');
    assert.match(aborted.reason, /^(session|expired)$/);

    const holders = await next.holders('frozen');
    assert.deepEqual(holders.map((h) => h.token), [guard.token], "the frozen holder's release deleted the new holder's claim");
    assert.equal(guard.signal.aborted, false);
    await guard.release();
    await frozen.exited;
  });

  test('a killed holder: a waiting process gets the lock within TTL + recoveryBoundMs', async (t) => {
    const namespace = freshNamespace();
    const victim = Worker.spawn({ task: 'hold', url: etcd.url, namespace, ttl: TTL, name: 'killed' });
    const held = await victim.next('held');
    const waiter = await open(namespace);
    const waiting = waiter.acquire('killed', { timeout: EVENT_BOUND_MS });
    await sleep(250); // the claim reaching etcd
    const lag = watchEventLoop();
    const killedAt = performance.now();
    victim.signal('SIGKILL');
    const guard = await waiting;
    const elapsed = performance.now() - killedAt;
    lag.stop();
    t.diagnostic(`re-acquired ${Math.round(elapsed)} ms after SIGKILL (TTL ${TTL}, bound ${waiter.capabilities.recoveryBoundMs}, event loop up to ${lag.maxLagMs} ms late)`);
    assert.ok(elapsed <= TTL + waiter.capabilities.recoveryBoundMs + lag.slackMs(), `took ${Math.round(elapsed)} ms`);
    assert.ok(guard.token > BigInt(held.token));
    assert.equal(guard.predecessor?.outcome, 'expired');
    assert.equal(guard.predecessor?.token, BigInt(held.token));
    await guard.release();
  });

  test('break: the displaced holder aborts with reason "broken", the next holder reads the record', async () => {
    const namespace = freshNamespace();
    const holder = Worker.spawn({ task: 'hold', url: etcd.url, namespace, ttl: STEADY_TTL_MS, name: 'stuck' });
    const held = await holder.next('held');
    const operator = await open(namespace);
    const waiter = await open(namespace);
    const waiting = waiter.acquire('stuck', { timeout: EVENT_BOUND_MS });
    await sleep(250); // the claim reaching etcd

    const displaced = await operator.break('stuck', { reason: 'stuck in a test', by: 'ops@test' });
    assert.equal(displaced.length, 1);
    assert.equal(displaced[0]!.token, BigInt(held.token));
    assert.equal(displaced[0]!.owner.pid, holder.pid);
    assert.ok(displaced[0]!.expiresAt instanceof Date);

    const aborted = await holder.next('aborted', EVENT_BOUND_MS);
    assert.equal(aborted.reason, 'broken');
    assert.match(aborted.message, /stuck in a test/);
    const guard = await waiting;
    assert.ok(guard.token > BigInt(held.token));
    assert.equal(guard.predecessor?.outcome, 'broken');
    assert.equal(guard.predecessor?.breakRecord?.reason, 'stuck in a test');
    assert.equal(guard.predecessor?.breakRecord?.by, 'ops@test');
    assert.deepEqual(guard.predecessor?.breakRecord?.displaced?.map((d) => d.token), [BigInt(held.token)]);
    await holder.next('released');
    assert.deepEqual((await operator.holders('stuck')).map((h) => h.token), [guard.token]);
    await guard.release();
  });

  test('an engine restarted under a held lock: the lock survives, tokens keep increasing, a waiter still gets it', async () => {
    const namespace = freshNamespace();
    const holder = await open(namespace);
    const waiter = await open(namespace);
    const guard = await holder.acquire('restart');
    const waiting = waiter.acquire('restart', { timeout: EVENT_BOUND_MS });
    await sleep(250); // the claim reaching etcd
    await etcd.members[0]!.restart();
    await sleep(300); // watches reconnect and re-verify their keys
    assert.equal(guard.signal.aborted, false, `lost across the restart: ${String(guard.signal.reason)}`);
    assert.deepEqual((await holder.holders('restart')).map((h) => h.token), [guard.token]);
    await guard.release();
    const next = await waiting;
    assert.ok(next.token > guard.token);
    assert.equal(next.predecessor?.outcome, 'released');
    await next.release();
  });

  test('names: any Unicode, "/" kept apart, listing by prefix, length limit', async () => {
    const namespace = freshNamespace();
    const c = await open(namespace);
    const a = await c.acquire('a');
    const ab = await c.tryAcquire('a/b');
    assert.ok(ab, '"a/b" is not blocked by "a"');
    const emoji = await c.acquire('日本/ünïcødé 🔒 %2F');
    assert.deepEqual((await c.list('a')).map((i) => i.name), ['a', 'a/b']);
    assert.deepEqual((await c.list('日本/')).map((i) => i.name), ['日本/ünïcødé 🔒 %2F']);
    assert.equal((await c.list()).length, 3);
    assert.throws(() => c.acquire('x'.repeat(257)), RangeError);
    const long = await c.acquire('ü'.repeat(256)); // 512 bytes of UTF-8, percent-encoded to 1.5 KiB of key
    await long.release();
    await Promise.all([a.release(), ab.release(), emoji.release()]);
    assert.deepEqual(await c.list(), []);
  });

  test('a lock deleted by hand is reported lost with reason "deleted"', async () => {
    const namespace = freshNamespace();
    const c = await open(namespace);
    const guard = await c.acquire('by-hand');
    const prefix = `${namespace}/locks/by-hand/`;
    await etcdRequest(etcd.endpoints[0]!, '/v3/kv/deleterange', { key: b64(prefix), range_end: b64(`${namespace}/locks/by-hand0`) });
    await waitFor(() => guard.signal.aborted, EVENT_BOUND_MS);
    assert.ok(guard.signal.reason instanceof LockLostError);
    assert.equal((guard.signal.reason as LockLostError).reason, 'deleted');
    await guard.release();
  });

  test('an unreachable engine: BackendUnavailableError within connectTimeout (refused, and paused)', async () => {
    const refused = `etcd://127.0.0.1:${await freePort()}`;
    // Refused: failed by the refusal itself (its message says so), long before a generous timeout.
    const byRefusal = await connect(refused, { connectTimeout: 60_000 }).then(() => assert.fail('connected'), (e: unknown) => e as Error & { code?: string });
    assert.equal(byRefusal.code, 'DEADBOLT_BACKEND_UNAVAILABLE', String(byRefusal));
    assert.match(byRefusal.message, /ECONNREFUSED/);

    etcd.members[0]!.pause();
    try {
      // Paused: nothing refuses, so a bound (connectTimeout, or the client's own) ends the attempt.
      const byTimeout = await connect(etcd.url, { connectTimeout: 500 }).then(() => assert.fail('connected'), (e: unknown) => e as Error & { code?: string });
      assert.equal(byTimeout.code, 'DEADBOLT_BACKEND_UNAVAILABLE', String(byTimeout));
    } finally {
      etcd.members[0]!.resume();
    }
  });

  test('a ttl below 2000 ms is a RangeError naming the minimum, thrown synchronously', () => {
    assert.throws(
      () => connect(etcd.url, { ttl: 1_999 }),
      (e: unknown) => e instanceof RangeError && /2000/.test(e.message) && /ttl/.test(e.message),
    );
  });

  test('wrong credentials are a BackendError that says so; right ones connect', async () => {
    const secured = await startEtcd();
    try {
      const endpoint = secured.endpoints[0]!;
      await etcdRequest(endpoint, '/v3/auth/role/add', { name: 'root' });
      await etcdRequest(endpoint, '/v3/auth/user/add', { name: 'root', password: 'right' });
      await etcdRequest(endpoint, '/v3/auth/user/grant', { user: 'root', role: 'root' });
      await etcdRequest(endpoint, '/v3/auth/enable', {});
      await assert.rejects(
        connect(secured.url, { connectTimeout: CONNECT_TIMEOUT_MS, driverOptions: { auth: { username: 'root', password: 'wrong' } } }),
        (e: unknown) => (e as { code?: string }).code === 'DEADBOLT_BACKEND' && /credentials/.test((e as Error).message),
      );
      const url = secured.url.replace('etcd://', 'etcd://root:right@');
      const c = await connect(url, STEADY_CONNECT);
      const guard = await c.acquire('authed');
      await guard.release();
      await c.close();
    } finally {
      await secured.stop();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}
