/**
 * The conformance suite's recipe sections: leader election, group membership
 * and the distributed semaphore, run by every driver through the Coordinator
 * (registered from suite.ts). A driver without `capabilities.recipes` (a lock
 * directory) must refuse every recipe call with UnsupportedError; that is
 * tested, and the other tests are skipped saying which capability is missing.
 */
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigurationError, LockLostError, LockTimeoutError, SessionLostError, UnsupportedError, isInvalidArgument } from '../../src/errors.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import type { ElectionState } from '../../src/recipes/election.js';
import type { MemberEvent } from '../../src/recipes/membership.js';
import { channels } from '../../src/diagnostics.js';
import { bounded, delay, EVENT_BOUND_MS, record, whenAborted, type ConformanceOptions, type TestEnv } from './harness.js';

type It = (name: string, fn: (t: TestContext, env: TestEnv) => Promise<void>) => void;
type Needs = (t: TestContext, c: Coordinator, capability: 'shared' | 'serverLease' | 'waitNotifications' | 'breakable' | 'recipes') => boolean;

/** The next value of `iterator`, bounded in time. */
async function next<T>(iterator: AsyncIterator<T>, what: string): Promise<T> {
  const result = await bounded(iterator.next(), EVENT_BOUND_MS, what);
  assert.equal(result.done, false, `${what}: the iterator ended`);
  return result.value as T;
}

