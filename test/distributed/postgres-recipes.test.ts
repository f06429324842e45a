/**
 * postgres:// recipe primitives (src/drivers/postgres/name-watch.ts, sql.ts
 * functions revision 4), on a real server, through the RecipeDriver: data
 * stored with a claim and listed with it (a plain lock's row unchanged),
 * name watches by LISTEN/NOTIFY on the name's channel (every create, delete,
 * data update and reaping of a claim of the name; nothing for another name;
 * nothing after cancel; 'uncertain' when the listening connection is lost),
 * NOTIFY only while someone watches, the conditional data update, and data
 * written by someone else that is not ours to show.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createDriver } from '../../src/drivers/postgres/index.js';
import type { PostgresDriver } from '../../src/drivers/postgres/driver.js';
import type { PostgresSession } from '../../src/drivers/postgres/session.js';
import type { NameEvent } from '../../src/core/engine.js';
import type { DriverLock } from '../../src/distributed/driver.js';
import type { LockOwner } from '../../src/contracts/lock-info.js';
import { nameChannel } from '../../src/drivers/postgres/sql.js';
import { requireServer, startPostgres, type PostgresHandle } from '../harness/index.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

const requirement = requireServer('postgres', { suite: 'postgres recipes' });

/** A lease no loaded machine gets near: nothing here may be decided by an expiry. */
const LONG_LEASE = 60_000;
let namespaces = 0;

/** A watch's events, and the first one as a promise (bounded: a missing event fails, it does not hang). */
function recorder(what: string): { events: NameEvent[]; onEvent: (event: NameEvent) => void; first: Promise<NameEvent> } {
  const events: NameEvent[] = [];
  let resolve!: (event: NameEvent) => void;
  const first = new Promise<NameEvent>((r) => (resolve = r));
  // ref'd: an armed watch does not keep the process up by itself (the session connection is unref'd while idle)
  const timer = setTimeout(() => resolve(`no event within ${EVENT_BOUND_MS} ms: ${what}` as NameEvent), EVENT_BOUND_MS);
  return {
    events,
    first,
    onEvent: (event) => {
      events.push(event);
      clearTimeout(timer);
      resolve(event);
    },
  };
}

