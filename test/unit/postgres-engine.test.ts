/**
 * The PostgreSQL engine's grant and loss routing, on a scripted pool and
 * session connection (no server): the `acquire` answer and the grant's NOTIFY
 * travel on two connections, so either may arrive first; a grant NOTIFYed
 * before the answer must end the wait at once and cost no request (no `poll`).
 * The protocol itself runs on a real server in test/conformance/postgres.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Client, Pool } from 'pg';
import { LockLostError } from '../../src/errors.js';
import type { PostgresConfig } from '../../src/drivers/postgres/config.js';
import type { ServerInfo } from '../../src/drivers/postgres/connection.js';
import { PostgresDriver } from '../../src/drivers/postgres/driver.js';
import { SessionConnection } from '../../src/drivers/postgres/session-connection.js';
import { owner } from '../support/fake-engine.js';
import { lossSignal } from '../support/loss-signal.js';

const config: PostgresConfig = {
  connectionString: 'postgres://127.0.0.1:1/db',
  display: 'postgres://127.0.0.1:1/db',
  schema: 'deadbolt',
  poolSize: 1,
  requestTimeout: 5_000,
  connectTimeout: 5_000,
  ttl: 60_000,
  applicationName: 'deadbolt test',
  clientConfig: {},
};
const server: ServerInfo = { versionNum: 150_000, version: '15.0', fsync: 'on', synchronousCommit: 'on', encoding: 'UTF8', user: 'app' };

interface Call {
  readonly name: string;
  readonly values: readonly unknown[];
  answer(rows: unknown[]): void;
  fail(error: Error): void;
}

/**
 * A pool, a session connection and wait connections whose statements the test
 * answers (named statements: every protocol call, in one list), the session
 * connection one the test NOTIFYs on (session id 5). With `waitConnections`
 * 0 the wait pool is full, so a waiting claim moves to NOTIFY.
 */
function scripted({ waitConnections = 0 } = {}) {
  const calls: Call[] = [];
  const arrivals: Array<() => void> = [];
  const scriptedQuery = ({ name, values }: { name: string; values: unknown[] }) =>
    new Promise((resolve, reject) => {
      calls.push({ name, values, answer: (rows) => resolve({ rows }), fail: reject });
      arrivals.splice(0).forEach((arrived) => arrived());
    });
  const pool = {
    query: (query: { name: string; values: unknown[] } | string, values?: unknown[]) =>
      typeof query === 'string' ? scriptedQuery({ name: query, values: values ?? [] }) : scriptedQuery(query),
    end: async () => {},
  } as unknown as Pool;
  let waitClients = 0;
  const waits = {
    get idleCount() {
      return 0;
    },
    get totalCount() {
      return waitClients;
    },
    options: { max: waitConnections },
    connect: async () => {
      waitClients++;
      return { processID: 4242, query: scriptedQuery, release: () => waitClients-- };
    },
    end: async () => {},
  } as unknown as Pool;
  /** Until call number `index` (0-based) is made, however long a retry's backoff takes. */
  const sent = async (index: number): Promise<void> => {
    const open = setInterval(() => {}, 60_000); // the backoff timer is unref'd: keep the loop alive until the retry
    try {
      while (calls.length <= index) await new Promise<void>((resolve) => arrivals.push(resolve));
    } finally {
      clearInterval(open);
    }
  };
  const client = Object.assign(new EventEmitter(), {
    query: async (query: { name?: string; text: string; values: unknown[] }) =>
      query.name === undefined ? { rows: query.text.includes('open_session') ? [{ id: '5' }] : [] } : scriptedQuery(query as { name: string; values: unknown[] }),
    ref: () => {},
    unref: () => {},
    end: async () => {},
  }) as unknown as Client;
  const notify = (payload: string) => client.emit('notification', { channel: 'deadbolt:5', payload });
  const driver = new PostgresDriver({ queries: pool, waits }, new SessionConnection(client), config, server, 'ns');
  return { driver, calls, notify, sent };
}