/** Register the recipe sections (inside the driver's `describe`). */
export function recipeConformance(driverName: string, options: ConformanceOptions, it: It, needs: Needs): void {
  const settle = options.claimSettleMs ?? 250;

  it('recipes: refused with UnsupportedError when the driver has none', async (t, env) => {
    const c = await env.connect();
    if (c.capabilities.recipes) {
      // Justified skip: this test is about drivers without recipes; the sections below cover this one.
      t.skip(`${driverName} has recipes`);
      return;
    }
    await assert.rejects(c.campaign('x'), UnsupportedError);
    await assert.rejects(c.join('x'), UnsupportedError);
    assert.throws(() => c.semaphore('x', 2), UnsupportedError);
    assert.throws(() => c.observe('x'), UnsupportedError);
  });

  it('recipes: reserved names, bad names, options and values are refused synchronously', async (t, env) => {
    const c = await env.connect();
    if (!needs(t, c, 'recipes')) return;
    for (const name of ['@election/x', '@group/x', '@semaphore/x#0']) {
      assert.throws(() => c.acquire(name), (e: unknown) => isInvalidArgument(e) && /reserved for coordinator\./.test((e as Error).message), name);
      assert.throws(() => c.tryAcquire(name), isInvalidArgument, name);
    }
    assert.throws(() => c.campaign(''), isInvalidArgument);
    assert.throws(() => c.campaign('x', { value: 42 as unknown as string }), isInvalidArgument);
    assert.throws(() => c.campaign('x', { value: 'v'.repeat(4_097) }), /at most 4096 bytes/);
    assert.throws(() => c.campaign('x', { tiemout: 5 } as never), /tiemout is not an option/);
    assert.throws(() => c.join('g', { metadata: {} as unknown as string }), isInvalidArgument);
    assert.throws(() => c.semaphore('s', 0), isInvalidArgument);
    assert.throws(() => c.semaphore('s', 1_025), isInvalidArgument);
    await assert.rejects(c.semaphore('s', 2).acquire({ weight: 3 }), isInvalidArgument);
    assert.throws(() => c.campaign('x'.repeat(250)), isInvalidArgument, 'too long once prefixed');
    assert.deepEqual(await c.list(), [], 'nothing was claimed');
  });

  it('election: one leader at a time, terms strictly increase, candidates in order, resign elects the next', async (t, env) => {
    const [a, b, c] = await Promise.all([env.connect(), env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes')) return;
    const first = await a!.campaign('lead', { value: 'a' });
    assert.equal(first.value, 'a');
    const second = b!.campaign('lead', { value: 'b' });
    await delay(settle);
    const third = c!.campaign('lead', { value: 'c' });
    await delay(settle);
    const leader = await a!.leader('lead');
    assert.equal(leader?.term, first.term);
    assert.equal(leader?.value, 'a');
    assert.equal(leader?.owner.id, a!.owner.id);
    const waiting = await a!.candidates('lead');
    if (waiting !== undefined) assert.deepEqual(waiting.map((w) => w.owner.id), [b!.owner.id, c!.owner.id]);
    await first.resign();
    const two = await bounded(second, EVENT_BOUND_MS, 'the next candidate elected');
    assert.ok(two.term > first.term, 'terms strictly increase');
    assert.equal((await c!.leader('lead'))?.value, 'b');
    await two.resign();
    const three = await bounded(third, EVENT_BOUND_MS, 'the last candidate elected');
    assert.ok(three.term > two.term);
    await three.resign();
    assert.equal(await a!.leader('lead'), undefined);
    assert.deepEqual(await a!.list('@election/'), [], 'nothing left behind');
  });

  it('election: lead() from several coordinators never overlaps (shared counter, fenced by term)', async (t, env) => {
    const coordinators = await Promise.all([env.connect(), env.connect(), env.connect()]);
    if (!needs(t, coordinators[0]!, 'recipes')) return;
    let inside = 0;
    let most = 0;
    let counter = 0;
    let lastTerm = 0n;
    const worker = async (c: Coordinator): Promise<void> => {
      for (let i = 0; i < 4; i++) {
        await c.lead('counter', async (leadership) => {
          most = Math.max(most, ++inside);
          assert.ok(leadership.term > lastTerm, 'a later leader has a greater term');
          lastTerm = leadership.term;
          const seen = counter;
          await new Promise((resolve) => setImmediate(resolve));
          counter = seen + 1;
          inside--;
        });
      }
    };
    await Promise.all(coordinators.map(worker));
    assert.equal(counter, 12);
    assert.equal(most, 1);
  });

  it('election: observe yields the current state, each new leader and each proclaim, pushed by the engine', async (t, env) => {
    const [a, b, watcher] = await Promise.all([env.connect(), env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes')) return;
    const stop = new AbortController();
    const states = watcher!.observe('observed', { signal: stop.signal });
    const seen = (state: ElectionState): [string | undefined, bigint | undefined] => [state.leader?.value, state.leader?.term];
    assert.deepEqual(seen(await next(states, 'the first state')), [undefined, undefined]);
    const one = await a!.campaign('observed', { value: 'one' });
    assert.deepEqual(seen(await next(states, 'the first leader')), ['one', one.term]);
    await one.proclaim('one, again');
    assert.deepEqual(seen(await next(states, 'the proclaim')), ['one, again', one.term]);
    assert.equal(one.value, 'one, again');
    const two = b!.campaign('observed', { value: 'two' });
    await delay(settle);
    await one.resign();
    const leader = await bounded(two, EVENT_BOUND_MS, 'the second leader');
    let state = await next(states, 'the change of leader');
    if (state.leader === undefined) state = await next(states, 'the second leader, after a moment without one');
    assert.deepEqual(seen(state), ['two', leader.term]);
    await assert.rejects(one.proclaim('late'), LockLostError, 'a resigned leader cannot proclaim');
    assert.equal((await a!.leader('observed'))?.value, 'two', 'the late proclaim wrote nothing');
    stop.abort();
    assert.equal((await bounded(states.next(), EVENT_BOUND_MS, 'observe ends on abort')).done, true);
    await leader.resign();
  });

  it('election: observe ends when its coordinator closes', async (t, env) => {
    const a = await env.connect();
    if (!needs(t, a, 'recipes')) return;
    const states = a.observe('closing');
    await next(states, 'the first state');
    const pending = states.next();
    await a.close();
    assert.equal((await bounded(pending, EVENT_BOUND_MS, 'observe ends on close')).done, true);
    assert.throws(() => a.observe('closing'), /closed/);
  });

  it('election: a broken leader is deposed and told; its proclaim writes nothing; the next candidate leads', async (t, env) => {
    const [a, b, operator] = await Promise.all([env.connect(), env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes') || !needs(t, a!, 'breakable')) return;
    const deposed = await a!.campaign('deposed', { value: 'old' });
    const next = b!.campaign('deposed', { value: 'new' });
    await delay(settle);
    const displaced = await operator!.break('@election/deposed', { reason: 'conformance: depose', expect: [deposed.term] });
    assert.deepEqual(displaced.map((d) => d.token), [deposed.term]);
    if (options.observesBreak !== false) {
      const reason = await whenAborted(deposed.signal, EVENT_BOUND_MS, 'the deposed leader told');
      assert.ok(reason instanceof LockLostError);
    }
    const successor = await bounded(next, EVENT_BOUND_MS, 'the next candidate elected');
    assert.ok(successor.term > deposed.term);
    await assert.rejects(deposed.proclaim('still me'), LockLostError);
    assert.equal((await operator!.leader('deposed'))?.value, 'new');
    await deposed.resign();
    assert.equal((await operator!.leader('deposed'))?.term, successor.term, 'resigning after loss deletes nothing of the successor');
    await successor.resign();
  });

  it('election: lead() with recampaign runs again after losing leadership; without, it rejects with the loss', async (t, env) => {
    const [a, operator] = await Promise.all([env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes') || !needs(t, a!, 'breakable') || options.observesBreak === false) return;
    const terms: bigint[] = [];
    const result = a!.lead(
      'again',
      async (leadership) => {
        terms.push(leadership.term);
        if (terms.length === 1) {
          await operator!.break('@election/again', { reason: 'conformance: recampaign', expect: [leadership.term] });
          await whenAborted(leadership.signal, EVENT_BOUND_MS, 'leadership lost');
          throw leadership.signal.reason;
        }
        return 'done';
      },
      { recampaign: true },
    );
    assert.equal(await bounded(result, 2 * EVENT_BOUND_MS, 'lead() finished'), 'done');
    assert.equal(terms.length, 2);
    assert.ok(terms[1]! > terms[0]!);
    const once = a!.lead('once', async (leadership) => {
      await operator!.break('@election/once', { reason: 'conformance: no recampaign', expect: [leadership.term] });
      await whenAborted(leadership.signal, EVENT_BOUND_MS, 'leadership lost');
      return 'ignored';
    });
    await assert.rejects(once, LockLostError);
  });

  it('election: campaign takes timeout and signal, and leaves no candidacy behind', async (t, env) => {
    const [a, b] = await Promise.all([env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes')) return;
    const held = await a!.campaign('wait');
    await assert.rejects(b!.campaign('wait', { timeout: 0 }), LockTimeoutError);
    await assert.rejects(b!.campaign('wait', { timeout: 100 }), LockTimeoutError);
    const stop = new AbortController();
    const aborted = b!.campaign('wait', { signal: stop.signal });
    await delay(settle);
    stop.abort(new Error('conformance: stop campaigning'));
    await assert.rejects(aborted, /stop campaigning/);
    const waiting = await a!.candidates('wait');
    if (waiting !== undefined) assert.deepEqual(waiting, [], 'no candidacy left behind');
    await held.resign();
  });

  it('election: a cut-off leader loses leadership before a candidate is elected', async (t, env) => {
    if (options.pause === undefined) {
      // Justified skip: as for the session-loss test of locks, the driver proves it with SIGSTOP in its own tests.
      t.skip(`no pause hook for ${driverName}`);
      return;
    }
    const [a, b] = await Promise.all([env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes') || !needs(t, a!, 'serverLease')) return;
    const held = await a!.campaign('paused');
    const events: string[] = [];
    held.signal.addEventListener('abort', () => events.push('leader told'));
    const next = b!.campaign('paused').then((l) => (events.push('candidate elected'), l));
    await delay(settle);
    await env.pause(a!);
    const successor = await bounded(next, 4 * options.ttl + EVENT_BOUND_MS, 'a candidate elected after the lease ran out');
    assert.deepEqual(events, ['leader told', 'candidate elected']);
    assert.ok(successor.term > held.term);
    await env.resume(a!);
    await successor.resign();
  });

  it('group: join with metadata, members, watchMembers sees joins, updates and leaves', async (t, env) => {
    const [a, b, watcher] = await Promise.all([env.connect(), env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes')) return;
    const first = await a!.join('workers', { metadata: 'slots=4' });
    const stop = new AbortController();
    const events = watcher!.watchMembers('workers', { signal: stop.signal });
    const seen = (e: MemberEvent): [string, bigint, string | undefined] => [e.type, e.member.id, e.member.metadata];
    assert.deepEqual(seen(await next(events, 'the present member')), ['join', first.id, 'slots=4']);
    const second = await b!.join('workers');
    assert.deepEqual(seen(await next(events, 'the second join')), ['join', second.id, undefined]);
    assert.ok(second.id > first.id, 'ids increase');
    await second.update('slots=2');
    assert.deepEqual(seen(await next(events, 'the update')), ['update', second.id, 'slots=2']);
    const listed = await watcher!.members('workers');
    assert.deepEqual(listed.map((m) => [m.id, m.owner.id, m.metadata]), [[first.id, a!.owner.id, 'slots=4'], [second.id, b!.owner.id, 'slots=2']]);
    await first.leave();
    assert.deepEqual(seen(await next(events, 'the leave')), ['leave', first.id, 'slots=4']);
    await assert.rejects(first.update('x'), LockLostError, 'a member that left cannot update');
    stop.abort();
    assert.equal((await bounded(events.next(), EVENT_BOUND_MS, 'watchMembers ends on abort')).done, true);
    await second.leave();
    assert.deepEqual(await watcher!.members('workers'), []);
  });

  it('group: a cut-off member leaves the group and is told', async (t, env) => {
    if (options.pause === undefined) {
      // Justified skip: the driver proves session loss with SIGSTOP in its own tests.
      t.skip(`no pause hook for ${driverName}`);
      return;
    }
    const [a, b] = await Promise.all([env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes') || !needs(t, a!, 'serverLease')) return;
    const member = await a!.join('fragile');
    const other = await b!.join('fragile');
    const events = b!.watchMembers('fragile');
    await next(events, 'the first member');
    await next(events, 'the second member');
    await env.pause(a!);
    const left = await bounded(next(events, 'the cut-off member leaves'), 4 * options.ttl + EVENT_BOUND_MS, 'leave');
    assert.deepEqual([left.type, left.member.id], ['leave', member.id]);
    assert.ok(member.signal.aborted, 'the member was told before the others saw it leave');
    await env.resume(a!);
    await events.return();
    await other.leave();
  });

  it('semaphore: at most `permits` holders at once across coordinators; each slot fenced by increasing tokens', async (t, env) => {
    const coordinators = await Promise.all([env.connect(), env.connect(), env.connect()]);
    if (!needs(t, coordinators[0]!, 'recipes')) return;
    let inside = 0;
    let most = 0;
    let done = 0;
    const lastToken = new Map<number, bigint>();
    const worker = async (c: Coordinator): Promise<void> => {
      const pool = c.semaphore('pool', 2);
      for (let i = 0; i < 4; i++) {
        await pool.run(async (permit) => {
          most = Math.max(most, ++inside);
          for (const { slot, token } of permit.slots) {
            assert.ok(token > (lastToken.get(slot) ?? -1n), `slot ${slot}: tokens increase`);
            lastToken.set(slot, token);
          }
          await new Promise((resolve) => setImmediate(resolve));
          done++;
          inside--;
        });
      }
    };
    await Promise.all(coordinators.flatMap((c) => [worker(c), worker(c)]));
    assert.equal(done, 24);
    assert.ok(most <= 2, `at most 2 holders at once (saw ${most})`);
    assert.deepEqual(await coordinators[0]!.list('@semaphore/pool'), [], 'nothing left behind');
  });

  it('semaphore: weights, first come first served, tryAcquire and timeout leave nothing behind', async (t, env) => {
    const [a, b, c] = await Promise.all([env.connect(), env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes')) return;
    const failed = record(t, channels.lockAcquireFailed);
    const sa = a!.semaphore('weights', 3);
    const one = await sa.acquire();
    const two = await sa.acquire({ weight: 2 });
    assert.deepEqual([one.weight, two.weight], [1, 2]);
    assert.equal((await sa.holders()).length, 3);
    assert.equal(await b!.semaphore('weights', 3).tryAcquire(), undefined, 'all permits taken');
    const order: string[] = [];
    const heavy = b!.semaphore('weights', 3).acquire({ weight: 2 }).then((p) => (order.push('heavy'), p));
    await delay(settle);
    const light = c!.semaphore('weights', 3).acquire().then((p) => (order.push('light'), p));
    await delay(settle);
    await one.release(); // one permit free: the heavy head keeps it and waits for another; light must not overtake
    await delay(settle);
    assert.deepEqual(order, [], 'the light request did not overtake the heavy one');
    await two.release();
    const h = await bounded(heavy, EVENT_BOUND_MS, 'the heavy request granted');
    const l = await bounded(light, EVENT_BOUND_MS, 'the light request granted');
    assert.deepEqual(order, ['heavy', 'light']);
    await assert.rejects(a!.semaphore('weights', 3).acquire({ timeout: 100 }), LockTimeoutError);
    await assert.rejects(a!.semaphore('weights', 3).acquire({ timeout: 0 }), LockTimeoutError);
    const failures = failed.map((m) => [(m as { name: string }).name, (m as { reason: string }).reason]);
    assert.deepEqual(failures, [['@semaphore/weights', 'timeout'], ['@semaphore/weights', 'timeout']], 'one failure per failed acquire, none for the permit waits it withdrew');
    await Promise.all([h.release(), l.release()]);
    assert.deepEqual(await a!.list('@semaphore/weights'), [], 'nothing left behind');
  });

  it('semaphore: coordinators that disagree on permits are refused, not over-admitted', async (t, env) => {
    const [a, b] = await Promise.all([env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes')) return;
    const held = await a!.semaphore('agree', 2).acquire();
    await assert.rejects(b!.semaphore('agree', 3).acquire(), ConfigurationError);
    await held.release();
    assert.deepEqual(await a!.list('@semaphore/agree'), []);
  });

  it('semaphore: a cut-off holder\'s permit is lost, never silently re-acquired, and goes to the next waiter', async (t, env) => {
    if (options.pause === undefined) {
      // Justified skip: the driver proves session loss with SIGSTOP in its own tests.
      t.skip(`no pause hook for ${driverName}`);
      return;
    }
    const [a, b] = await Promise.all([env.connect(), env.connect()]);
    if (!needs(t, a!, 'recipes') || !needs(t, a!, 'serverLease')) return;
    const permit = await a!.semaphore('lease', 1).acquire();
    const next = b!.semaphore('lease', 1).acquire();
    await delay(settle);
    await env.pause(a!);
    const granted = await bounded(next, 4 * options.ttl + EVENT_BOUND_MS, 'the waiter granted after the lease ran out');
    assert.ok(permit.signal.aborted && permit.lost, 'the cut-off holder was told');
    assert.ok(granted.token > permit.token);
    await env.resume(a!);
    assert.ok(a!.signal.reason instanceof SessionLostError, 'its session is lost, not renewed');
    await permit.release();
    assert.deepEqual((await b!.semaphore('lease', 1).holders()).map((h) => h.token), [granted.token], 'released after loss: nothing of the new holder is deleted');
    await granted.release();
  });
}
