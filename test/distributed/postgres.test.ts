/**
 * postgres:// beyond the conformance suite: a session whose connection is
 * terminated, bad input at connect (wrong credentials, an old server, a user
 * who may not create the schema, nothing listening), the schema option, and
 * that waiting costs one request per handoff.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import {
  BackendError,
  BackendUnavailableError,
  ConfigurationError,
  LockLostError,
  SessionLostError,
  UnsupportedError,
  isInvalidArgument,
} from '../../src/errors.js';
import { schemaSql } from '../../src/drivers/postgres/index.js';
import { freePort, requireServer, startPostgres, type PostgresHandle } from '../harness/index.js';
import { startOldServer } from './fixtures/postgres-old-server.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';

const requirement = requireServer('postgres', { suite: 'postgres driver' });

/** Count the queries every node-postgres client of this process sends, by statement name, until `stop()`. */
function countQueries(): { byName: Map<string, number>; stop(): void } {
  const byName = new Map<string, number>();
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function query(this: unknown, ...args: unknown[]) {
    const config = args[0] as { name?: string; text?: string } | string;
    const name = typeof config === 'string' ? config : (config.name ?? String(config.text));
    byName.set(name, (byName.get(name) ?? 0) + 1);
    return original.apply(this, args);
  };
  return { byName, stop: () => void (proto.query = original) };
}
let namespaces = 0;
/** A lease no loaded machine gets near: a grant well within it cannot have waited for its expiry. */
const LONG_LEASE = 60_000;