/** Until call number `index` (0-based) is made. */
async function next(calls: Call[], index: number): Promise<void> {
  for (let i = 0; i < 1_000 && calls.length <= index; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(calls.length > index, `statement ${index + 1} was never sent (sent: ${calls.map((c) => c.name).join(", ")})`);
}

const waiting = (wakeInMs: number) => ({ status: 'waiting', token: null, since_ms: null, pred_token: null, pred_how: null, wake_in_ms: wakeInMs });
const granted = (token: string, predHow: string | null, predToken: string | null) => ({
  status: 'granted',
  token,
  since_ms: Date.now(),
  pred_token: predToken,
  pred_how: predHow,
  wake_in_ms: null,
});

test('a grant NOTIFYed before the waiting answer ends the wait at once, without a poll', async () => {
  const { driver, calls, notify } = scripted();
  const session = await driver.openSession(60_000, owner);
  const acquiring = driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, new AbortController().signal);
  await next(calls, 0);
  assert.equal(calls[0]!.name, 'deadbolt_acquire');
  const seq = String(calls[0]!.values[1]);
  notify(`g ${seq} 42 ${Date.now()} released 41`); // the release's NOTIFY, ahead of our answer
  calls[0]!.answer([waiting(50_000)]); // the lease ahead has long to run: only the kept grant can end this wait
  const lock = await acquiring;
  assert.equal(lock.token, 42n, 'the token the granting transaction assigned');
  assert.deepEqual(lock.predecessor, { outcome: 'released', token: 41n });
  assert.equal(calls.length, 1, 'the grant was trusted: no poll, no other request');
  const releasing = lock.release();
  await next(calls, 1);
  assert.equal(calls[1]!.name, 'deadbolt_release');
  assert.equal(calls[1]!.values[4], '42', 'released on its token');
  calls[1]!.answer([{ released: true }]);
  await releasing;
});

test('a waiter whose lease ahead runs out polls; the poll grants it', async () => {
  const { driver, calls } = scripted();
  const session = await driver.openSession(60_000, owner);
  const acquiring = driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, new AbortController().signal);
  await next(calls, 0);
  calls[0]!.answer([waiting(0)]);
  await next(calls, 1);
  // no wait connection to be had: the claim moves to NOTIFY (wait_grant, not blocking), then its timer polls
  assert.equal(calls[1]!.name, 'deadbolt_wait_grant');
  assert.equal(calls[1]!.values[4], 0, 'asked not to block');
  calls[1]!.answer([{ ...waiting(0), status: 'notify' }]);
  await next(calls, 2);
  assert.equal(calls[2]!.name, 'deadbolt_poll');
  assert.equal(calls[2]!.values[1], calls[0]!.values[1], 'the same claim');
  calls[2]!.answer([granted('9', 'expired', '8')]);
  const lock = await acquiring;
  assert.equal(lock.token, 9n);
  assert.deepEqual(lock.predecessor, { outcome: 'expired', token: 8n });
});

test('a break NOTIFY for a held claim aborts its lock signal as broken; its release then deletes nothing', async () => {
  const { driver, calls, notify } = scripted();
  const session = await driver.openSession(60_000, owner);
  const acquiring = driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, new AbortController().signal);
  await next(calls, 0);
  calls[0]!.answer([granted('7', null, null)]);
  const lock = await acquiring;
  assert.equal(lock.predecessor, undefined, "a name's first grant has no predecessor");
  notify(`l ${String(calls[0]!.values[1])} broken`);
  for (let i = 0; i < 20 && !lossSignal(lock).aborted; i++) await new Promise((resolve) => setImmediate(resolve));
  const reason = lossSignal(lock).reason as LockLostError;
  assert.ok(reason instanceof LockLostError);
  assert.equal(reason.reason, 'broken');
  assert.equal(reason.token, 7n);
  await next(calls, 1);
  assert.equal(calls[1]!.name, 'deadbolt_unlock_claim', 'the lost claim gives up its advisory key on the session connection');
  assert.deepEqual(calls[1]!.values, ['5', calls[0]!.values[1]]);
  calls[1]!.answer([{ pg_advisory_unlock: true }]);
  const releasing = lock.release();
  await next(calls, 2);
  assert.equal(calls[2]!.name, 'deadbolt_release', 'the release is still sent (the server decides: nothing of ours is deleted)');
  // the server's answer for a claim already gone: SQLSTATE P0002, which is success here
  calls[2]!.fail(Object.assign(new Error('deadbolt: the claim is not held'), { code: 'P0002' }));
  await releasing;
  assert.equal(driver.reaping, 0, 'nothing left to retry');
  assert.equal(calls.length, 3, 'the key is given up once');
});

