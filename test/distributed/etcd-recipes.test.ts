/**
 * The etcd engine's recipe primitives against a real etcd (started by the
 * harness): claim data in the holder record (and a plain lock's record
 * unchanged), watchName on the name's key range, updateData conditional on the
 * claim's create_revision, and hostile records written by someone else.
 *
 * Driven through the etcd RecipeDriver (EtcdDriver) and, where a race must be
 * forced or the own-claim watch observed directly, through its engine.
 *
 * No sleeps: "nothing fired" is proved by an event awaited later on the same
 * watch stream (etcd sends one stream's events in revision order).
 *
 * Skipped, loudly, without an etcd binary; a failure instead when CI is set.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { LockOwner } from '../../src/contracts/lock-info.js';
import type { ClaimRequest, NameEvent, WatchEvent } from '../../src/core/engine.js';
import type { DriverLock } from '../../src/distributed/driver.js';
import { openClient, parseEtcdUrl } from '../../src/drivers/etcd/client.js';
import { EtcdDriver } from '../../src/drivers/etcd/driver.js';
import { encodeHolder } from '../../src/drivers/etcd/record.js';
import type { EtcdSession } from '../../src/drivers/etcd/session.js';
import { b64, etcdRequest, requireServer, startEtcd, type EtcdHandle } from '../harness/index.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS } from '../harness/bounds.js';

const server = requireServer('etcd', { suite: 'etcd recipe primitives' });
/** Long enough that no session of a test needs a keepalive. */
const TTL = 60_000;
const owner: LockOwner = { id: 'recipes-test', host: 'test-host', pid: process.pid };
let namespaces = 0;

/** A promise of the first event of a watch (bounded in time), and every event it got. */
function firstEvent<E = NameEvent>(): { onEvent: (event: E) => void; event: Promise<E>; events: E[] } {
  const events: E[] = [];
  let resolve!: (event: E) => void;
  let timer: NodeJS.Timeout | undefined;
  const event = new Promise<E>((r, reject) => {
    resolve = r;
    timer = setTimeout(() => reject(new Error(`no event within ${EVENT_BOUND_MS} ms`)), EVENT_BOUND_MS).unref();
  });
  event.catch(() => {}); // a watch that must stay quiet is never awaited: its bound fails only those that are
  return {
    events,
    event,
    onEvent: (e) => {
      events.push(e);
      clearTimeout(timer);
      resolve(e);
    },
  };
}

