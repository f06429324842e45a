/**
 * The recipe primitives of the redis driver on a real server: recipe data in
 * the holder record (and a plain lock's record unchanged), watchName on the
 * name's channel, updateData conditional on the grant, and records written by
 * someone else.
 *
 * Proving that a watch did NOT fire: messages reach the one pub/sub connection
 * in the order the scripts published them, so a second watch (on a probe name)
 * whose event we await is delivered after anything the first could have got.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import createDriver from '../../src/drivers/redis/index.js';
import type { RedisDriver } from '../../src/drivers/redis/driver.js';
import type { RedisSession } from '../../src/drivers/redis/session.js';
import type { ClaimRequest, NameEvent } from '../../src/core/engine.js';
import type { LockOwner } from '../../src/contracts/lock-info.js';
import type { DriverLock } from '../../src/distributed/driver.js';
import { requireServer, startRedis, type RedisHandle } from '../harness/index.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';
import { lossSignal } from '../support/loss-signal.js';

const requirement = requireServer('redis', { suite: 'redis recipes' });
const owner: LockOwner = { id: 'recipes', host: 'localhost', pid: process.pid };
const OWNER_JSON = JSON.stringify({ id: owner.id, host: owner.host, pid: owner.pid });
let namespaces = 0;

type T = { after(fn: () => unknown): void };

interface Fixture {
  ns: string;
  driver: RedisDriver;
  session: RedisSession;
}

/** A driver on a fresh namespace and one session on it, closed when the test ends. */
async function fixture(t: T, url: string): Promise<Fixture> {
  const ns = `recipes-${process.pid}-${++namespaces}`;
  const options = { namespace: ns, connectTimeout: CONNECT_TIMEOUT_MS, ttl: STEADY_TTL_MS, endpoints: [], signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS) };
  const driver = (await createDriver(new URL(url), options)) as RedisDriver;
  const session = await driver.openSession(STEADY_TTL_MS, owner);
  t.after(async () => {
    await session.revoke().catch(() => {});
    await driver.close();
  });
  return { ns, driver, session };
}

function acquire(f: Fixture, name: string, mode: 'exclusive' | 'shared' = 'exclusive', data?: string): Promise<DriverLock> {
  const request = { session: f.session, name, mode, owner, ...(data !== undefined && { data }) };
  return f.driver.acquire(request, AbortSignal.timeout(EVENT_BOUND_MS));
}

/** An engine-level claim attempt (for updateData after the held lock is gone, which the core would not send). */
function attempt(f: Fixture, name: string, mode: 'exclusive' | 'shared', data?: string): ClaimRequest<RedisSession> {
  const request = { session: f.session, id: f.driver.engine.claimId(f.session), name, mode, owner };
  return data === undefined ? request : { ...request, data };
}

/** An armed watch of `name`: its first event (awaited within a bound), and every callback it made. */
async function watch(f: Fixture, name: string): Promise<{ first(): Promise<NameEvent>; calls: NameEvent[]; cancel(): void }> {
  const calls: NameEvent[] = [];
  let resolve!: (event: NameEvent) => void;
  const first = new Promise<NameEvent>((r) => (resolve = r));
  const w = await f.driver.watchName(name, (event) => {
    calls.push(event);
    resolve(event);
  });
  return { first: () => bounded(first, `an event for "${name}"`), calls, cancel: () => w.cancel() };
}

function bounded<V>(promise: Promise<V>, what: string): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`nothing (${what}) within ${EVENT_BOUND_MS} ms`)), EVENT_BOUND_MS)));
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Make a change on a probe name and await its watch's event: every message published before it has been delivered. */
async function flush(f: Fixture): Promise<void> {
  const probe = await watch(f, 'probe');
  const lock = await acquire(f, 'probe');
  assert.equal(await probe.first(), 'changed');
  probe.cancel();
  await lock.release();
}

/** The stored record `token|sid|claim|since|owner JSON`, split. */
function fields(raw: unknown): { head: string; owner: string } {
  assert.equal(typeof raw, 'string');
  const match = /^(\d+\|[0-9a-f]+\|[0-9a-z]+\|\d+)\|(.*)$/s.exec(raw as string);
  assert.ok(match, `a holder record: ${String(raw)}`);
  return { head: match[1]!, owner: match[2]! };
}

