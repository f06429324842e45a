/**
 * The core's listings, surveys and breaks (src/core/listing.ts,
 * break-lock.ts), once for every engine: on stub scans (to pin down each rule)
 * and on the fake engine under RecipeDriver (holders displaced for real).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackendError, HolderChangedError, LockLostError } from '../../../src/errors.js';
import { breakLock } from '../../../src/core/break-lock.js';
import { describe, listHolders, nameHolders, queues, surveyLocks } from '../../../src/core/listing.js';
import { RecipeDriver } from '../../../src/core/recipe-driver.js';
import type { LeaseState, Scan, ScannedClaim, ScanScope } from '../../../src/core/scan.js';
import type { BreakRecord } from '../../../src/distributed/driver.js';
import { FakeEngine, owner } from '../../support/fake-engine.js';
import { lossSignal } from '../../support/loss-signal.js';

const who = { id: 'w', host: 'h', pid: 1 };
const c = (name: string, order: number, mode: 'exclusive' | 'shared', extra: Partial<ScannedClaim> = {}): ScannedClaim => ({
  name,
  order: BigInt(order),
  token: BigInt(order),
  mode,
  owner: who,
  since: new Date(order),
  ...extra,
});

/** A scanner that answers every scan with `claims` (its own scope filter left out on purpose: the core's must hold). */
function stub(claims: ScannedClaim[], extra: { breaks?: Scan<ScannedClaim>['breaks']; leaseState?: (lease: string) => Promise<LeaseState | undefined> } = {}) {
  const scopes: ScanScope[] = [];
  const broke: Array<{ name: string; holders: readonly ScannedClaim[]; record: BreakRecord }> = [];
  return {
    scopes,
    broke,
    backend: 'stub',
    answers: [] as boolean[],
    async scan(scope: ScanScope): Promise<Scan<ScannedClaim>> {
      scopes.push(scope);
      return { claims, ...(extra.breaks !== undefined && { breaks: extra.breaks }) };
    },
    ...(extra.leaseState !== undefined && { leaseState: extra.leaseState }),
    async breakHolders(name: string, holders: readonly ScannedClaim[], record: BreakRecord): Promise<boolean> {
      broke.push({ name, holders, record });
      return this.answers.shift() ?? true;
    },
  };
}

test('queues: the blocker rule per name, names sorted, names out of scope dropped', () => {
  const claims = [c('a', 4, 'shared'), c('a', 1, 'shared'), c('b', 9, 'exclusive'), c('a', 3, 'exclusive'), c('a', 2, 'shared'), c('zz', 5, 'exclusive')];
  const got = queues(claims, { prefix: '', exact: false, survey: true }).map((q) => ({ name: q.name, holders: q.holders.map((h) => h.order), waiters: q.waiters.map((w) => w.order) }));
  assert.deepEqual(got, [
    { name: 'a', holders: [1n, 2n], waiters: [3n, 4n] },
    { name: 'b', holders: [9n], waiters: [] },
    { name: 'zz', holders: [5n], waiters: [] },
  ]);
  assert.deepEqual(queues(claims, { prefix: 'z', exact: false, survey: false }).map((q) => q.name), ['zz']);
  assert.deepEqual(queues([...claims, c('ab', 1, 'exclusive')], { prefix: 'a', exact: true, survey: false }).map((q) => q.name), ['a'], 'an exact scope is one name, not a prefix');
});

test('queues: an engine that gives the server\'s verdict (held) is trusted over the rule', () => {
  // Redis: the queue is the server's; a waiter's order is its place, and a shared holder may be younger than a waiter
  const claims = [c('a', 1, 'exclusive', { held: false }), c('a', 7, 'shared', { held: true }), c('a', 8, 'shared', { held: true })];
  const [a] = queues(claims, { prefix: 'a', exact: true, survey: true });
  assert.deepEqual(a!.holders.map((h) => h.order), [7n, 8n]);
  assert.deepEqual(a!.waiters.map((w) => w.order), [1n]);
});

test('describe: expiry from the scan, else one lease lookup per distinct lease among holders; a failed lookup leaves it out', async () => {
  const asked: string[] = [];
  const engine = stub([], {
    leaseState: async (lease) => {
      asked.push(lease);
      if (lease === 'bad') throw new Error('lookup failed');
      return lease === 'gone' ? undefined : { leftMs: 4_000, ttlMs: 10_000 };
    },
  });
  const before = Date.now();
  const infos = await describe(engine, [
    c('a', 1, 'shared', { lease: 'L' }),
    c('a', 2, 'shared', { lease: 'L' }),
    c('b', 3, 'exclusive', { lease: 'bad' }),
    c('c', 4, 'exclusive', { lease: 'gone' }),
    c('d', 5, 'exclusive', { expiresAt: new Date(99), ttlMs: 7, lease: 'never-asked' }),
    c('e', 6, 'exclusive', { since: undefined }),
  ]);
  assert.deepEqual(asked.sort(), ['L', 'bad', 'gone']);
  assert.ok(infos[0]!.expiresAt!.getTime() >= before + 4_000 && infos[0]!.ttlMs === 10_000);
  assert.equal(infos[2]!.expiresAt, undefined);
  assert.equal('expiresAt' in infos[3]!, false);
  assert.deepEqual([infos[4]!.expiresAt, infos[4]!.ttlMs], [new Date(99), 7]);
  assert.deepEqual(infos[5], { name: 'e', mode: 'exclusive', token: 6n, owner: who, since: new Date(0), backend: 'stub' });
});

