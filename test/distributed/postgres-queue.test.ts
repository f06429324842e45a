/**
 * postgres:// queue rules of functions revision 2 (sql.ts): a release reads
 * only the head of the queue and reaps the whole queue only when some lease
 * ran out, so the head must still never be granted to a dead session; and
 * connecting installs a newer functions revision in place.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import pg from 'pg';
import { FUNCTIONS_REVISION, schemaSql } from '../../src/drivers/postgres/sql.js';
import { requireServer, startPostgres, type PostgresHandle } from '../harness/index.js';

const requirement = requireServer('postgres', { suite: 'postgres queue' });
/** A lease no loaded machine gets near: nothing in these tests may be decided by an expiry. */
const LONG_LEASE = 60_000;

describe('postgres: queue', { skip: requirement.available ? false : requirement.reason, timeout: 60_000 }, () => {
  let server: PostgresHandle;
  const opened: Coordinator[] = [];
  let namespaces = 0;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await Promise.allSettled(opened.map((c) => c.close()));
    await server?.stop();
  });
  const open = async (namespace: string): Promise<Coordinator> => {
    const c = await connect(server.url, { ttl: LONG_LEASE, namespace });
    opened.push(c);
    return c;
  };
  /** Until the server shows `n` waiting claims on `name` (a state, not an event: bounded polling). */
  const queued = async (namespace: string, name: string, n: number): Promise<void> => {
    const deadline = performance.now() + 20_000;
    for (;;) {
      const count = Number(await server.psql(`SELECT count(*) FROM deadbolt.claims WHERE namespace = '${namespace}' AND name = '${name}' AND token IS NULL`));
      if (count >= n) return;
      assert.ok(performance.now() < deadline, `${n} waiters on "${name}" within 20 s (saw ${count})`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  test('a release skips a waiter whose session row is gone: the next live waiter is granted, the dead claim deleted', async () => {
    const ns = `dead-waiter-${++namespaces}`;
    const [a, b, c] = [await open(ns), await open(ns), await open(ns)];
    const held = await a.acquire('q');
    const doomed = b.acquire('q');
    doomed.catch(() => {}); // settled when b closes below
    await queued(ns, 'q', 1);
    const next = c.acquire('q');
    await queued(ns, 'q', 2);
    // An operator deletes b's lease by hand: not expired, simply gone (no reaper would look).
    assert.equal(await server.psql(`WITH gone AS (DELETE FROM deadbolt.sessions WHERE id = ${b.session.id} RETURNING 1) SELECT count(*) FROM gone`), '1');
    await held.release();
    const granted = await next;
    assert.ok(granted.token > held.token);
    assert.equal(await server.psql(`SELECT count(*) FROM deadbolt.claims WHERE session_id = ${b.session.id}`), '0');
    assert.deepEqual((await a.holders('q')).map((h) => h.token), [granted.token]);
    await granted.release();
    await b.close();
    await assert.rejects(doomed);
  });

  test('shared holders: a release of one keeps the others, an exclusive waiter waits for all of them', async () => {
    const ns = `shared-${++namespaces}`;
    const [a, b, c] = [await open(ns), await open(ns), await open(ns)];
    const first = await a.acquire('s', { mode: 'shared' });
    const second = await b.acquire('s', { mode: 'shared' });
    let writerGranted = false;
    const writer = c.acquire('s').then((guard) => {
      writerGranted = true;
      return guard;
    });
    await queued(ns, 's', 1);
    await first.release();
    // the release ran its whole transaction (grant included) before resolving: a wrong grant would show now
    assert.equal(await server.psql(`SELECT count(*) FROM deadbolt.claims WHERE namespace = '${ns}' AND name = 's' AND token IS NOT NULL`), '1');
    assert.equal(writerGranted, false);
    await second.release();
    const guard = await writer;
    assert.ok(guard.token > second.token);
    await guard.release();
  });

  test('a process that waited for the install lock while another created the schema changes nothing (no DDL against tables in use)', async () => {
    const schema = `race_${process.pid}`;
    const other = new pg.Client({ connectionString: server.url });
    await other.connect();
    try {
      // The other process: holds the install lock, the schema still missing.
      await other.query('BEGIN');
      await other.query("SELECT pg_advisory_xact_lock(hashtext('deadbolt'), hashtext($1))", [schema]);
      const connecting = connect(`${server.url}?schema=${schema}`, { ttl: LONG_LEASE, namespace: 'race' });
      connecting.then((c) => opened.push(c), () => {});
      const deadline = performance.now() + 20_000;
      while (Number(await server.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")) === 0) {
        assert.ok(performance.now() < deadline, 'the connecting process queues on the install lock within 20 s');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await other.query(schemaSql(schema));
      // The rows it wrote carry its transaction id as their xmin.
      const created = String((await other.query(`SELECT xmin::text AS xid FROM "${schema}".meta WHERE key = 'version'`)).rows[0].xid);
      await other.query('COMMIT');
      const coordinator = await connecting;
      // Installing again would have rewritten meta (and replaced every function) in a newer transaction.
      assert.equal(await server.psql(`SELECT xmin FROM "${schema}".meta WHERE key = 'version'`), created, 'meta was written once, by the other process');
      await (await coordinator.acquire('r')).release();
    } finally {
      await other.end();
    }
  });

  test('connecting installs a newer functions revision in place; a coordinator of the older one keeps working', async () => {
    const ns = `upgrade-${++namespaces}`;
    const older = await open(ns);
    await (await older.acquire('u')).release();
    // What a schema made by the previous release looks like: no functions revision recorded.
    await server.psql("DELETE FROM deadbolt.meta WHERE key = 'functions'");
    const newer = await open(ns);
    assert.equal(await server.psql("SELECT value FROM deadbolt.meta WHERE key = 'functions'"), String(FUNCTIONS_REVISION));
    assert.equal(await server.psql("SELECT value FROM deadbolt.meta WHERE key = 'version'"), '1');
    const held = await older.acquire('u');
    const waiting = newer.acquire('u');
    await queued(ns, 'u', 1);
    await held.release();
    await (await waiting).release();
  });
});
