/**
 * Credentials against real engines: whatever etcd, Redis, PostgreSQL and
 * ZooKeeper (and their client libraries) answer, no spelling of the password
 * reaches an error, its causes, a diagnostic or a listing.
 *
 * - Redis with `requirepass`: a wrong nasty password is refused (WRONGPASS);
 * - PostgreSQL with trust authentication accepts any password: a whole
 *   session runs with a nasty one in the URL, and a missing database fails;
 * - etcd without authentication refuses every user:password;
 * - ZooKeeper takes digest credentials in driverOptions.authInfo.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import { BackendError, DeadboltError } from '../../src/errors.js';
import {
  requireServer,
  startEtcd,
  startPostgres,
  startRedis,
  startZooKeeper,
  type EtcdHandle,
  type PostgresHandle,
  type RedisHandle,
  type ZooKeeperHandle,
} from '../harness/index.js';
import { NASTY_PASSWORDS, assertClean, recordingDiagnostics, rejection, settlesWithin } from '../support/secret-leaks.js';
import { EVENT_BOUND_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';

// Each connect must settle well before its connectTimeout: the refusal, not the timeout, ended it.
// Both bounds are far from what a refusal takes, even on a starved machine.
const GUARD_MS = EVENT_BOUND_MS;
const LONG = { connectTimeout: 4 * EVENT_BOUND_MS };
let namespaces = 0;

/** A whole life of a coordinator: locks, listings, a break, loss of the broken guard, close. */
async function exercise(coordinator: Coordinator): Promise<unknown[]> {
  const seen: unknown[] = [coordinator.capabilities, coordinator.owner];
  const guard = await coordinator.acquire('secret-test');
  seen.push(await coordinator.list(), await coordinator.holders('secret-test'));
  if (coordinator.capabilities.breakable) {
    seen.push(await coordinator.break('secret-test', { reason: 'secrets test' }));
    seen.push(guard.signal.reason);
  }
  await guard.release();
  seen.push(await coordinator.tryAcquire('secret-test').then((g) => g?.release()));
  await coordinator.close();
  return seen;
}

const redisServer = requireServer('redis', { suite: 'secrets: redis' });
describe('secrets: Redis refusing a nasty password', { skip: redisServer.available ? false : redisServer.reason }, () => {
  let redis: RedisHandle;
  before(async () => (redis = await startRedis({ password: 'right-pass' })));
  after(() => redis?.stop());

  test('WRONGPASS: a BackendError with no spelling of the password anywhere', async () => {
    for (const password of NASTY_PASSWORDS) {
      const url = `redis://:${encodeURIComponent(password)}@${redis.endpoints[0]}/0`;
      const { result: err, published } = await recordingDiagnostics(() => settlesWithin(rejection(connect(url, LONG)), GUARD_MS, 'connect'));
      assert.ok(err instanceof BackendError, String(err));
      assertClean(err, password, 'WRONGPASS');
      assertClean(published, password, 'diagnostics');
    }
  });
});

const postgresServer = requireServer('postgres', { suite: 'secrets: postgres' });
describe('secrets: PostgreSQL (trust authentication) with a nasty password in the URL', { skip: postgresServer.available ? false : postgresServer.reason }, () => {
  let postgres: PostgresHandle;
  before(async () => (postgres = await startPostgres()));
  after(() => postgres?.stop());

  test('a whole session, and a missing database, say nothing of the password', { timeout: HANG_GUARD_MS }, async () => {
    for (const password of NASTY_PASSWORDS) {
      const written = encodeURIComponent(password);
      const url = `postgres://postgres:${written}@${postgres.endpoints[0]}/postgres`;
      const { result, published } = await recordingDiagnostics(async () => {
        const coordinator = await connect(url, { ...LONG, ttl: STEADY_TTL_MS, namespace: `secrets-${++namespaces}` });
        return exercise(coordinator);
      });
      assertClean(result, password, 'session');
      assertClean(published, password, 'diagnostics');
      const missing = await settlesWithin(rejection(connect(`postgres://postgres:${written}@${postgres.endpoints[0]}/no_such_db`, LONG)), GUARD_MS, 'connect');
      assert.ok(missing instanceof DeadboltError, String(missing));
      assertClean(missing, password, 'missing database');
    }
  });
});

const etcdServer = requireServer('etcd', { suite: 'secrets: etcd' });
describe('secrets: etcd without authentication, given user:password', { skip: etcdServer.available ? false : etcdServer.reason }, () => {
  let etcd: EtcdHandle;
  before(async () => (etcd = await startEtcd()));
  after(() => etcd?.stop());

  test('the refusal keeps no spelling of the password', async () => {
    for (const password of NASTY_PASSWORDS) {
      const url = `etcd://root:${encodeURIComponent(password)}@${etcd.endpoints[0]}`;
      const { result, published } = await recordingDiagnostics(() =>
        settlesWithin(
          connect(url, { ...LONG, ttl: STEADY_TTL_MS, namespace: `secrets-${++namespaces}` }).then(exercise, (e: unknown) => e),
          GUARD_MS,
          'connect',
        ),
      );
      assertClean(result, password, 'etcd');
      assertClean(published, password, 'diagnostics');
    }
  });
});

const zookeeperServer = requireServer('zookeeper', { suite: 'secrets: zookeeper' });
describe('secrets: ZooKeeper with digest credentials in driverOptions.authInfo', { skip: zookeeperServer.available ? false : zookeeperServer.reason }, () => {
  let zookeeper: ZooKeeperHandle;
  before(async () => (zookeeper = await startZooKeeper()));
  after(() => zookeeper?.stop());

  test('a whole session says nothing of the password', { timeout: HANG_GUARD_MS }, async () => {
    for (const password of NASTY_PASSWORDS) {
      const driverOptions = { authInfo: [{ scheme: 'digest', auth: `deadbolt:${password}` }] };
      const { result, published } = await recordingDiagnostics(async () => {
        const coordinator = await connect(zookeeper.url, { ...LONG, ttl: STEADY_TTL_MS, namespace: `secrets-${++namespaces}`, driverOptions });
        return exercise(coordinator);
      });
      assertClean(result, password, 'session');
      assertClean(published, password, 'diagnostics');
    }
  });
});