describe('postgres: recipe primitives', { skip: requirement.available ? false : requirement.reason, timeout: HANG_GUARD_MS }, () => {
  let server: PostgresHandle;
  const drivers: PostgresDriver[] = [];
  const sessions: PostgresSession[] = [];
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await Promise.allSettled(sessions.map((s) => s.revoke()));
    await Promise.allSettled(drivers.map((d) => d.close()));
    await server?.stop();
  });

  /** A driver (a process) on namespace `ns`, with one session. */
  const open = async (ns: string): Promise<{ driver: PostgresDriver; session: PostgresSession; owner: LockOwner }> => {
    const options = { namespace: ns, connectTimeout: CONNECT_TIMEOUT_MS, ttl: LONG_LEASE, endpoints: [], signal: new AbortController().signal };
    const driver = (await createDriver(new URL(server.url), options)) as PostgresDriver;
    drivers.push(driver);
    const owner: LockOwner = { id: `recipes-${ns}-${drivers.length}`, host: 'test', pid: process.pid };
    const session = await driver.openSession(LONG_LEASE, owner);
    sessions.push(session);
    return { driver, session, owner };
  };
  const acquire = (p: { driver: PostgresDriver; session: PostgresSession; owner: LockOwner }, name: string, data?: string, mode: 'exclusive' | 'shared' = 'shared') =>
    p.driver.acquire({ session: p.session, name, mode, owner: p.owner, ...(data === undefined ? {} : { data }) }, new AbortController().signal);
  const update = (lock: DriverLock, data: string): Promise<boolean> => lock.updateData!(data);

  test('a claim made with data is listed with it; a plain claim has no data field and its row stays as before', async () => {
    const ns = `data-${++namespaces}`;
    const a = await open(ns);
    assert.equal(a.driver.capabilities.recipes, true);
    const member = await acquire(a, 'd', 'member one');
    const plain = await acquire(a, 'd');
    const tried = await a.driver.tryAcquire({ session: a.session, name: 'd', mode: 'shared', owner: a.owner, data: 'tried é' });
    assert.ok(tried !== undefined);
    const byToken = new Map((await a.driver.holders('d')).map((info) => [info.token, info]));
    assert.equal(byToken.get(member.token)?.data, 'member one');
    assert.equal(byToken.get(tried.token)?.data, 'tried é');
    assert.ok(byToken.has(plain.token) && !('data' in byToken.get(plain.token)!), 'a plain claim is listed without data');
    assert.equal((await a.driver.list('')).find((info) => info.token === member.token)?.data, 'member one');
    // The stored rows: the plain claim's data column is NULL, the owner record (per session) is as before recipes.
    const rows = await server.psql(`SELECT token, coalesce(data, '<null>') FROM deadbolt.claims WHERE namespace = '${ns}' ORDER BY token`);
    assert.equal(rows, `${member.token}|member one\n${plain.token}|<null>\n${tried.token}|tried é`);
    assert.deepEqual(JSON.parse(await server.psql(`SELECT owner FROM deadbolt.sessions WHERE id = ${a.session.id}`)), a.owner);
    // A waiting claim carries its data too (the engine's survey scan reads it).
    const waiter = acquire(a, 'd', 'waits', 'exclusive');
    const deadline = performance.now() + EVENT_BOUND_MS;
    let queue;
    while ((queue = (await a.driver.engine.scan({ prefix: 'd', exact: true, survey: true })).claims.filter((c) => !c.held)).length === 0) {
      assert.ok(performance.now() < deadline, 'the exclusive claim queues');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(queue[0]?.data, 'waits');
    await Promise.all([member.release(), plain.release(), tried.release()]);
    await (await waiter).release();
  });

  test('watchName: a create, a delete and a data update of a claim of the name each fire; another name does not; cancel stops it', async () => {
    const ns = `watch-${++namespaces}`;
    const watcher = await open(ns);
    const other = await open(ns); // another process makes the changes
    // create
    let rec = recorder('create');
    let watch = await watcher.driver.watchName('w', rec.onEvent);
    const lock = await acquire(other, 'w', 'v1');
    assert.equal(await rec.first, 'changed');
    watch.cancel();
    watch.cancel(); // twice: harmless
    // data update
    rec = recorder('update');
    watch = await watcher.driver.watchName('w', rec.onEvent);
    assert.equal(await update(lock, 'v2'), true);
    assert.equal(await rec.first, 'changed');
    watch.cancel();
    // another name: its change reaches its own watch, never ours (one connection delivers both in commit order)
    const mine = recorder('the watched name');
    const theirs = recorder('the other name');
    const mineWatch = await watcher.driver.watchName('w', mine.onEvent);
    const theirsWatch = await watcher.driver.watchName('elsewhere', theirs.onEvent);
    const elsewhere = await acquire(other, 'elsewhere');
    assert.equal(await theirs.first, 'changed');
    assert.deepEqual(mine.events, [], 'a change of another name does not fire the watch');
    // cancel: a cancelled watch of the name hears nothing of the change a live one hears
    const cancelled = recorder('cancelled');
    (await watcher.driver.watchName('w', cancelled.onEvent)).cancel();
    await lock.release(); // delete
    assert.equal(await mine.first, 'changed');
    assert.deepEqual(cancelled.events, [], 'no callback after cancel');
    mineWatch.cancel();
    theirsWatch.cancel();
    await elsewhere.release();
  });

  test('NOTIFY only while someone watches: a plain hand-off of an unwatched name sends none', async () => {
    const ns = `quiet-${++namespaces}`;
    const a = await open(ns);
    const b = await open(ns);
    const ear = new pg.Client(server.url);
    await ear.connect();
    try {
      const heard: string[] = [];
      ear.on('notification', (message) => heard.push(message.channel));
      const channel = nameChannel('deadbolt', ns, 'q');
      await ear.query(`LISTEN "${channel}"`);
      // unwatched: acquire, wait, release, hand-off, release: nothing on the name's channel
      const held = await acquire(a, 'q', undefined, 'exclusive');
      const next = acquire(b, 'q', undefined, 'exclusive');
      await held.release();
      await (await next).release();
      // now watched: the next change NOTIFYs once, and the flag is cleared (one-shot)
      const rec = recorder('watched');
      const watch = await b.driver.watchName('q', rec.onEvent);
      const again = await acquire(a, 'q');
      assert.equal(await rec.first, 'changed');
      watch.cancel();
      await again.release(); // unwatched again: no NOTIFY
      // a round trip on the ear's connection after everything committed: any NOTIFY sent would have arrived
      await ear.query('SELECT 1');
      assert.deepEqual(heard, [channel], 'one NOTIFY, for the one change made while watched');
      assert.equal(await server.psql(`SELECT watched FROM deadbolt.tokens WHERE namespace = '${ns}' AND name = 'q'`), 'f');
    } finally {
      await ear.end();
    }
  });

  test('a claim reaped by another session (its lease ran out) fires the watch', async () => {
    const ns = `reaped-${++namespaces}`;
    const watcher = await open(ns);
    const doomed = await open(ns);
    const lock = await acquire(doomed, 'r');
    const rec = recorder('reaped');
    const watch = await watcher.driver.watchName('r', rec.onEvent);
    // the doomed session's lease runs out (by hand: no waiting for an expiry); the watcher's renewal reaps it
    await server.psql(`UPDATE deadbolt.sessions SET expires_at = now() - interval '1 second' WHERE id = ${doomed.session.id}`);
    await watcher.session.keepAlive();
    assert.equal(await rec.first, 'changed');
    watch.cancel();
    assert.equal(await server.psql(`SELECT count(*) FROM deadbolt.claims WHERE namespace = '${ns}'`), '0');
    void lock;
  });

  test('a lost listening connection makes the watch uncertain', async () => {
    const ns = `lost-${++namespaces}`;
    const watcher = await open(ns);
    const rec = recorder('connection lost');
    await watcher.driver.watchName('x', rec.onEvent);
    watcher.session.onLost = () => {};
    await server.psql(`SELECT pg_terminate_backend(backend_pid) FROM deadbolt.sessions WHERE id = ${watcher.session.id}`);
    assert.equal(await rec.first, 'uncertain');
    // and a watch cannot be set on it any more
    await assert.rejects(watcher.driver.watchName('x', () => {}), /watching "x"|listening/);
  });

  test('updateData on a held lock: true, listed, never a loss; once the claim is gone: false, nothing written', async () => {
    const ns = `update-${++namespaces}`;
    const a = await open(ns);
    const lock = await acquire(a, 'u', 'first', 'exclusive');
    let lost: string | undefined;
    lock.onLoss((reason) => (lost = reason));
    const rec = recorder('update');
    await a.driver.watchName('u', rec.onEvent);
    assert.equal(await update(lock, 'second'), true);
    assert.equal(await rec.first, 'changed');
    // a later round trip on the session connection (a renewal, which checks the held claims) after the event
    await a.session.keepAlive();
    const after = recorder('a later change');
    const watch = await a.driver.watchName('u', after.onEvent);
    assert.equal(await update(lock, 'third'), true);
    assert.equal(await after.first, 'changed');
    watch.cancel();
    await a.session.keepAlive();
    assert.equal(lost, undefined, 'a data update is not a loss');
    assert.equal((await a.driver.holders('u'))[0]?.data, 'third');
    // the claim deleted behind our back (the lock does not know yet): the engine's write is conditional
    await server.psql(`DELETE FROM deadbolt.claims WHERE namespace = '${ns}' AND name = 'u'`);
    assert.equal(await update(lock, 'fourth'), false);
    assert.equal(await server.psql(`SELECT count(*) FROM deadbolt.claims WHERE namespace = '${ns}'`), '0');
    await lock.release().catch(() => {});
    // released: false
    const again = await acquire(a, 'u', 'one');
    await again.release();
    assert.equal(await update(again, 'two'), false);
    // broken by someone else: false, and the next holder's data untouched
    const b = await open(ns);
    const victim = await acquire(a, 'u', 'victim', 'exclusive');
    await b.driver.break('u', { reason: 'test', by: 'test', at: new Date() });
    const next = await acquire(b, 'u', 'next', 'exclusive');
    assert.equal(await update(victim, 'stale'), false);
    assert.equal(await server.psql(`SELECT string_agg(data, ',') FROM deadbolt.claims WHERE namespace = '${ns}'`), 'next');
    await next.release();
  });

  test('data written by someone else that is not ours to show (over 4096 bytes) is listed without data', async () => {
    const ns = `hostile-${++namespaces}`;
    const a = await open(ns);
    const fits = await acquire(a, 'h', 'x');
    const big = await acquire(a, 'h', 'y');
    await server.psql(
      `UPDATE deadbolt.claims SET data = repeat('é', 2048) WHERE namespace = '${ns}' AND token = ${fits.token}; ` +
        `UPDATE deadbolt.claims SET data = repeat('é', 2048) || 'x' WHERE namespace = '${ns}' AND token = ${big.token}`,
    );
    const byToken = new Map((await a.driver.holders('h')).map((info) => [info.token, info]));
    assert.equal(byToken.get(fits.token)?.data, 'é'.repeat(2048), '4096 bytes: kept');
    assert.ok(byToken.has(big.token) && !('data' in byToken.get(big.token)!), '4097 bytes: dropped');
    await Promise.all([fits.release(), big.release()]);
  });
});
