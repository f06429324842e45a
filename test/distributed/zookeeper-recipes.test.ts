/**
 * The recipe primitives of the ZooKeeper engine on a real standalone ZooKeeper:
 * data stored with a claim (and a plain lock's record unchanged), watchName
 * (a children watch plus a data watch per claim), updateData (one conditional
 * setData that the claim's own watch does not read as a loss), and foreign
 * records listed without their data. Driven through the RecipeDriver, with a
 * raw client of its own for what is stored.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { LockOwner } from '../../src/contracts/lock-info.js';
import type { NameEvent } from '../../src/core/engine.js';
import type { DriverLock } from '../../src/distributed/driver.js';
import type { LossReason } from '../../src/errors.js';
import { ZkClient, zxid } from '../../src/drivers/zookeeper/client.js';
import { parseZooKeeperUrl, type ZooKeeperConfig } from '../../src/drivers/zookeeper/config.js';
import { ZooKeeperDriver } from '../../src/drivers/zookeeper/driver.js';
import { encodeHolder } from '../../src/drivers/zookeeper/record.js';
import type { ZkSession } from '../../src/drivers/zookeeper/session.js';
import { bounded } from '../conformance/harness.js';
import { requireServer, startZooKeeper, type ZooKeeperHandle } from '../harness/index.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';

const server = requireServer('zookeeper', { suite: 'zookeeper recipes' });
const owner: LockOwner = { id: 'recipes-test', host: 'test-host', pid: 4242 };
let namespaces = 0;

/** A name watch's events, and a promise of the next one. */
class Watched {
  readonly events: NameEvent[] = [];
  #waiters: Array<(event: NameEvent) => void> = [];
  readonly onEvent = (event: NameEvent): void => {
    this.events.push(event);
    for (const waiter of this.#waiters.splice(0)) waiter(event);
  };
  next(what: string): Promise<NameEvent> {
    if (this.events.length > 0) return Promise.resolve(this.events[0]!);
    return bounded(new Promise<NameEvent>((resolve) => this.#waiters.push(resolve)), EVENT_BOUND_MS, what);
  }
}

describe('zookeeper recipes', { skip: server.available ? false : server.reason, timeout: HANG_GUARD_MS }, () => {
  let zookeeper: ZooKeeperHandle;
  let config: ZooKeeperConfig;
  let control: ZkClient;
  const drivers: ZooKeeperDriver[] = [];

  /** A driver and a session on its first client (the one its listings and name watches use). */
  const open = async (namespace: string): Promise<{ driver: ZooKeeperDriver; session: ZkSession }> => {
    const driver = await ZooKeeperDriver.connect(config, namespace, STEADY_TTL_MS);
    drivers.push(driver);
    return { driver, session: await driver.openSession(STEADY_TTL_MS, owner) };
  };
  const acquire = (driver: ZooKeeperDriver, session: ZkSession, name: string, data?: string): Promise<DriverLock> =>
    driver.acquire(data === undefined ? { session, name, mode: 'exclusive', owner } : { session, name, mode: 'exclusive', owner, data }, new AbortController().signal);
  /** The data of the claim nodes of `name`, as stored. */
  const stored = async (namespace: string, name: string): Promise<string[]> => {
    const dir = `/${namespace}/locks/${encodeURIComponent(name)}`;
    const children = await control.getChildren(dir).catch(() => [] as string[]);
    return Promise.all(children.map(async (child) => (await control.getData(`${dir}/${child}`)).data?.toString('utf8') ?? ''));
  };
  /** Arm a name watch and resolve once it is armed. */
  const watch = async (driver: ZooKeeperDriver, name: string): Promise<Watched & { cancel(): void }> => {
    const watched = new Watched();
    const handle = await driver.watchName(name, watched.onEvent);
    return Object.assign(watched, { cancel: () => handle.cancel() });
  };

  before(async () => {
    zookeeper = await startZooKeeper();
    config = parseZooKeeperUrl(new URL(zookeeper.url), { endpoints: [], connectTimeout: CONNECT_TIMEOUT_MS });
    control = await ZkClient.open(config, STEADY_TTL_MS);
  });
  after(async () => {
    await Promise.allSettled(drivers.map((d) => d.close()));
    await control?.close();
    await zookeeper?.stop();
  });

  test('data is stored with the claim and listed; a plain lock has none, and its record is byte for byte the old one', async () => {
    const namespace = `data-${process.pid}-${++namespaces}`;
    const { driver, session } = await open(namespace);
    const recipe = await acquire(driver, session, 'leader', 'leader at 10.0.0.7 ✓');
    const plain = await acquire(driver, session, 'plain');
    const [withData] = await driver.holders('leader');
    assert.equal(withData?.data, 'leader at 10.0.0.7 ✓');
    assert.equal(withData?.token, recipe.token);
    const [without] = await driver.holders('plain');
    assert.equal(without?.token, plain.token);
    assert.equal('data' in without!, false, 'a plain claim has no data field');
    assert.deepEqual((await driver.list('')).map((h) => [h.name, h.data]), [['leader', 'leader at 10.0.0.7 ✓'], ['plain', undefined]]);
    // What is stored: a plain lock's record is exactly what older versions wrote; a recipe's adds one field.
    const ttl = session.ttlMs;
    assert.deepEqual(await stored(namespace, 'plain'), [`{"id":"recipes-test","host":"test-host","pid":4242,"ttlMs":${ttl}}`]);
    assert.deepEqual(await stored(namespace, 'plain'), [encodeHolder(owner, ttl).toString('utf8')]);
    assert.deepEqual(await stored(namespace, 'leader'), [`{"id":"recipes-test","host":"test-host","pid":4242,"ttlMs":${ttl},"data":"leader at 10.0.0.7 ✓"}`]);
    await recipe.release();
    await plain.release();
  });

  test('tryAcquire stores the data too', async () => {
    const namespace = `try-${process.pid}-${++namespaces}`;
    const { driver, session } = await open(namespace);
    const lock = await driver.tryAcquire({ session, name: 'member', mode: 'shared', owner, data: 'm1' });
    assert.ok(lock !== undefined);
    assert.deepEqual((await driver.holders('member')).map((h) => h.data), ['m1']);
    await lock.release();
  });

  test('watchName: a create (lock node absent, then present), a delete and an updateData each fire "changed"', async () => {
    const namespace = `watch-${process.pid}-${++namespaces}`;
    const observer = await open(namespace);
    const actor = await open(namespace);
    const name = 'election';

    let w = await watch(observer.driver, name); // the lock node does not exist yet: an exists watch
    const first = await acquire(actor.driver, actor.session, name, 'a');
    assert.equal(await w.next('create in an absent lock node'), 'changed');
    w.cancel();

    w = await watch(observer.driver, name);
    const waiting = acquire(actor.driver, actor.session, name, 'b'); // a second claim, waiting
    assert.equal(await w.next('create of a waiting claim'), 'changed');
    w.cancel();

    w = await watch(observer.driver, name);
    assert.equal(await first.updateData!('a2'), true);
    assert.equal(await w.next('updateData'), 'changed');
    w.cancel();
    assert.deepEqual((await observer.driver.holders(name)).map((h) => h.data), ['a2']);

    w = await watch(observer.driver, name);
    await first.release();
    assert.equal(await w.next('delete'), 'changed');
    w.cancel();

    const second = await bounded(waiting, EVENT_BOUND_MS, 'the waiting claim granted');
    assert.equal(second.predecessor?.outcome, 'released', "the waiter's watch took the data change in its stride");
    w = await watch(observer.driver, name);
    assert.equal(await second.updateData!('b2'), true); // a data watch set on a claim that existed at arming
    assert.equal(await w.next('updateData of the second claim'), 'changed');
    w.cancel();
    await second.release();
  });

  test('watchName: a change of another name does not fire; cancel stops callbacks (twice is harmless)', async () => {
    const namespace = `other-${process.pid}-${++namespaces}`;
    const observer = await open(namespace);
    const actor = await open(namespace);
    const held = await acquire(actor.driver, actor.session, 'watched', 'x');

    const cancelled = await watch(observer.driver, 'watched');
    cancelled.cancel();
    cancelled.cancel();
    const w = await watch(observer.driver, 'watched');
    // Another name: a create, an update, a delete.
    const other = await acquire(actor.driver, actor.session, 'watched-not', 'y');
    assert.equal(await other.updateData!('y2'), true);
    await other.release();
    // ZooKeeper delivers a watch event before any later answer on the same connection: after this round trip
    // on the watching client, an event for the other name's changes would have been seen.
    await observer.session.client.exists('/');
    assert.deepEqual(w.events, [], 'nothing for another name');
    assert.equal(await held.updateData!('x2'), true); // sets the same server watch both watches registered
    assert.equal(await w.next('the watched name changed'), 'changed');
    await observer.session.client.exists('/');
    assert.deepEqual(w.events, ['changed'], 'one event: the one-shot watch');
    assert.deepEqual(cancelled.events, [], 'a cancelled watch never calls back');
    w.cancel();
    await held.release();
  });

  test("watchName: the watching client's session ending is 'uncertain'; a fresh watch uses another client", async () => {
    const namespace = `uncertain-${process.pid}-${++namespaces}`;
    const observer = await open(namespace); // its session owns the client that name watches use
    const other = await observer.driver.openSession(STEADY_TTL_MS, owner);
    const w = await watch(observer.driver, 'x');
    await observer.session.revoke();
    assert.equal(await w.next('session end'), 'uncertain');
    w.cancel();
    const again = await watch(observer.driver, 'x');
    const lock = await acquire(observer.driver, other, 'x');
    assert.equal(await again.next('create, watched on the remaining client'), 'changed');
    again.cancel();
    await lock.release();
  });

  test('watchName re-armed after every update (an observer of a proclaiming leader) adds no client listener per arming', async () => {
    const namespace = `rearm-${process.pid}-${++namespaces}`;
    const { driver, session } = await open(namespace);
    const lock = await acquire(driver, session, 'leader', 'v0');
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      for (let i = 1; i <= 15; i++) {
        const watched = await watch(driver, 'leader'); // the lock node's children watch is still outstanding: joined, not added
        assert.equal(await lock.updateData!(`v${i}`), true);
        assert.equal(await watched.next(`update ${i} seen`), 'changed');
        watched.cancel();
      }
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      assert.deepEqual(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')), [], 'no listener pile-up on the lock node');
      const created = await watch(driver, 'leader'); // the shared children watch still fires for a new claim
      const second = driver.acquire({ session, name: 'leader', mode: 'exclusive', owner }, new AbortController().signal);
      assert.equal(await created.next('a new claim seen'), 'changed');
      created.cancel();
      await lock.release();
      await (await second).release();
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('updateData on a held lock: true, listed, never a loss; the own watch still reports a break; after release or break it writes nothing', async () => {
    const namespace = `update-${process.pid}-${++namespaces}`;
    const { driver, session } = await open(namespace);
    const lock = await acquire(driver, session, 'job', 'v1');
    let loss: [LossReason, string] | undefined;
    let lossSeen: () => void = () => {};
    const lost = new Promise<void>((resolve) => (lossSeen = resolve));
    lock.onLoss((reason, detail) => {
      loss = [reason, detail];
      lossSeen();
    });
    for (const value of ['v2', 'v3']) {
      assert.equal(await lock.updateData!(value), true);
      assert.deepEqual((await driver.holders('job')).map((h) => h.data), [value]);
    }
    // The own watch's NodeDataChanged came before the setData's answer (same connection), and its re-arm before this one.
    await session.client.exists('/');
    assert.equal(loss, undefined, 'a data update is not a loss');
    // The own watch was set again: a break is still reported.
    await driver.break('job', { reason: 'test', by: 'recipes-test', at: new Date() });
    await bounded(lost, EVENT_BOUND_MS, 'the break reported');
    assert.equal(loss?.[0], 'broken');
    assert.equal(await lock.updateData!('v4'), false);
    await lock.release();
    assert.deepEqual(await stored(namespace, 'job'), [], 'nothing written after the break');

    // A release after updates deletes the claim (deletes follow the version updates moved on).
    const again = await acquire(driver, session, 'job', 'w1');
    assert.equal(await again.updateData!('w2'), true);
    await again.release();
    assert.deepEqual(await stored(namespace, 'job'), [], 'released after an update');
    assert.equal(await again.updateData!('w3'), false);
  });

  test('engine.updateData: conditional on the claim, false and nothing written once it is deleted or broken', async () => {
    const namespace = `engine-${process.pid}-${++namespaces}`;
    const { driver, session } = await open(namespace);
    const { engine } = driver;
    const request = { session, id: engine.claimId(session), name: 'n', mode: 'exclusive' as const, owner, data: 'd1' };
    const { claim } = await engine.createClaim(request);
    assert.equal(await engine.updateData(request, claim, 'd2'), true);
    assert.equal(await engine.updateData(request, claim, 'd3'), true, 'the version moves on with each update');
    assert.deepEqual((await driver.holders('n')).map((h) => h.data), ['d3']);
    await engine.deleteClaim(request, claim);
    assert.deepEqual(await stored(namespace, 'n'), [], 'deleted at the version the updates left');
    assert.equal(await engine.updateData(request, claim, 'd4'), false);
    assert.deepEqual(await stored(namespace, 'n'), [], 'nothing written');

    const broken = { ...request, id: engine.claimId(session) };
    const created = await engine.createClaim(broken);
    await driver.break('n', { reason: 'test', by: 'recipes-test', at: new Date() });
    assert.equal(await engine.updateData(broken, created.claim, 'd5'), false);
    assert.deepEqual(await stored(namespace, 'n'), [], 'nothing written after the break');

    // Someone else moved our node's version: taken only because it is still our claim (its czxid).
    const moved = { ...request, id: engine.claimId(session) };
    const made = await engine.createClaim(moved);
    await control.setData(made.claim.path, encodeHolder(owner, session.ttlMs, 'foreign'), -1);
    assert.equal(await engine.updateData(moved, made.claim, 'd6'), true);
    assert.deepEqual(await stored(namespace, 'n'), [encodeHolder(owner, session.ttlMs, 'd6').toString('utf8')]);
    assert.equal(zxid((await control.getData(made.claim.path)).stat.czxid), made.claim.token);
    await engine.deleteClaim(moved, made.claim);
    assert.deepEqual(await stored(namespace, 'n'), []);
  });

  test('hostile data: a record with a non-string or oversized data field is listed without data', async () => {
    const namespace = `hostile-${process.pid}-${++namespaces}`;
    const { driver } = await open(namespace);
    const record = (data: unknown): Buffer => Buffer.from(JSON.stringify({ id: 'intruder', host: 'h', pid: 1, ttlMs: STEADY_TTL_MS, data }));
    const cases: Array<[string, Buffer, string | undefined]> = [
      ['number', record(42), undefined],
      ['object', record({ value: 'x' }), undefined],
      ['oversized', record('x'.repeat(4_097)), undefined],
      ['oversized-utf8', record('é'.repeat(2_049)), undefined], // 4 098 bytes, 2 049 characters
      ['at-limit', record('é'.repeat(2_048)), 'é'.repeat(2_048)],
      ['not-json', Buffer.from('{"data": "unterminated'), undefined],
    ];
    for (const [name, data] of cases) {
      const dir = `/${namespace}/locks/${name}`;
      await control.mkdirp(dir);
      await control.create(`${dir}/${randomUUID()}-write-`, data, 'ephemeralSequential');
    }
    for (const [name, , expected] of cases) {
      const holders = await driver.holders(name);
      assert.equal(holders.length, 1, name);
      if (expected === undefined) assert.equal('data' in holders[0]!, false, name);
      else assert.equal(holders[0]!.data, expected, name);
    }
    assert.equal((await driver.holders('number'))[0]!.owner.id, 'intruder');
  });
});