test('list, holders and survey: one scan each, with the scope the engine may use', async () => {
  const record: BreakRecord = { reason: 'stuck', by: 'ops', at: new Date(5), displaced: [] };
  const engine = stub([c('a', 1, 'exclusive'), c('a', 2, 'shared', { since: undefined }), c('b', 3, 'shared')], {
    breaks: [{ name: 'a', record }, { name: 'q', record }, { name: 'other', record }],
  });
  assert.deepEqual((await listHolders(engine, '')).map((i) => [i.name, i.token]), [['a', 1n], ['b', 3n]]);
  assert.deepEqual((await nameHolders(engine, 'b')).map((i) => i.token), [3n]);
  const survey = await surveyLocks(engine, '');
  assert.deepEqual(survey.map((s) => [s.name, s.holders.length, s.waiters, s.lastBreak?.reason]), [
    ['a', 1, [{ mode: 'shared', owner: who }], 'stuck'],
    ['b', 1, [], undefined],
    ['other', 0, [], 'stuck'],
    ['q', 0, [], 'stuck'],
  ]);
  assert.deepEqual((await surveyLocks(engine, 'q')).map((s) => s.name), ['q'], 'break records out of scope are dropped too');
  assert.deepEqual(engine.scopes.slice(0, 3), [
    { prefix: '', exact: false, survey: false },
    { prefix: 'b', exact: true, survey: false },
    { prefix: '', exact: false, survey: true },
  ]);
});

test('break: the engine gets exactly the holders read, with the record and who was displaced; nobody holding writes nothing', async () => {
  const engine = stub([c('a', 1, 'shared'), c('a', 2, 'shared'), c('a', 3, 'exclusive')]);
  const at = new Date();
  const displaced = await breakLock(engine, 'a', { reason: 'stuck', by: 'ops', at });
  assert.deepEqual(displaced.map((d) => d.token), [1n, 2n]);
  assert.equal(engine.broke.length, 1);
  assert.deepEqual(engine.broke[0]!.holders.map((h) => h.token), [1n, 2n]);
  assert.deepEqual(engine.broke[0]!.record, { reason: 'stuck', by: 'ops', at, displaced });
  assert.deepEqual(await breakLock(engine, 'nobody', { reason: 'x', by: 'ops', at }), []);
  assert.equal(engine.broke.length, 1);
});

test('break: expected tokens are compared before the engine\'s step; changed holders are read again, up to a bound', async () => {
  const engine = stub([c('a', 4, 'exclusive')]);
  const record = { reason: 'r', by: 'ops', at: new Date() };
  await assert.rejects(breakLock(engine, 'a', record, [3n]), HolderChangedError);
  await assert.rejects(breakLock(engine, 'none', record, [3n]), HolderChangedError, 'nobody holds: not what was expected');
  assert.equal(engine.broke.length, 0);
  engine.answers.push(false, false);
  assert.deepEqual((await breakLock(engine, 'a', record, [4n])).map((d) => d.token), [4n]);
  assert.equal(engine.broke.length, 3);
  engine.answers.push(...Array<boolean>(10).fill(false));
  await assert.rejects(breakLock(engine, 'a', record), BackendError);
});

test('on the fake engine: a break displaces the holder (its lock is lost), the waiter is granted, the survey keeps the record', async () => {
  const engine = new FakeEngine();
  const driver = new RecipeDriver(engine);
  const session = engine.session();
  const never = new AbortController().signal;
  const held = await driver.acquire({ session, name: 'j', mode: 'exclusive', owner }, never);
  const next = driver.acquire({ session, name: 'j', mode: 'exclusive', owner }, never);
  await new Promise((resolve) => setImmediate(resolve));
  const survey = await driver.survey('');
  assert.deepEqual(survey.map((s) => [s.name, s.holders.map((h) => h.token), s.waiters.length]), [['j', [held.token], 1]]);
  assert.equal(survey[0]!.holders[0]!.ttlMs, 10_000, 'the lease looked up');
  await assert.rejects(driver.break('j', { reason: 'stuck', by: 'ops', at: new Date() }, [held.token + 1n]), HolderChangedError);
  const displaced = await driver.break('j', { reason: 'stuck', by: 'ops', at: new Date() }, [held.token]);
  assert.deepEqual(displaced.map((d) => d.token), [held.token]);
  const second = await next;
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(lossSignal(held).aborted && lossSignal(held).reason instanceof LockLostError);
  assert.deepEqual((await driver.holders('j')).map((h) => h.token), [second.token]);
  assert.equal((await driver.survey('j'))[0]!.lastBreak?.reason, 'stuck');
  await second.release();
  await driver.close();
});
