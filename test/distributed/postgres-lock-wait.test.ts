/**
 * postgres:// waiters blocked in the server's lock manager (src/drivers/postgres/lock-wait.ts),
 * on a real server: a hand-off wakes the next waiter without any NOTIFY; a
 * waiter with no wait connection to be had waits by NOTIFY and is still served
 * in order; a break wakes a waiter whose blocker still holds its key; an abort
 * cancels the blocked statement on the server and frees its connection.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import { requireServer, startPostgres, type PostgresHandle } from '../harness/index.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

const requirement = requireServer('postgres', { suite: 'postgres lock-manager waits' });

/** A lease no loaded machine gets near: a grant well within it cannot have waited for its expiry. */
const LONG_LEASE = 60_000;
let namespaces = 0;

describe('postgres: waiting in the lock manager', { skip: requirement.available ? false : requirement.reason, timeout: HANG_GUARD_MS }, () => {
  let server: PostgresHandle;
  const opened: Coordinator[] = [];
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await Promise.allSettled(opened.map((c) => c.close()));
    await server?.stop();
  });
  const open = async (ns: string, driverOptions?: Record<string, unknown>): Promise<Coordinator> => {
    const c = await connect(server.url, { ttl: LONG_LEASE, namespace: ns, connectTimeout: CONNECT_TIMEOUT_MS, ...(driverOptions ? { driverOptions } : {}) });
    opened.push(c);
    return c;
  };
  const count = async (sql: string): Promise<number> => Number(await server.psql(sql));
  /** Until `sql` counts at least `n` (a hang guard, not a timing). */
  const until = async (sql: string, n: number, what: string): Promise<void> => {
    const deadline = performance.now() + EVENT_BOUND_MS;
    while ((await count(sql)) < n) {
      assert.ok(performance.now() < deadline, what);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const blockedWaits = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted";
  const noBlockedWaits = "SELECT CASE WHEN count(*) = 0 THEN 1 ELSE 0 END FROM pg_locks WHERE locktype = 'advisory' AND NOT granted";
  const waiting = (ns: string) => `SELECT count(*) FROM deadbolt.claims WHERE namespace = '${ns}' AND token IS NULL`;

  test('a hand-off wakes the next waiter through the lock manager: no NOTIFY reaches its session', async () => {
    const ns = `quiet-${++namespaces}`;
    const holder = await open(ns);
    const waiter = await open(ns);
    const held = await holder.acquire('q');
    const next = waiter.acquire('q');
    await until(blockedWaits, 1, 'the waiter blocks in the lock manager');
    // another connection listening on the waiter's session channel hears what the server sends it
    const ear = new pg.Client(server.url);
    await ear.connect();
    const heard: string[] = [];
    ear.on('notification', (n) => heard.push(n.payload ?? ''));
    await ear.query(`LISTEN "deadbolt:${waiter.session.id}"`);
    try {
      await held.release();
      const granted = await next;
      assert.ok(granted.token > held.token);
      assert.deepEqual(granted.predecessor, { outcome: 'released', token: held.token });
      await ear.query('SELECT 1'); // any NOTIFY committed before now has reached this connection
      assert.deepEqual(heard, [], 'the grant went through the lock manager alone');
      await granted.release();
    } finally {
      await ear.end();
    }
    assert.equal(await count(blockedWaits), 0, 'nothing is left blocked');
  });

  test('with every wait connection taken, a further waiter waits by NOTIFY, and both are granted', async () => {
    const ns = `full-${++namespaces}`;
    const holder = await open(ns);
    const waiter = await open(ns, { poolSize: 1 });
    const held = [await holder.acquire('f1'), await holder.acquire('f2')];
    const first = waiter.acquire('f1');
    await until(blockedWaits, 1, 'the first waiter blocks in the lock manager');
    const second = waiter.acquire('f2');
    await until(waiting(ns), 2, 'both wait');
    await until(`SELECT count(*) FROM deadbolt.claims WHERE namespace = '${ns}' AND name = 'f2' AND token IS NULL AND NOT wake_lock`, 1, 'the second moved to NOTIFY');
    assert.equal(await count(blockedWaits), 1, 'one wait connection: one blocked wait');
    await held[1]!.release();
    const g2 = await second;
    await held[0]!.release();
    const g1 = await first;
    assert.ok(g1.token > held[0]!.token && g2.token > held[1]!.token);
    await Promise.all([g1.release(), g2.release()]);
  });

  test('a break grants a waiter blocked on the broken holder, whose key is still held: the NOTIFY ends the blocked wait', async () => {
    const ns = `break-${++namespaces}`;
    const holder = await open(ns);
    const waiter = await open(ns);
    const operator = await open(ns);
    const held = await holder.acquire('b');
    const next = waiter.acquire('b');
    await until(blockedWaits, 1, 'the waiter blocks on the holder');
    await operator.break('b', { reason: 'test: holder hung' });
    const granted = await next;
    // granted by the break, not by the lease running out: the predecessor was broken and its session still lives
    assert.equal(granted.predecessor?.outcome, 'broken');
    assert.equal(holder.signal.aborted, false, "the broken holder's session is still alive: no lease ran out");
    assert.ok(held.signal.aborted, 'the broken holder learns it');
    await until(noBlockedWaits, 1, 'the blocked wait was cancelled on the server');
    await held.release();
    await granted.release();
  });

  test('an abort while blocked cancels the statement on the server and withdraws the claim', async () => {
    const ns = `abort-${++namespaces}`;
    const holder = await open(ns);
    const waiter = await open(ns);
    const held = await holder.acquire('a');
    const abort = new AbortController();
    const next = waiter.acquire('a', { signal: abort.signal });
    await until(blockedWaits, 1, 'the waiter blocks');
    abort.abort(new Error('test: no longer needed'));
    await assert.rejects(next, /no longer needed/);
    await until(noBlockedWaits, 1, 'the blocked wait was cancelled on the server');
    await until(`SELECT CASE WHEN count(*) = 0 THEN 1 ELSE 0 END FROM deadbolt.claims WHERE namespace = '${ns}' AND token IS NULL`, 1, 'the claim was withdrawn');
    // the wait connection is usable again: the next wait blocks in the lock manager too
    const again = waiter.acquire('a');
    await until(blockedWaits, 1, 'a later waiter blocks in the lock manager again');
    await held.release();
    await (await again).release();
  });
});
