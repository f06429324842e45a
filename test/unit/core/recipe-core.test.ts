/**
 * The recipe core's rules, tested once on a fake engine (test/support/fake-engine.ts),
 * independently of any real one: queue order, the blocker rule, waiting on the
 * one blocker, re-checking after every wake, withdrawing on abort, reaping, and loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { BackendUnavailableError, LockLostError, SessionLostError } from '../../../src/errors.js';
import { RecipeDriver } from '../../../src/core/recipe-driver.js';
import { blocker, holdersOf } from '../../../src/core/blocker.js';
import { backoffMs } from '../../../src/core/backoff.js';
import { FakeEngine, owner, type FakeSession } from '../../support/fake-engine.js';
import { lossSignal } from '../../support/loss-signal.js';

function setup(options?: { claimIfFree?: boolean; tokenAtGrant?: boolean }) {
  const engine = new FakeEngine(options);
  const driver = new RecipeDriver(engine);
  const session = engine.session();
  const request = (name: string, mode: 'exclusive' | 'shared' = 'exclusive', s: FakeSession = session) => ({ session: s, name, mode, owner });
  const never = new AbortController().signal;
  return { engine, driver, session, request, never };
}

/** Let watches and re-checks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await tick();
}

function state(p: Promise<unknown>): Promise<'pending' | 'settled'> {
  return Promise.race([p.then(() => 'settled' as const, () => 'settled' as const), settle().then(() => 'pending' as const)]);
}

test('blocker rule: exclusive waits for the youngest older claim, shared for the youngest older exclusive', () => {
  const c = (order: number, mode: 'exclusive' | 'shared') => ({ order: BigInt(order), token: BigInt(order), mode });
  const queue = [c(1, 'shared'), c(2, 'exclusive'), c(3, 'shared'), c(4, 'shared')];
  assert.equal(blocker(queue, c(5, 'exclusive'))?.order, 4n);
  assert.equal(blocker(queue, c(5, 'shared'))?.order, 2n);
  assert.equal(blocker(queue, c(2, 'exclusive'))?.order, 1n);
  assert.equal(blocker(queue, c(1, 'shared')), undefined);
  assert.equal(blocker([c(1, 'shared')], c(2, 'shared')), undefined);
  assert.deepEqual(holdersOf([...queue].reverse()).map((h) => h.order), [1n]);
  assert.deepEqual(holdersOf([c(3, 'shared'), c(1, 'shared'), c(4, 'exclusive')]).map((h) => h.order), [1n, 3n]);
});

test('backoff is one formula: 50 ms doubling to 1 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 50].map(backoffMs), [100 / 2, 100, 200, 400, 800, 1000, 1000]);
});

test('order: waiters are granted in the engine order, tokens increase', async () => {
  const { driver, request, never } = setup();
  const first = await driver.acquire(request('a'), never);
  const granted: bigint[] = [];
  const second = driver.acquire(request('a'), never).then((l) => (granted.push(l.token), l));
  const third = driver.acquire(request('a'), never).then((l) => (granted.push(l.token), l));
  assert.equal(await state(second), 'pending');
  await first.release();
  const l2 = await second;
  assert.equal(await state(third), 'pending');
  await l2.release();
  const l3 = await third;
  assert.ok(first.token < l2.token && l2.token < l3.token);
  assert.deepEqual(granted, [l2.token, l3.token]);
  await l3.release();
});

test('shared claims share; an exclusive waiter holds back later shared claims (writers not starved)', async () => {
  const { driver, request, never } = setup();
  const r1 = await driver.acquire(request('rw', 'shared'), never);
  const r2 = await driver.acquire(request('rw', 'shared'), never);
  const w = driver.acquire(request('rw', 'exclusive'), never);
  const r3 = driver.acquire(request('rw', 'shared'), never);
  assert.equal(await state(w), 'pending');
  assert.equal(await state(r3), 'pending');
  await r1.release();
  assert.equal(await state(w), 'pending');
  await r2.release();
  const wl = await w;
  assert.equal(await state(r3), 'pending');
  await wl.release();
  await (await r3).release();
});

test('a waiter watches only its blocker, and a grant at once costs one create and no watch of a predecessor', async () => {
  const { engine, driver, request, never } = setup();
  const held = await driver.acquire(request('w'), never);
  assert.deepEqual({ ...engine.calls }, { createClaim: 1 });
  const b = driver.acquire(request('w'), never);
  const c = driver.acquire(request('w'), never);
  await settle();
  const [h, bq, cq] = engine.queue('w');
  const watched = engine.watched();
  // each claim watches itself; b watches h, c watches b, nobody else watches h
  assert.equal(watched.filter((x) => x === h).length, 2);
  assert.equal(watched.filter((x) => x === bq).length, 2);
  assert.equal(watched.filter((x) => x === cq).length, 1);
  await held.release();
  const bl = await b;
  assert.equal(bl.predecessor?.outcome, 'released');
  assert.equal(await state(c), 'pending');
  await bl.release();
  await (await c).release();
  assert.equal(engine.queue('w').length, 0);
  assert.equal(engine.watches.size, 0);
});

test('re-check: an uncertain watch re-reads and keeps waiting; a vanished own claim is made again', async () => {
  const { engine, driver, request, never } = setup();
  const held = await driver.acquire(request('r'), never);
  const waiting = driver.acquire(request('r'), never);
  await settle();
  const reads = engine.calls.readAhead ?? 0;
  engine.uncertain(engine.queue('r')[0]!);
  await settle();
  // the holder verifies its claim, the waiter re-reads its queue: one read each
  assert.equal(engine.calls.readAhead, reads + 2);
  assert.equal(await state(waiting), 'pending');
  // someone deletes our waiting claim: the session lives, so the core claims again
  engine.remove(engine.queue('r')[1]!);
  await settle();
  assert.equal(engine.queue('r').length, 2);
  assert.equal(await state(waiting), 'pending');
  await held.release();
  const lock = await waiting;
  assert.ok(lock.token > held.token);
  await lock.release();
});

test('a waiter whose claim vanished with its session fails with SessionLostError', async () => {
  const { engine, driver, session, request, never } = setup();
  const other = engine.session();
  const held = await driver.acquire(request('v', 'exclusive', other), never);
  const waiting = driver.acquire(request('v'), never);
  await settle();
  session.alive = false;
  engine.remove(engine.queue('v')[1]!);
  await assert.rejects(waiting, SessionLostError);
  await held.release();
});

test('withdraw on abort: the claim is deleted and the wait rejects with the reason', async () => {
  const { engine, driver, request } = setup();
  const held = await driver.acquire(request('x'), new AbortController().signal);
  const abort = new AbortController();
  const waiting = driver.acquire(request('x'), abort.signal);
  await settle();
  assert.equal(engine.queue('x').length, 2);
  const reason = new Error('caller gave up');
  abort.abort(reason);
  await assert.rejects(waiting, (e) => e === reason);
  assert.equal(engine.queue('x').length, 1);
  await held.release();
  assert.equal(engine.watches.size, 0);
});

test('tryAcquire writes nothing when taken (claimIfFree), or withdraws its claim (without it)', async () => {
  for (const claimIfFree of [true, false]) {
    const { engine, driver, request, never } = setup({ claimIfFree });
    const held = await driver.acquire(request('t'), never);
    assert.equal(await driver.tryAcquire(request('t')), undefined);
    assert.equal(engine.queue('t').length, 1);
    assert.ok((await driver.tryAcquire(request('t', 'exclusive'))) === undefined);
    await held.release();
    const got = await driver.tryAcquire(request('t'));
    assert.ok(got !== undefined);
    await got.release();
    assert.equal(engine.queue('t').length, 0);
  }
});

test('transient failures are retried; a delete that cannot be confirmed is reaped', async (t) => {
  const { engine, driver, request, never } = setup();
  // the core's timers never keep a process alive (a real client's socket does): keep this one up
  const alive = setInterval(() => {}, 1_000);
  t.after(() => clearInterval(alive));
  engine.failNext('createClaim', new BackendUnavailableError('blip'));
  const lock = await driver.acquire(request('f'), never);
  assert.equal(engine.calls.createClaim, 2);
  engine.failNext('deleteClaim', new BackendUnavailableError('blip'));
  await assert.rejects(lock.release(), BackendUnavailableError);
  assert.equal(driver.reaping, 1);
  await new Promise((r) => setTimeout(r, backoffMs(1) + 50));
  assert.equal(engine.queue('f').length, 0);
  assert.equal(driver.reaping, 0);
});

test('loss: a held claim deleted behind our back aborts the lock signal, even before anyone listens', async () => {
  const { engine, driver, request, never } = setup();
  engine.lossReason = 'broken';
  const lock = await driver.acquire(request('l'), never);
  engine.remove(engine.queue('l')[0]!);
  await settle();
  assert.equal(lossSignal(lock).aborted, true);
  const reason = lossSignal(lock).reason as LockLostError;
  assert.ok(reason instanceof LockLostError);
  assert.equal(reason.reason, 'broken');
  assert.equal(reason.token, lock.token);
  await lock.release(); // after a loss, release deletes nothing and does not fail
});

test('loss: onLoss hears a loss once, whether it listens before the loss or after it', async () => {
  const { engine, driver, request, never } = setup();
  engine.lossReason = 'broken';
  const early = await driver.acquire(request('e1'), never);
  const heardEarly: string[] = [];
  early.onLoss((reason) => heardEarly.push(reason));
  const late = await driver.acquire(request('e2'), never);
  engine.remove(engine.queue('e1')[0]!);
  engine.remove(engine.queue('e2')[0]!);
  await settle();
  assert.deepEqual(heardEarly, ['broken']);
  const heardLate: string[] = [];
  late.onLoss((reason) => heardLate.push(reason)); // the loss was kept for it
  assert.deepEqual(heardLate, ['broken']);
  await settle();
  assert.deepEqual(heardEarly, ['broken'], 'told once');
});

test('loss: a diagnosis the engine has at once is reported in the turn of the watch event, before news after it', async () => {
  const { engine, driver, request, never } = setup();
  engine.lossReason = 'expired';
  engine.diagnoseAtOnce = true;
  const lock = await driver.acquire(request('d'), never);
  engine.remove(engine.queue('d')[0]!); // its watch event is the next microtask
  await new Promise<void>((resolve) => queueMicrotask(resolve)); // news queued right after the event
  assert.equal((lossSignal(lock).reason as LockLostError | undefined)?.reason, 'expired');
});

test('loss while held is not reported after release', async () => {
  const { engine, driver, request, never } = setup();
  const lock = await driver.acquire(request('n'), never);
  await lock.release();
  engine.uncertain(lock as never);
  await settle();
  assert.equal(lossSignal(lock).aborted, false);
});

test('a token assigned at the grant: the lock holds the claim the granting read returned, and releases that one', async () => {
  const { engine, driver, request, never } = setup({ tokenAtGrant: true });
  const first = await driver.acquire(request('g'), never); // granted by the create's read
  assert.equal(first.token, 101n);
  const waiting = driver.acquire(request('g'), never);
  assert.equal(await state(waiting), 'pending');
  assert.equal(engine.queue('g')[1]!.token, 0n, 'a waiting claim has no token yet');
  await first.release();
  const next = await waiting; // granted by a re-check
  assert.equal(next.token, 102n);
  assert.equal(engine.queue('g')[0]!.token, 102n);
  assert.equal(next.predecessor?.outcome, 'released');
  await next.release();
  assert.equal(engine.queue('g').length, 0, 'the release deleted the granted claim');
  for (const claimIfFree of [true, false]) {
    const t = setup({ tokenAtGrant: true, claimIfFree });
    const got = await t.driver.tryAcquire(t.request('h'));
    assert.equal(got?.token, 101n);
    assert.equal(await t.driver.tryAcquire(t.request('h')), undefined);
    await got!.release();
    assert.equal(t.engine.queue('h').length, 0);
  }
});

test('a token assigned at the grant: an abort right after the granting read releases the granted claim', async () => {
  const { engine, driver, request, never } = setup({ tokenAtGrant: true });
  const held = await driver.acquire(request('a'), never);
  const abort = new AbortController();
  const waiting = driver.acquire(request('a'), abort.signal);
  assert.equal(await state(waiting), 'pending');
  // the holder goes; the waiter's re-check grants, and the abort lands before the hand-over
  const read = engine.readAhead.bind(engine);
  engine.readAhead = async (r, own) => {
    const result = await read(r, own);
    abort.abort(new Error('gave up'));
    return result;
  };
  await held.release();
  await assert.rejects(waiting, /gave up/);
  assert.equal(engine.queue('a').length, 0, 'the granted claim was deleted, not left to block the name');
});

test('a grant that saw its predecessor: reported for a claim granted without waiting, and by tryAcquire', async () => {
  for (const claimIfFree of [true, false]) {
    const { driver, request, never } = setup({ tokenAtGrant: true, claimIfFree });
    const first = await driver.acquire(request('p'), never);
    assert.equal(first.predecessor, undefined, 'nobody held it before');
    await first.release();
    const second = await driver.acquire(request('p'), never); // granted at once
    assert.deepEqual(second.predecessor, { outcome: 'released', token: first.token });
    await second.release();
    const third = await driver.tryAcquire(request('p'));
    assert.deepEqual(third?.predecessor, { outcome: 'released', token: second.token });
    await third!.release();
  }
});