test('a waiter blocks in the lock manager on a wait connection; its answer is the grant, with no poll and no NOTIFY', async () => {
  const { driver, calls } = scripted({ waitConnections: 1 });
  const session = await driver.openSession(60_000, owner);
  const acquiring = driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, new AbortController().signal);
  await next(calls, 0);
  assert.equal(calls[0]!.values[6], true, 'the claim takes its key and asks to be woken through the lock manager');
  calls[0]!.answer([waiting(50_000)]);
  await next(calls, 1);
  assert.equal(calls[1]!.name, 'deadbolt_wait_grant');
  assert.ok(Number(calls[1]!.values[4]) >= 50_000, 'blocked until the lease ahead is due, at most');
  calls[1]!.answer([granted('12', 'released', '11')]);
  const lock = await acquiring;
  assert.equal(lock.token, 12n);
  assert.deepEqual(lock.predecessor, { outcome: 'released', token: 11n });
  const releasing = lock.release();
  await next(calls, 2);
  assert.equal(calls[2]!.name, 'deadbolt_release');
  assert.equal(calls[2]!.values[5], true, 'released on the session connection, giving up the key at COMMIT');
  calls[2]!.answer([{ released: true }]);
  await releasing;
  assert.equal(calls.length, 3);
});

test('an abort while blocked in the lock manager cancels the wait on the server, then withdraws the claim', async () => {
  const { driver, calls } = scripted({ waitConnections: 1 });
  const session = await driver.openSession(60_000, owner);
  const abort = new AbortController();
  const acquiring = driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, abort.signal);
  await next(calls, 0);
  calls[0]!.answer([waiting(50_000)]);
  await next(calls, 1);
  const blocked = calls[1]!;
  abort.abort(new Error('enough'));
  const rejected = assert.rejects(acquiring, /enough/);
  const names = () => calls.map((c) => c.name);
  const sentNamed = async (name: string): Promise<Call> => {
    for (let i = 0; i < 1_000 && !names().includes(name); i++) await new Promise((resolve) => setImmediate(resolve));
    const call = calls.find((c) => c.name === name);
    assert.ok(call, `${name} was never sent (sent: ${names().join(', ')})`);
    return call;
  };
  const cancel = await sentNamed('SELECT pg_cancel_backend($1)');
  assert.deepEqual(cancel.values, [4242], "the blocked wait is cancelled on the server, on the wait connection's backend");
  cancel.answer([{ pg_cancel_backend: true }]);
  blocked.fail(Object.assign(new Error('canceling statement due to user request'), { code: '57014' }));
  const withdraw = await sentNamed('deadbolt_release');
  assert.equal(withdraw.values[4], null, 'the claim is withdrawn: a waiting claim, no token');
  withdraw.answer([{ released: true }]);
  await rejected;
});

test("a repeated claim that meets its first attempt's row (unique violation) reads it instead of failing", async () => {
  const { driver, calls, sent } = scripted();
  const session = await driver.openSession(60_000, owner);
  const acquiring = driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, new AbortController().signal);
  await sent(0);
  const seq = calls[0]!.values[1];
  // the answer is lost, but the server goes on running the first attempt
  calls[0]!.fail(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
  await sent(1);
  assert.equal(calls[1]!.name, 'deadbolt_poll', 'a repeat looks for its first attempt first');
  calls[1]!.answer([{ ...waiting(0), status: 'gone' }]); // not committed yet
  await sent(2);
  assert.equal(calls[2]!.name, 'deadbolt_acquire');
  assert.equal(calls[2]!.values[1], seq, 'the same claim number');
  // the first attempt commits while the repeat's INSERT waits on it
  calls[2]!.fail(Object.assign(new Error('duplicate key value violates unique constraint "claims_session_id_seq_key"'), { code: '23505' }));
  await sent(3);
  assert.equal(calls[3]!.name, 'deadbolt_poll', 'the claim is ours: read it');
  calls[3]!.answer([granted('11', null, null)]);
  const lock = await acquiring;
  assert.equal(lock.token, 11n);
});