describe('etcd recipe primitives', { skip: server.available ? false : server.reason }, () => {
  let etcd: EtcdHandle;
  let endpoint: string;
  const cleanup: Array<() => Promise<unknown>> = [];

  before(async () => {
    etcd = await startEtcd();
    endpoint = etcd.endpoints[0]!;
  });
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  });
  after(async () => {
    await etcd?.stop();
  });

  /** A driver on a fresh namespace, closed (sessions revoked first) after the test. */
  async function open(namespace = `recipes-${process.pid}-${++namespaces}`): Promise<{ driver: EtcdDriver; session: EtcdSession; namespace: string }> {
    const driver = new EtcdDriver(await openClient(parseEtcdUrl(etcd.url, { connectTimeout: CONNECT_TIMEOUT_MS })), namespace);
    cleanup.push(() => driver.close());
    const session = await driver.openSession(TTL, owner);
    cleanup.push(() => session.revoke());
    return { driver, session, namespace };
  }

  const acquire = (driver: EtcdDriver, session: EtcdSession, name: string, data?: string): Promise<DriverLock> =>
    driver.acquire({ session, name, mode: 'exclusive', owner, ...(data === undefined ? {} : { data }) }, AbortSignal.timeout(EVENT_BOUND_MS));

  /** The raw key-values under `prefix`, values decoded from the gateway's base64. */
  async function raw(prefix: string): Promise<Array<{ key: string; value: string; create: bigint; mod: bigint }>> {
    const end = Buffer.from(prefix);
    end[end.length - 1]!++;
    const res = await etcdRequest(endpoint, '/v3/kv/range', { key: b64(prefix), range_end: end.toString('base64') });
    return (res.kvs ?? []).map((kv: { key: string; value?: string; create_revision: string; mod_revision: string }) => ({
      key: Buffer.from(kv.key, 'base64').toString('utf8'),
      value: Buffer.from(kv.value ?? '', 'base64').toString('utf8'),
      create: BigInt(kv.create_revision),
      mod: BigInt(kv.mod_revision),
    }));
  }

  /**
   * Proves that a watch `armed` before a write would have reported it by now:
   * a probe watch on `probeName`, armed after the write, sees a later write
   * (a lock on `probeName` taken and released) on the same stream.
   */
  async function barrier(driver: EtcdDriver, session: EtcdSession, probeName: string): Promise<void> {
    const lock = await acquire(driver, session, probeName);
    const probe = firstEvent();
    const watch = await driver.watchName(probeName, probe.onEvent);
    await lock.release();
    assert.equal(await probe.event, 'changed');
    watch.cancel();
  }

  test('a claim with data is listed with it; a plain claim has no data and its stored record is what it always was', async () => {
    const { driver, session, namespace } = await open();
    const withData = await acquire(driver, session, 'leader', 'at 10.0.0.7 ✓');
    const plain = await acquire(driver, session, 'plain');

    const [leader] = await driver.holders('leader');
    assert.equal(leader?.data, 'at 10.0.0.7 ✓');
    const [held] = await driver.holders('plain');
    assert.ok(held !== undefined && !('data' in held), 'a plain claim is listed without a data field');
    assert.deepEqual((await driver.list('')).map((i) => [i.name, i.data]), [['leader', 'at 10.0.0.7 ✓'], ['plain', undefined]]);

    // the plain record, byte for byte: the fields (and their order) older versions write
    const [plainKv] = await raw(`${namespace}/locks/plain/`);
    const since = new Date(JSON.parse(plainKv!.value).since);
    assert.equal(plainKv!.value, JSON.stringify({ id: owner.id, host: owner.host, pid: owner.pid, since: since.toISOString() }));
    assert.equal(plainKv!.value, encodeHolder(owner, since).toString('utf8'));
    const [dataKv] = await raw(`${namespace}/locks/leader/`);
    assert.equal(dataKv!.value, encodeHolder(owner, new Date(JSON.parse(dataKv!.value).since), 'at 10.0.0.7 ✓').toString('utf8'));

    await Promise.all([withData.release(), plain.release()]);
  });

  test('a waiter granted after a wait keeps its data in the grant-time rewrite; that rewrite never overwrites newer data', async () => {
    const { driver, session, namespace } = await open();
    const first = await acquire(driver, session, 'queue');
    const queued = firstEvent();
    const watch = await driver.watchName('queue', queued.onEvent);
    const waiting = acquire(driver, session, 'queue', 'waiter data');
    assert.equal(await queued.event, 'changed'); // the waiter's claim is in etcd
    watch.cancel();
    await first.release();
    const second = await waiting;

    // the grant-time stamp is not awaited by the core: arm, then read, then wait for it if it is not in yet
    const stamped = firstEvent();
    const stampWatch = await driver.watchName('queue', stamped.onEvent);
    let [kv] = await raw(`${namespace}/locks/queue/`);
    if (kv!.mod === kv!.create) {
      await stamped.event;
      [kv] = await raw(`${namespace}/locks/queue/`);
    }
    stampWatch.cancel();
    assert.ok(kv!.mod > kv!.create, 'the grant time was written');
    assert.equal(JSON.parse(kv!.value).data, 'waiter data');
    assert.equal((await driver.holders('queue'))[0]?.data, 'waiter data');
    await second.release();

    // forced order: updateData lands before the stamp; the stamp then writes nothing
    const engine = driver.engine;
    const request: ClaimRequest<EtcdSession> = { session, id: engine.claimId(session), name: 'race', mode: 'exclusive', owner, data: 'old' };
    const { claim } = await engine.createClaim(request);
    assert.equal(await engine.updateData(request, claim, 'new'), true);
    const [updated] = await raw(`${namespace}/locks/race/`);
    await engine.granted!(request, claim);
    const [afterStamp] = await raw(`${namespace}/locks/race/`);
    assert.equal(afterStamp!.mod, updated!.mod, 'the stamp after updateData wrote nothing');
    assert.equal(JSON.parse(afterStamp!.value).data, 'new');
    await engine.deleteClaim(request, claim);
  });

  test('watchName: armed on resolve; a create, an updateData and a delete each fire "changed"; other names do not; cancel stops it', async () => {
    const { driver, session } = await open();

    const created = firstEvent();
    let watch = await driver.watchName('a', created.onEvent);
    const lock = await acquire(driver, session, 'a', 'v1');
    assert.equal(await created.event, 'changed');
    watch.cancel();
    watch.cancel(); // twice is harmless

    const updated = firstEvent();
    watch = await driver.watchName('a', updated.onEvent);
    assert.equal(await lock.updateData!('v2'), true);
    assert.equal(await updated.event, 'changed');
    watch.cancel();

    const deleted = firstEvent();
    watch = await driver.watchName('a', deleted.onEvent);
    await lock.release();
    assert.equal(await deleted.event, 'changed');
    watch.cancel();

    // other names, even ones whose keys start like it ("ab", "a/b" encoded "a%2Fb"): nothing
    const quiet = firstEvent();
    watch = await driver.watchName('a', quiet.onEvent);
    const others = await Promise.all([acquire(driver, session, 'ab'), acquire(driver, session, 'a/b'), acquire(driver, session, 'b')]);
    await Promise.all(others.map((o) => o.release()));
    await barrier(driver, session, 'probe-1');
    assert.deepEqual(quiet.events, [], 'a change of another name fired the watch');
    // and it is still armed: the watched name's next change is its first event
    const again = await acquire(driver, session, 'a');
    assert.equal(await quiet.event, 'changed');
    assert.deepEqual(quiet.events, ['changed'], 'one-shot: one event');
    watch.cancel();
    await again.release();

    // cancelled: no callback for a later change
    const cancelled = firstEvent();
    watch = await driver.watchName('a', cancelled.onEvent);
    watch.cancel();
    const late = await acquire(driver, session, 'a');
    await late.release();
    await barrier(driver, session, 'probe-2');
    assert.deepEqual(cancelled.events, []);
  });

  test('updateData on a held lock: true, listed, not a loss; after release or a break: false, nothing written', async () => {
    const { driver, session, namespace } = await open();
    const lock = await acquire(driver, session, 'held', 'v1');
    const losses: string[] = [];
    lock.onLoss((reason, detail) => losses.push(`${reason}: ${detail}`));

    assert.equal(await lock.updateData!('v2'), true);
    assert.equal((await driver.holders('held'))[0]?.data, 'v2');
    assert.equal((await driver.holders('held'))[0]?.token, lock.token);
    // the PUT has reached every watcher of our stream (the delete feed included) before the barrier's event
    await barrier(driver, session, 'probe-held');
    await driver.holders('held'); // and a loss diagnosis, had one started, would have had its round trip
    assert.deepEqual(losses, [], 'updateData was reported as a loss');

    await lock.release();
    assert.equal(await lock.updateData!('v3'), false);
    assert.deepEqual(await raw(`${namespace}/locks/held/`), [], 'updateData after release wrote something');

    // the own-claim watch itself (the engine's watchClaim), and a claim that was broken
    const engine = driver.engine;
    const request: ClaimRequest<EtcdSession> = { session, id: engine.claimId(session), name: 'broken', mode: 'exclusive', owner, data: 'd1' };
    const { claim } = await engine.createClaim(request);
    const own = firstEvent<WatchEvent>();
    const ownWatch = engine.watchClaim(request, claim, undefined, own.onEvent);
    assert.equal(await engine.updateData(request, claim, 'd2'), true);
    await barrier(driver, session, 'probe-own');
    assert.deepEqual(own.events, [], 'the own-claim watch read a data update as an event');
    await driver.break('broken', { reason: 'test', by: 'recipes-test', at: new Date() });
    assert.equal(await engine.updateData(request, claim, 'd3'), false);
    assert.deepEqual(await raw(`${namespace}/locks/broken/`), [], 'updateData after the break wrote something');
    assert.equal(await own.event, 'gone'); // the break's DELETE is what it reports
    ownWatch.cancel();
  });

  test('hostile records: a non-string or oversized data field is listed without data', async () => {
    const { driver, namespace } = await open();
    const lease = await etcdRequest(endpoint, '/v3/lease/grant', { TTL: 60 });
    cleanup.push(() => etcdRequest(endpoint, '/v3/lease/revoke', { ID: lease.ID }));
    const hex = BigInt(lease.ID).toString(16);
    const record = (data: unknown): string => JSON.stringify({ id: 'other', host: 'elsewhere', pid: 1, since: new Date().toISOString(), data });
    const values: Array<[string, string]> = [
      ['number', record(42)],
      ['object', record({ value: 'x' })],
      ['oversized', record('x'.repeat(4097))],
      ['fits', record('é'.repeat(2048))], // 4096 bytes of UTF-8: kept
      ['not-json', '{"data":'],
    ];
    for (const [name, value] of values) {
      // shared claims, so that every one is a holder
      await etcdRequest(endpoint, '/v3/kv/put', { key: b64(`${namespace}/locks/${name}/${hex}-1-s`), value: b64(value), lease: lease.ID });
    }
    const listed = await driver.list('');
    assert.deepEqual(listed.map((i) => i.name).sort(), values.map(([name]) => name).sort());
    for (const info of listed) {
      if (info.name === 'fits') assert.equal(info.data, 'é'.repeat(2048));
      else assert.ok(!('data' in info), `${info.name}: listed with data ${JSON.stringify(info.data)}`);
    }
  });
});