describe('redis: recipe primitives', { skip: requirement.available ? false : requirement.reason }, () => {
  let redis: RedisHandle;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  test('the capabilities say recipes', { timeout: HANG_GUARD_MS }, async (t) => {
    const f = await fixture(t, redis.url);
    assert.equal(f.driver.capabilities.recipes, true);
  });

  test('claims made with data list it, exclusive and shared, granted at once, by try, or after a wait; a plain record is unchanged', { timeout: HANG_GUARD_MS }, async (t) => {
    const f = await fixture(t, redis.url);
    const data = 'leader at 10.0.0.7 | "quoted" \u00e9\u{1F512}';
    const leader = await acquire(f, 'election', 'exclusive', data);
    assert.deepEqual((await f.driver.holders('election')).map((h) => h.data), [data]);

    const plain = await acquire(f, 'plain');
    const [info] = await f.driver.holders('plain');
    assert.ok(info !== undefined && !('data' in info), 'a plain claim lists no data field');
    // byte for byte the record every deadbolt version writes: the owner JSON has exactly id, host, pid
    const plainRecord = fields(await redis.command(['GET', `${f.ns}:lock:plain`]));
    assert.equal(plainRecord.owner, OWNER_JSON);
    assert.ok(plainRecord.head.startsWith(`${plain.token}|${f.session.id}|`));
    const dataRecord = fields(await redis.command(['GET', `${f.ns}:lock:election`]));
    assert.equal(dataRecord.owner, `${OWNER_JSON.slice(0, -1)},"data":${JSON.stringify(data)}}`, 'data is one more field of the owner JSON');

    // a group: shared holders of one name, each with its own data (one of them by the try path)
    const members = [await acquire(f, 'group', 'shared', 'member-1'), await f.driver.tryAcquire({ session: f.session, name: 'group', mode: 'shared', owner, data: 'member-2' })];
    assert.ok(members[1] !== undefined);
    const listed = await f.driver.holders('group');
    assert.deepEqual(listed.map((h) => h.data).sort(), ['member-1', 'member-2']);
    const plainMember = await acquire(f, 'group', 'shared');
    const rinfo = (await redis.command(['HVALS', `${f.ns}:rinfo:group`])) as string[];
    assert.equal(rinfo.filter((record) => fields(record).owner === OWNER_JSON).length, 1, 'the plain reader record is unchanged');
    assert.equal((await f.driver.holders('group')).filter((h) => !('data' in h)).length, 1);

    // a candidate that waited: its data is in the record its grant wrote
    const candidate = acquire(f, 'election', 'exclusive', 'candidate-2');
    await leader.release();
    const next = await candidate;
    assert.deepEqual((await f.driver.holders('election')).map((h) => [h.token, h.data]), [[next.token, 'candidate-2']]);

    for (const lock of [plain, ...members, plainMember, next]) await lock!.release();
  });

  test('watchName: a create, a queued claim, an update, a release, a withdrawal and a break each fire changed once armed', { timeout: HANG_GUARD_MS }, async (t) => {
    const f = await fixture(t, redis.url);
    let w = await watch(f, 'watched');
    const held = await acquire(f, 'watched', 'exclusive', 'v1');
    assert.equal(await w.first(), 'changed', 'create');
    w.cancel();

    w = await watch(f, 'watched');
    const aborter = new AbortController();
    const waiting = f.driver.acquire({ session: f.session, name: 'watched', mode: 'exclusive', owner }, aborter.signal);
    assert.equal(await w.first(), 'changed', 'a waiting claim queued');
    w.cancel();

    w = await watch(f, 'watched');
    aborter.abort();
    await assert.rejects(waiting);
    assert.equal(await w.first(), 'changed', 'the waiting claim withdrawn');
    w.cancel();

    w = await watch(f, 'watched');
    assert.equal(await held.updateData!('v2'), true);
    assert.equal(await w.first(), 'changed', 'updateData');
    w.cancel();

    w = await watch(f, 'watched');
    await held.release();
    assert.equal(await w.first(), 'changed', 'release');
    w.cancel();

    const stuck = await acquire(f, 'watched', 'shared', 'm');
    w = await watch(f, 'watched');
    assert.equal((await f.driver.break('watched', { reason: 'recipes test', by: 'tester', at: new Date() })).length, 1);
    assert.equal(await w.first(), 'changed', 'break');
    w.cancel();
    await stuck.release(); // already broken: deletes nothing
    assert.deepEqual(w.calls, ['changed'], 'one-shot: one callback');
  });

  test('watchName: a change of another name does not fire; cancel stops callbacks, twice is harmless', { timeout: HANG_GUARD_MS }, async (t) => {
    const f = await fixture(t, redis.url);
    const w = await watch(f, 'mine');
    const other = await acquire(f, 'other', 'exclusive', 'x');
    assert.equal(await other.updateData!('y'), true);
    await other.release();
    await acquire(f, 'mine-but-longer').then((lock) => lock.release()); // a name the watched one is a prefix of
    await flush(f);
    assert.deepEqual(w.calls, [], 'nothing for other names');
    const mine = await acquire(f, 'mine');
    assert.equal(await w.first(), 'changed');
    w.cancel();

    const cancelled = await watch(f, 'mine');
    cancelled.cancel();
    cancelled.cancel();
    await mine.release();
    await flush(f);
    assert.deepEqual(cancelled.calls, [], 'no callback after cancel');
  });

  test('watchName: a pub/sub reconnection reports uncertain', { timeout: HANG_GUARD_MS }, async (t) => {
    const f = await fixture(t, redis.url);
    const w = await watch(f, 'dropped');
    await redis.command(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    assert.equal(await w.first(), 'uncertain');
    w.cancel();
    // armed again, the watch hears changes on the new connection
    const again = await watch(f, 'dropped');
    const lock = await acquire(f, 'dropped');
    assert.equal(await again.first(), 'changed');
    again.cancel();
    await lock.release();
  });

  test('two watches of one name in one process each hear the change; cancelling one keeps the other', { timeout: HANG_GUARD_MS }, async (t) => {
    const f = await fixture(t, redis.url);
    const a = await watch(f, 'shared-channel');
    const b = await watch(f, 'shared-channel');
    a.cancel();
    const lock = await acquire(f, 'shared-channel');
    assert.equal(await b.first(), 'changed');
    b.cancel();
    await flush(f);
    assert.deepEqual(a.calls, []);
    await lock.release();
  });

  test('updateData on a held lock: true, listed, not a loss; after release or a break: false, nothing written', { timeout: HANG_GUARD_MS }, async (t) => {
    const f = await fixture(t, redis.url);
    for (const mode of ['exclusive', 'shared'] as const) {
      const name = `held-${mode}`;
      const lock = await acquire(f, name, mode, 'v1');
      const losses: string[] = [];
      lock.onLoss((reason) => losses.push(reason));
      const w = await watch(f, name);
      assert.equal(await lock.updateData!('v2'), true);
      assert.equal(await w.first(), 'changed');
      w.cancel();
      assert.deepEqual((await f.driver.holders(name)).map((h) => [h.token, h.data]), [[lock.token, 'v2']]);
      // the keepalive is what finds a lost grant on Redis: one round trip after the update renews it
      await f.session.keepAlive();
      await flush(f);
      assert.deepEqual(losses, [], `${mode}: the update is not a loss`);
      assert.equal(lossSignal(lock).aborted, false);
      await lock.release();
    }

    // the engine's conditional write itself (the held lock would not ask once released)
    for (const mode of ['exclusive', 'shared'] as const) {
      const name = `gone-${mode}`;
      const request = attempt(f, name, mode, 'v1');
      const { claim } = await f.driver.engine.createClaim(request);
      assert.ok(claim.token > 0n, 'granted');
      assert.equal(await f.driver.engine.updateData(request, claim, 'v2'), true);
      await f.driver.engine.deleteClaim(request, claim);
      // the departure record is kept off the lock key, which is left free (a foreign SET NX may take it)
      const tombstone = await redis.command(['GET', `${f.ns}:last:${name}`]);
      assert.equal(tombstone, `released|${claim.token}`);
      assert.equal(await redis.command(['EXISTS', `${f.ns}:lock:${name}`]), 0, `${mode}: the lock key is gone`);
      assert.equal(await f.driver.engine.updateData(request, claim, 'v3'), false, `${mode}: released`);
      assert.equal(await redis.command(['GET', `${f.ns}:last:${name}`]), tombstone, 'nothing written');
      assert.equal(await redis.command(['EXISTS', `${f.ns}:lock:${name}`]), 0, 'nothing written');
      assert.equal(await redis.command(['HLEN', `${f.ns}:rinfo:${name}`]), 0);
      assert.deepEqual(await f.driver.holders(name), []);
    }

    const request = attempt(f, 'broken', 'exclusive', 'v1');
    const { claim } = await f.driver.engine.createClaim(request);
    await f.driver.break('broken', { reason: 'recipes test', by: 'tester', at: new Date() });
    const tombstone = await redis.command(['GET', `${f.ns}:last:broken`]);
    assert.match(String(tombstone), /^broken\|/);
    assert.equal(await f.driver.engine.updateData(request, claim, 'v2'), false, 'broken');
    assert.equal(await redis.command(['GET', `${f.ns}:last:broken`]), tombstone, 'nothing written');
    assert.equal(await redis.command(['EXISTS', `${f.ns}:lock:broken`]), 0, 'nothing written');
    // a grant of someone else with our claim's name but another token is not ours to rewrite
    const successor = await acquire(f, 'broken', 'exclusive', 'theirs');
    assert.equal(await f.driver.engine.updateData(request, claim, 'v3'), false);
    assert.deepEqual((await f.driver.holders('broken')).map((h) => h.data), ['theirs']);
    await successor.release();
    await f.driver.engine.deleteClaim(request, claim);
  });

  test('records written by someone else: a data field that is not a string of at most 4096 bytes is dropped, the claim still listed', { timeout: HANG_GUARD_MS }, async (t) => {
    const f = await fixture(t, redis.url);
    const record = (token: number, member: string, ownerJson: string): string => `${token}|feedbeef|${member}|1700000000000|${ownerJson}`;
    const hostile: [string, string][] = [
      ['number', `${OWNER_JSON.slice(0, -1)},"data":42}`],
      ['object', `${OWNER_JSON.slice(0, -1)},"data":{"a":1}}`],
      ['too-long', `${OWNER_JSON.slice(0, -1)},"data":${JSON.stringify('a'.repeat(4097))}}`],
      ['too-many-bytes', `${OWNER_JSON.slice(0, -1)},"data":${JSON.stringify('\u00e9'.repeat(2049))}}`],
      ['not-json', 'not json {"data":"x"}'],
    ];
    let token = 100;
    for (const [name, ownerJson] of hostile) {
      await redis.command(['SET', `${f.ns}:lock:${name}`, record(++token, '1', ownerJson), 'PX', 60_000]);
      const listed = await f.driver.holders(name);
      assert.equal(listed.length, 1, `${name}: listed`);
      assert.ok(!('data' in listed[0]!), `${name}: without data`);
      assert.equal(listed[0]!.token, BigInt(token));
    }
    // exactly 4096 bytes is kept
    await redis.command(['SET', `${f.ns}:lock:max`, record(++token, '1', `${OWNER_JSON.slice(0, -1)},"data":${JSON.stringify('\u00e9'.repeat(2048))}}`), 'PX', 60_000]);
    assert.equal((await f.driver.holders('max'))[0]?.data, '\u00e9'.repeat(2048));

    // a shared holder's record in rinfo, read by the same decoder
    await redis.command(['SET', `${f.ns}:lock:readers`, 'shared']);
    await redis.command(['ZADD', `${f.ns}:readers:readers`, Date.now() + 60_000, 'feedbeef|1']);
    await redis.command(['HSET', `${f.ns}:rinfo:readers`, 'feedbeef|1', record(++token, '1', `${OWNER_JSON.slice(0, -1)},"data":[1,2]}`)]);
    const [reader] = await f.driver.holders('readers');
    assert.ok(reader !== undefined && !('data' in reader));
    assert.equal(reader.owner.id, owner.id, 'the owner still reads');
  });
});