describe('postgres: driver', { skip: requirement.available ? false : requirement.reason, timeout: HANG_GUARD_MS }, () => {
  let server: PostgresHandle;
  const opened: Coordinator[] = [];
  before(async () => {
    server = await startPostgres();
    // alice logs in with a password; everyone else keeps the harness's trust auth
    await server.psql("CREATE ROLE alice LOGIN PASSWORD 'right'; GRANT CREATE ON DATABASE postgres TO alice; CREATE ROLE bob LOGIN");
    const hba = join(server.members[0]!.dataDir, 'pg_hba.conf');
    writeFileSync(hba, `host all alice 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    await server.psql('SELECT pg_reload_conf()');
  });
  after(async () => {
    await Promise.allSettled(opened.map((c) => c.close()));
    await server?.stop();
  });
  const open = async (url: string, ttl = STEADY_TTL_MS, ns = `driver-${process.pid}-${++namespaces}`): Promise<Coordinator> => {
    const c = await connect(url, { ttl, namespace: ns, connectTimeout: CONNECT_TIMEOUT_MS });
    opened.push(c);
    return c;
  };
  const withUser = (user: string, password?: string, query = ''): string => {
    const url = new URL(server.url);
    url.username = user;
    if (password !== undefined) url.password = password;
    return `${url.href}${query}`;
  };

  test('pg_terminate_backend of the session connection: the holder learns it lost the lock; a waiter gets it at once', async () => {
    const ns = `terminate-${++namespaces}`;
    const a = await open(server.url, LONG_LEASE, ns);
    const b = await open(server.url, LONG_LEASE, ns);
    const held = await a.acquire('t');
    const waiting = b.acquire('t');
    await new Promise((resolve) => setTimeout(resolve, 250)); // the claim reaching the server
    const started = performance.now();
    const terminated = await server.psql(`SELECT pg_terminate_backend(backend_pid) FROM deadbolt.sessions WHERE id = ${a.session.id}`);
    assert.equal(terminated, 't');
    const next = await waiting;
    assert.ok(performance.now() - started < LONG_LEASE / 2, 'granted long before the lease could run out');
    assert.ok(held.signal.aborted);
    assert.equal((held.signal.reason as LockLostError).reason, 'session');
    assert.ok(a.signal.reason instanceof SessionLostError);
    assert.match(((a.signal.reason as Error).cause as Error).message, /the connection carrying session \d+ ended/);
    assert.ok(next.token > held.token);
    await held.release(); // after loss: no error, and nothing of b's is touched
    assert.deepEqual((await b.holders('t')).map((h) => h.token), [next.token]);
    await assert.rejects(a.acquire('t2'), SessionLostError);
    await next.release();
  });

  test('pg_terminate_backend of every connection of a coordinator: the same', async () => {
    const ns = `terminate-all-${++namespaces}`;
    const a = await open(server.url, LONG_LEASE, ns);
    const b = await open(server.url, LONG_LEASE, ns);
    const held = await a.acquire('t');
    const waiting = b.acquire('t');
    await new Promise((resolve) => setTimeout(resolve, 250)); // the claim reaching the server
    const started = performance.now();
    await server.psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'deadbolt ${a.owner.id}'`);
    const next = await waiting;
    assert.ok(performance.now() - started < LONG_LEASE / 2, 'granted long before the lease could run out');
    assert.equal((held.signal.reason as LockLostError).reason, 'session');
    await next.release();
  });

  test('wrong credentials: a clear BackendError at once, not a timeout', async () => {
    const err = await connect(withUser('alice', 'wrong'), { connectTimeout: CONNECT_TIMEOUT_MS }).then(
      () => assert.fail('connected'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BackendError, String(err));
    assert.match(err.message, /rejected the credentials/);
    assert.match(err.message, /password/);
    assert.doesNotMatch(err.message, /wrong/, 'the password is not shown');
    assert.match(err.message, /alice:\*\*\*@/); // a BackendError, not the BackendUnavailableError of a timeout
    const none = await connect(withUser('alice'), { connectTimeout: CONNECT_TIMEOUT_MS }).then(() => assert.fail('connected'), (e: unknown) => e);
    assert.ok(none instanceof BackendError, String(none));
    assert.match((none as Error).message, /asks for a password/);
    const right = await open(withUser('alice', 'right', '?schema=alice_locks'));
    await (await right.acquire('alice')).release();
  });

  test('a server older than PostgreSQL 12: UnsupportedError naming the version', async () => {
    const old = await startOldServer('9.6.24', 90_624);
    try {
      const err = await connect(`postgres://postgres@127.0.0.1:${old.port}/postgres`, { connectTimeout: CONNECT_TIMEOUT_MS }).then(() => assert.fail('connected'), (e: unknown) => e);
      assert.ok(err instanceof UnsupportedError, String(err));
      assert.match(err.message, /9\.6\.24/);
      assert.match(err.message, /server_version_num 90624/);
      assert.match(err.message, /PostgreSQL 12 or later/);
    } finally {
      await old.close();
    }
  });

  test('a user who may not create the schema: the error names the SQL to run, which then works', async () => {
    const url = withUser('bob', undefined, '?schema=bob_locks');
    const err = await connect(url, { connectTimeout: CONNECT_TIMEOUT_MS }).then(() => assert.fail('connected'), (e: unknown) => e);
    assert.ok(err instanceof BackendError, String(err));
    const sql = 'CREATE SCHEMA "bob_locks" AUTHORIZATION "bob";';
    assert.ok(err.message.includes(sql), err.message);
    await server.psql(sql);
    const bob = await open(url);
    const guard = await bob.acquire('bob');
    assert.equal(await server.psql(`SELECT count(*) FROM bob_locks.claims WHERE name = 'bob'`), '1');
    await guard.release();
  });

  test('nothing listening: BackendUnavailableError', async () => {
    const port = await freePort();
    const err = await connect(`postgres://postgres@127.0.0.1:${port}/postgres`, { connectTimeout: 2_000 }).then(
      () => assert.fail('connected'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BackendUnavailableError, String(err));
  });

  test('schema: ?schema= and driverOptions.schema choose it (created on first use); a bad one is refused', async () => {
    const viaUrl = await open(`${server.url}?schema=locks_a`);
    const viaOptions = await connect(server.url, { namespace: 'x', connectTimeout: CONNECT_TIMEOUT_MS, driverOptions: { schema: 'locks_b' } });
    opened.push(viaOptions);
    await (await viaUrl.acquire('s')).release();
    await (await viaOptions.acquire('s')).release();
    assert.equal(await server.psql("SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'locks_%'"), 'locks_a,locks_b');
    await assert.rejects(connect(`${server.url}?schema=Bad-Name`), ConfigurationError);
    await assert.rejects(connect(server.url, { driverOptions: { schema: 'x;drop' } }), (e) => isInvalidArgument(e));
    // what schemaSql() gives a DBA creates the same schema by hand
    await server.psql(schemaSql('by_hand'));
    await (await open(`${server.url}?schema=by_hand`).then((c) => c.acquire('h'))).release();
  });

  test('waiting is server-driven: one engine request per handoff, however many wait', async () => {
    const ns = `requests-${++namespaces}`;
    // a long TTL keeps keepalives (every TTL/3) out of the count
    const holder = await open(server.url, 60_000, ns);
    const waiters = await Promise.all(Array.from({ length: 8 }, () => open(server.url, 60_000, ns)));
    const held = await holder.acquire('r');
    const done = waiters.map((w) => w.acquire('r').then((g) => g.release()));
    const queued = async (): Promise<number> => Number(await server.psql(`SELECT count(*) FROM deadbolt.claims WHERE namespace = '${ns}' AND token IS NULL`));
    // each waiter blocked in the lock manager on the claim ahead of it (wait_grant sent and waiting)
    const blocked = async (): Promise<number> => Number(await server.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"));
    const deadline = performance.now() + EVENT_BOUND_MS;
    while ((await queued()) < waiters.length || (await blocked()) < waiters.length) {
      assert.ok(performance.now() < deadline, 'waiters queued'); // a hang guard
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const sent = countQueries();
    try {
      await held.release();
      await Promise.all(done);
    } finally {
      sent.stop();
    }
    // one release per handoff (and the last one); no waiter polled or waited again (the lock manager woke
    // each one once, its wait answering with the grant), nothing else was asked. Keepalives of
    // earlier tests' coordinators (other schemas) are not this test's: a slow machine widens the window.
    const ours = [...sent.byName].filter(([name]) => !/^SELECT "(?!deadbolt")\w+"\.renew\(/.test(name));
    assert.deepEqual(Object.fromEntries(ours), { deadbolt_release: 9 });
  });
});
