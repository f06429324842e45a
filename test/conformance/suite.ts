/**
 * The conformance suite: one set of tests every driver runs through the
 * Coordinator. Test names read as the support matrix; a test a driver cannot
 * run is skipped with the capability it lacks, never silently.
 *
 * Usage (test/conformance/<driver>.test.ts):
 *   conformance('etcd', { connectUrl: () => `etcd://${server.endpoint}`, ttl: 2_000, pause, resume });
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { channels, type LockAcquireFailedMessage } from '../../src/diagnostics.js';
import {
  ClosedError,
  HolderChangedError,
  LockLostError,
  LockTimeoutError,
  SessionLostError,
  UnsupportedError,
  isInvalidArgument,
} from '../../src/errors.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import { recipeConformance } from './recipes.js';
import { bounded, delay, EVENT_BOUND_MS, HANG_GUARD_MS, peek, record, TestEnv, whenAborted, type ConformanceOptions } from './harness.js';

export type { ConformanceOptions } from './harness.js';

/** Register the suite for `driverName`. */
export function conformance(driverName: string, options: ConformanceOptions): void {
  const timeout = options.testTimeout ?? Math.max(HANG_GUARD_MS, 8 * options.ttl); // hang guards, generous for a loaded machine
  const settle = options.claimSettleMs ?? 250;
  const it = (name: string, fn: (t: TestContext, env: TestEnv) => Promise<void>): void => {
    test(name, { timeout }, async (t) => fn(t, await TestEnv.open(t, options)));
  };
  /** Skip `t` unless the coordinator's driver has `capability`; says which is missing. */
  const needs = (t: TestContext, c: Coordinator, capability: 'shared' | 'serverLease' | 'waitNotifications' | 'breakable' | 'recipes'): boolean => {
    if (c.capabilities[capability]) return true;
    // Justified skip: the driver declares it lacks this capability, so the test does not apply; the output says which.
    t.skip(`${driverName} lacks capability "${capability}"`);
    return false;
  };

  describe(`conformance: ${driverName}`, () => {
    it('capabilities: well-formed, minTtlMs respected by this suite', async (_t, env) => {
      const c = await env.connect();
      const caps = c.capabilities;
      for (const key of ['shared', 'durableTokens', 'serverLease', 'waitNotifications', 'breakable', 'recipes'] as const) {
        assert.equal(typeof caps[key], 'boolean', key);
      }
      assert.ok(Number.isFinite(caps.minTtlMs) && caps.minTtlMs > 0);
      assert.ok(Number.isFinite(caps.recoveryBoundMs) && caps.recoveryBoundMs >= 0);
      assert.ok(Array.isArray(caps.notes));
      assert.ok(options.ttl >= caps.minTtlMs);
      assert.equal(c.session.state, 'connected');
      assert.equal(c.signal.aborted, false);
    });

    it('exclusive: mutual exclusion across coordinators and within one (shared counter)', async (_t, env) => {
      const coordinators = await Promise.all([env.connect(), env.connect(), env.connect()]);
      let counter = 0;
      let inside = 0;
      let most = 0;
      const worker = async (c: Coordinator): Promise<void> => {
        for (let i = 0; i < 15; i++) {
          await c.run('counter', async () => {
            most = Math.max(most, ++inside);
            const seen = counter;
            await new Promise((resolve) => setImmediate(resolve));
            counter = seen + 1;
            inside--;
          });
        }
      };
      await Promise.all(coordinators.flatMap((c) => [worker(c), worker(c)]));
      assert.equal(counter, 3 * 2 * 15);
      assert.equal(most, 1);
      assert.deepEqual(await coordinators[0]!.holders('counter'), []);
    });

    it('tokens: strictly increasing per name, across coordinators and after reconnect', async (_t, env) => {
      const a = await env.connect();
      const b = await env.connect();
      const tokens: bigint[] = [];
      for (const c of [a, b, a, b]) {
        const guard = await c.acquire('tokens');
        tokens.push(guard.token);
        await guard.release();
      }
      await a.close();
      const again = await env.connect();
      const guard = await again.acquire('tokens');
      tokens.push(guard.token);
      for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `tokens ${tokens.join(', ')}`);
      assert.equal(typeof guard.token, 'bigint');
      await guard.release();
    });

    it('tryAcquire: undefined while held elsewhere, a guard once free', async (_t, env) => {
      const a = await env.connect();
      const b = await env.connect();
      const held = await a.tryAcquire('try');
      assert.ok(held);
      assert.equal(await b.tryAcquire('try'), undefined);
      assert.equal(await a.tryAcquire('try'), undefined, 'the same coordinator does not re-enter');
      await held.release();
      const next = await b.tryAcquire('try');
      assert.ok(next);
      assert.ok(next.token > held.token);
      await next.release();
      assert.deepEqual(await a.holders('try'), []);
    });

    it('timeout 0: granted only if free now, else LockTimeoutError', async (_t, env) => {
      const a = await env.connect();
      const b = await env.connect();
      const guard = await a.acquire('zero', { timeout: 0 });
      await assert.rejects(b.acquire('zero', { timeout: 0 }), LockTimeoutError);
      await guard.release();
      await (await b.acquire('zero', { timeout: 0 })).release();
    });

    it('shared mode: shared holders coexist, exclusive waits for all of them', async (t, env) => {
      const a = await env.connect();
      if (!needs(t, a, 'shared')) return;
      const b = await env.connect();
      const c = await env.connect();
      const r1 = await a.acquire('rw', { mode: 'shared' });
      const r2 = await b.acquire('rw', { mode: 'shared' });
      assert.equal(r1.mode, 'shared');
      assert.notEqual(r1.token, r2.token);
      const holders = await c.holders('rw');
      assert.deepEqual(holders.map((h) => h.mode), ['shared', 'shared']);
      assert.equal(await c.tryAcquire('rw'), undefined);
      const writer = c.acquire('rw');
      await delay(settle);
      assert.equal(await peek(writer), 'pending');
      await r1.release();
      assert.equal(await peek(writer), 'pending', 'one shared holder is still there');
      await r2.release();
      const w = await bounded(writer, EVENT_BOUND_MS, 'writer granted after both readers left');
      assert.ok(w.token > r2.token && w.token > r1.token);
      assert.equal(await a.tryAcquire('rw', { mode: 'shared' }), undefined, 'no reader while a writer holds');
      await w.release();
    });

    it('shared mode: refused with UnsupportedError when the driver has none', async (t, env) => {
      const a = await env.connect();
      if (a.capabilities.shared) {
        // Justified skip: this test is for drivers WITHOUT shared mode; every driver here has it.
        t.skip(`${driverName} supports shared mode`);
        return;
      }
      await assert.rejects(a.acquire('rw', { mode: 'shared' }), UnsupportedError);
      await assert.rejects(a.tryAcquire('rw', { mode: 'shared' }), UnsupportedError);
      assert.deepEqual(await a.holders('rw'), []);
    });

    it('timeout: LockTimeoutError, and nothing is left claimed', async (t, env) => {
      const failed = record(t, channels.lockAcquireFailed);
      const a = await env.connect();
      const b = await env.connect();
      const c = await env.connect();
      const held = await a.acquire('timeout');
      const started = performance.now();
      const err = await b.acquire('timeout', { timeout: 60 }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof LockTimeoutError, String(err));
      assert.equal(err.timeout, 60);
      assert.ok(performance.now() - started >= 55);
      // The same coordinator's second caller times out in the local queue, also leaving nothing.
      await assert.rejects(a.acquire('timeout', { timeout: 20 }), LockTimeoutError);
      assert.deepEqual((await c.holders('timeout')).map((h) => h.token), [held.token]);
      await held.release();
      const next = await c.tryAcquire('timeout');
      assert.ok(next, 'no withdrawn claim stands in the queue');
      await next.release();
      assert.deepEqual(await c.holders('timeout'), []);
      assert.deepEqual(failureReasons(failed, 'timeout'), ['timeout', 'timeout']);
    });

    it('abort: rejects with the signal reason, and nothing is left claimed', async (t, env) => {
      const failed = record(t, channels.lockAcquireFailed);
      const a = await env.connect();
      const b = await env.connect();
      const held = await a.acquire('abort');
      const controller = new AbortController();
      const waiting = b.acquire('abort', { signal: controller.signal });
      await delay(settle);
      const reason = new Error('caller gave up');
      controller.abort(reason);
      await assert.rejects(waiting, (e) => e === reason);
      const early = new Error('already aborted');
      await assert.rejects(b.acquire('abort', { signal: AbortSignal.abort(early) }), (e) => e === early);
      await held.release();
      const next = await a.tryAcquire('abort');
      assert.ok(next, 'no aborted claim stands in the queue');
      await next.release();
      assert.deepEqual(await b.holders('abort'), []);
      assert.deepEqual(failureReasons(failed, 'abort'), ['aborted', 'aborted']);
    });

    it('waiting: FIFO across coordinators, one waiter granted per release', async (t, env) => {
      const a = await env.connect();
      if (!needs(t, a, 'waitNotifications')) return;
      const b = await env.connect();
      const c = await env.connect();
      const held = await a.acquire('fifo');
      const first = b.acquire('fifo');
      await delay(settle);
      const second = c.acquire('fifo');
      await delay(settle);
      await held.release();
      const g1 = await bounded(first, EVENT_BOUND_MS, 'first waiter granted');
      assert.equal(await peek(second), 'pending', 'the second waiter is not woken by the first release');
      await g1.release();
      const g2 = await bounded(second, EVENT_BOUND_MS, 'second waiter granted');
      assert.ok(g2.token > g1.token);
      await g2.release();
    });

    it('waiting: a waiter is granted promptly after the release (notification, not polling)', async (t, env) => {
      const a = await env.connect();
      if (!needs(t, a, 'waitNotifications')) return;
      const b = await env.connect();
      const typical = options.handoffMs ?? 50;
      // A waiter not woken by the release would only look again once the lease in its way ran out (≥ a
      // TTL away once renewed): half a TTL tells the two apart on any machine, however loaded.
      const limit = options.ttl / 2;
      const held = await a.acquire('handoff');
      const waiting = b.acquire('handoff');
      await delay(settle);
      const released = performance.now();
      await held.release();
      const guard = await waiting;
      const handoff = performance.now() - released;
      if (handoff > typical) t.diagnostic(`handoff took ${handoff.toFixed(1)} ms (typically under ${typical} ms)`);
      assert.ok(handoff < limit, `handoff took ${handoff.toFixed(1)} ms: woken by a fallback, not by the release? (limit: half the TTL, ${limit} ms)`);
      if (options.reportsPredecessor !== false) {
        assert.equal(guard.predecessor?.outcome, 'released');
        assert.equal(guard.predecessor?.token, held.token);
      }
      await guard.release();
    });

    it('release: idempotent, and published with heldMs', async (t, env) => {
      const released = record(t, channels.lockReleased);
      const a = await env.connect();
      const guard = await a.acquire('idempotent');
      assert.equal(guard.released, false);
      const first = guard.release();
      assert.equal(guard.release(), first);
      await first;
      await guard.release();
      await guard[Symbol.asyncDispose]();
      assert.equal(guard.released, true);
      assert.equal(guard.signal.aborted, false, 'a released lock is not "lost"');
      const mine = released.filter((m) => (m as { token?: bigint }).token === guard.token);
      assert.equal(mine.length, 1);
      assert.equal(typeof (mine[0] as { heldMs?: number }).heldMs, 'number');
      assert.deepEqual(await a.holders('idempotent'), []);
    });

    it('run(): returns the result, releases on success and on throw', async (_t, env) => {
      const a = await env.connect();
      assert.equal(await a.run('run', (guard) => (assert.equal(guard.name, 'run'), 42)), 42);
      assert.deepEqual(await a.holders('run'), []);
      const boom = new Error('boom');
      await assert.rejects(a.run('run', () => Promise.reject(boom)), (e) => e === boom);
      assert.deepEqual(await a.holders('run'), []);
      assert.throws(() => a.run('run', 'not a function' as never), TypeError);
    });

    it('holders()/list(): owner identity, mode, token, since and expiry', async (_t, env) => {
      const identity = { id: 'conformance-a', host: 'host-a', pid: 4242, command: 'node a.js' };
      const a = await env.connect(identity);
      const b = await env.connect();
      const before = Date.now();
      const one = await a.acquire('list/one');
      const two = await a.acquire('list/two');
      const other = await b.acquire('other');
      const [info, ...rest] = await b.holders('list/one');
      assert.equal(rest.length, 0);
      assert.equal(info!.name, 'list/one');
      assert.equal(info!.mode, 'exclusive');
      assert.equal(info!.token, one.token);
      assert.equal(info!.backend, a.backend);
      assert.deepEqual({ ...info!.owner }, identity);
      assert.ok(info!.since instanceof Date);
      assert.ok(Math.abs(info!.since.getTime() - before) < 5_000, 'since is about now');
      if (a.capabilities.serverLease) {
        assert.ok(info!.expiresAt instanceof Date, 'a leased lock says when it expires');
        assert.ok(info!.expiresAt.getTime() > info!.since.getTime());
      }
      // Listings serialise: tokens as decimal strings, times as ISO strings.
      const [again] = await b.holders('list/one'); // expiresAt moves with each renewal
      const [json] = JSON.parse(JSON.stringify([again])) as Array<Record<string, unknown>>;
      assert.equal(json!.token, one.token.toString());
      assert.equal(json!.since, again!.since.toISOString());
      if (again!.expiresAt !== undefined) assert.equal(json!.expiresAt, again!.expiresAt.toISOString());
      assert.deepEqual(json!.owner, identity);
      assert.equal(JSON.parse(JSON.stringify(await b.list())).length, 3);
      const listed = (await b.list('list/')).map((i) => i.name).sort();
      assert.deepEqual(listed, ['list/one', 'list/two']);
      const all = (await b.list()).map((i) => i.name).sort();
      assert.deepEqual(all, ['list/one', 'list/two', 'other']);
      for (const guard of [one, two, other]) await guard.release();
      assert.deepEqual(await b.list(), []);
    });

    it('names: bad names throw synchronously; any printable name round-trips', async (_t, env) => {
      const a = await env.connect();
      for (const bad of ['', 'a\u0000b', 'tab\there', 'x'.repeat(257), '\ud800', 42, undefined, null]) {
        assert.throws(() => a.acquire(bad as string), (e) => isInvalidArgument(e), `acquire(${JSON.stringify(bad)})`);
        assert.throws(() => a.tryAcquire(bad as string), (e) => isInvalidArgument(e));
        assert.throws(() => a.holders(bad as string), (e) => isInvalidArgument(e));
      }
      assert.throws(() => a.acquire('ok', { timeout: -1 }), RangeError);
      assert.throws(() => a.acquire('ok', { mode: 'reader' as never }), TypeError);
      for (const name of ['a/b', '/leading', 'with space', 'ünï/✓ 日本', '..', '%2F', 'a*b?[c]', 'x'.repeat(256)]) {
        const guard = await a.acquire(name);
        assert.deepEqual((await a.holders(name)).map((h) => h.name), [name]);
        assert.equal(guard.name, name);
        await guard.release();
      }
      assert.deepEqual(await a.list(), []);
    });

    it('namespaces: a namespace and one it is a prefix of never see, block or break each other\'s locks', async (_t, env) => {
      const base = env.namespace;
      await assert.rejects(env.connectIn(`${base}/`), RangeError, 'a trailing "/" is no other namespace: refused');
      // Each driver's own key and node names among the lock names, and namespaces named after them.
      const names = ['x', 'b', 'b/x', 'locks', 'locks/x', 'broken', 'anchor', 'sessions', 'names', 'lock:x', '%locks'];
      const pairs: Array<[string, string]> = [
        [base, `${base}/locks`],
        [base, `${base}b`],
        [base, `${base}/broken`],
        [base, `${base}/anchor`],
        [base, `${base}/sessions`],
        [`${base}/locks`, `${base}/locks/locks`],
      ];
      for (const [outer, inner] of pairs) {
        for (const [mine, theirs] of [[outer, inner], [inner, outer]] as const) {
          const holder = await env.connectIn(mine);
          const other = await env.connectIn(theirs);
          const held = [];
          for (const name of names) held.push(await holder.acquire(name));
          const where = `${theirs} while ${mine} holds every name`;
          assert.deepEqual(await other.list(), [], `${where}: list() sees none of them`);
          for (const name of names) assert.deepEqual(await other.holders(name), [], `${where}: holders(${JSON.stringify(name)})`);
          for (const name of names) {
            const guard = await other.tryAcquire(name);
            assert.ok(guard, `${where}: tryAcquire(${JSON.stringify(name)}) is not blocked`);
            await guard.release();
          }
          await (await bounded(other.acquire('locks'), EVENT_BOUND_MS, `${where}: acquire("locks")`)).release();
          if (other.capabilities.breakable) {
            for (const name of names) assert.deepEqual(await other.break(name, { reason: 'namespace test' }), [], `${where}: break(${JSON.stringify(name)})`);
          }
          for (const guard of held) assert.equal(guard.signal.aborted, false, `${mine}'s "${guard.name}" untouched by ${theirs}`);
          assert.deepEqual((await holder.list()).map((i) => i.name).sort(), [...names].sort(), `${mine} still lists its own`);
          for (const guard of held) await guard.release();
          await Promise.all([holder.close(), other.close()]);
        }
      }
    });

    it('close: releases the coordinator locks and rejects its waiters with ClosedError', async (t, env) => {
      const failed = record(t, channels.lockAcquireFailed);
      const a = await env.connect();
      const b = await env.connect();
      const mine = await a.acquire('close/mine');
      const theirs = await b.acquire('close/theirs');
      const waiting = a.acquire('close/theirs');
      const queued = a.acquire('close/mine');
      await delay(settle);
      const closed = a.close();
      assert.equal(a.close(), closed, 'close is idempotent');
      await assert.rejects(waiting, ClosedError);
      await assert.rejects(queued, ClosedError);
      await closed;
      assert.equal(mine.released, true);
      assert.deepEqual(await b.holders('close/mine'), []);
      assert.deepEqual((await b.list('close/')).map((i) => i.token), [theirs.token]);
      await assert.rejects(a.acquire('close/x'), ClosedError);
      assert.deepEqual(
        ['close/theirs', 'close/mine', 'close/x'].map((name) => failureReasons(failed, name)),
        [['closed'], ['closed'], ['closed']],
        'each failed acquire is published once, tryAcquire never',
      );
      await assert.rejects(a.tryAcquire('close/x'), ClosedError);
      await assert.rejects(a.list(), ClosedError);
      const next = await b.tryAcquire('close/mine');
      assert.ok(next);
      await next.release();
      await theirs.release();
    });

    it('break: displaces the holder, aborts its guard, next holder sees the record', async (t, env) => {
      const a = await env.connect();
      if (!needs(t, a, 'breakable')) return;
      const broken = record(t, channels.lockBroken);
      const b = await env.connect();
      const ops = await env.connect();
      const held = await a.acquire('broken');
      const waiting = b.acquire('broken');
      await delay(settle);
      const displaced = await ops.break('broken', { reason: 'conformance: holder stuck', by: 'tester' });
      assert.deepEqual(displaced.map((i) => i.token), [held.token]);
      assert.equal(displaced[0]!.owner.id, a.owner.id);
      assert.equal(JSON.parse(JSON.stringify(displaced))[0].token, held.token.toString(), 'break results serialise');
      if (options.observesBreak ?? true) {
        const reason = await whenAborted(held.signal, EVENT_BOUND_MS, 'displaced guard aborted');
        assert.ok(reason instanceof LockLostError);
        assert.equal(reason.reason, 'broken');
        assert.equal(reason.token, held.token);
      }
      const next = await bounded(waiting, EVENT_BOUND_MS, 'waiter granted after the break');
      assert.equal(next.predecessor?.outcome, 'broken');
      assert.equal(next.predecessor?.token, held.token);
      assert.equal(next.predecessor?.breakRecord?.reason, 'conformance: holder stuck');
      assert.equal(next.predecessor?.breakRecord?.by, 'tester');
      assert.ok(next.predecessor?.breakRecord?.at instanceof Date);
      assert.equal(broken.length, 1);
      assert.deepEqual(await ops.break('free-lock', { reason: 'nothing there' }), []);
      assert.throws(() => ops.break('broken', { reason: '' }), RangeError);
      await held.release(); // after loss: no error, and the new holder keeps its lock
      assert.deepEqual((await ops.holders('broken')).map((i) => i.token), [next.token]);
      await next.release();
    });

    it('break with expect: stale tokens are refused atomically and the current holder keeps its lock; the right ones break it', async (t, env) => {
      const a = await env.connect();
      if (!needs(t, a, 'breakable')) return;
      const broken = record(t, channels.lockBroken);
      const ops = await env.connect();
      const first = await a.acquire('conditional');
      const stale = [first.token];
      await first.release();
      const current = await a.acquire('conditional'); // granted after the operator looked
      const refused = await ops.break('conditional', { reason: 'stale view', expect: stale }).then(
        () => assert.fail('a break expecting a released holder must be refused'),
        (err: unknown) => err,
      );
      assert.ok(refused instanceof HolderChangedError, String(refused));
      assert.equal(refused.code, 'DEADBOLT_HOLDER_CHANGED');
      assert.deepEqual(refused.expected, stale);
      assert.deepEqual(refused.found, [current.token]);
      assert.match(refused.message, /changed hands.*nothing was broken/);
      // The engine was not touched: the holder is still listed, its guard not aborted, nothing published.
      assert.deepEqual((await ops.holders('conditional')).map((i) => i.token), [current.token]);
      assert.equal(current.signal.aborted, false);
      assert.equal(broken.length, 0);
      const displaced = await ops.break('conditional', { reason: 'right view', by: 'tester', expect: [current.token] });
      assert.deepEqual(displaced.map((i) => i.token), [current.token]);
      if (options.observesBreak ?? true) assert.ok((await whenAborted(current.signal, 5_000, 'displaced guard aborted')) instanceof LockLostError);
      assert.equal(broken.length, 1);
      // Nobody holds it now: expecting someone is refused, with nobody found.
      const gone = await ops.break('conditional', { reason: 'again', expect: [current.token] }).catch((err: unknown) => err);
      assert.ok(gone instanceof HolderChangedError && gone.found.length === 0, String(gone));
      assert.throws(() => ops.break('conditional', { reason: 'x', expect: [] }), TypeError);
      assert.throws(() => ops.break('conditional', { reason: 'x', expect: ['1' as unknown as bigint] }), TypeError);
      await current.release();
      if (!a.capabilities.shared) return;
      // Shared holders: the whole set must be expected, in any order.
      const b = await env.connect();
      const r1 = await a.acquire('conditional-shared', { mode: 'shared' });
      const r2 = await b.acquire('conditional-shared', { mode: 'shared' });
      const partial = await ops.break('conditional-shared', { reason: 'one of two', expect: [r1.token] }).catch((err: unknown) => err);
      assert.ok(partial instanceof HolderChangedError, String(partial));
      assert.equal(r1.signal.aborted || r2.signal.aborted, false);
      const both = await ops.break('conditional-shared', { reason: 'both', expect: [r2.token, r1.token] });
      assert.deepEqual(both.map((i) => i.token).sort(), [r1.token, r2.token].sort());
      await r1.release();
      await r2.release();
    });

    it('survey(): holders, waiters in queue order and the kept break record, read only; undefined when the engine cannot tell', async (t, env) => {
      const a = await env.connect({ host: 'holder-host', pid: 11 });
      if ((await a.survey('surveyed/')) === undefined) {
        // Justified skip: the driver has no survey (a lock directory: the kernel does not say who waits); callers show "unknown".
        t.skip(`${driverName} cannot tell who waits: survey() is undefined`);
        return;
      }
      const b = await env.connect({ host: 'first-waiter', pid: 22 });
      const c = await env.connect({ host: 'second-waiter', pid: 33 });
      const held = await a.acquire('surveyed/one');
      const first = b.acquire('surveyed/one');
      await delay(settle);
      const second = c.acquire('surveyed/one');
      await delay(settle);
      const survey = (await a.survey('surveyed/'))!;
      assert.deepEqual(survey.map((s) => s.name), ['surveyed/one']);
      const [entry] = survey;
      assert.deepEqual(entry!.holders.map((h) => [h.token, h.owner.host]), [[held.token, 'holder-host']]);
      assert.deepEqual(entry!.waiters.map((w) => [w.mode, w.owner.host, w.owner.pid]), [['exclusive', 'first-waiter', 22], ['exclusive', 'second-waiter', 33]]);
      assert.deepEqual(await a.survey('other/'), []);
      await held.release();
      await (await bounded(first, EVENT_BOUND_MS, 'first waiter granted')).release();
      if (a.capabilities.breakable) {
        // A break with nobody waiting: the name stays in the survey for its break record alone.
        const doomed = await a.acquire('surveyed/two');
        await c.break('surveyed/two', { reason: 'survey test', by: 'tester' });
        const kept = (await c.survey('surveyed/two'))!.find((s) => s.name === 'surveyed/two');
        assert.deepEqual(kept?.holders, []);
        assert.equal(kept?.lastBreak?.reason, 'survey test');
        assert.equal(kept?.lastBreak?.by, 'tester');
        assert.deepEqual(kept?.lastBreak?.displaced?.map((d) => d.token), [doomed.token]);
        await doomed.release();
      }
      await (await bounded(second, EVENT_BOUND_MS, 'second waiter granted')).release();
    });

    it('session loss: a cut-off holder is told before anyone else is granted its lock', async (t, env) => {
      if (options.pause === undefined) {
        // Justified skip: a driver whose coordinators cannot be cut off in-process proves loss in its own SIGSTOP test.
        t.skip(`no pause hook for ${driverName}: its per-driver tests cover loss with SIGSTOP`);
        return;
      }
      const a = await env.connect();
      if (!needs(t, a, 'serverLease')) return;
      const b = await env.connect();
      const lost = record(t, channels.lockLost);
      const sessionLost = record(t, channels.sessionLost);
      const failed = record(t, channels.lockAcquireFailed);
      const held = await a.acquire('loss');
      const blocker = await b.acquire('loss/blocker');
      const events: string[] = [];
      held.signal.addEventListener('abort', () => events.push('holder told'));
      const waiting = b.acquire('loss').then((guard) => (events.push('other granted'), guard));
      const doomed = a.acquire('loss/blocker');
      await delay(settle);
      await env.pause(a);
      const next = await bounded(waiting, 4 * options.ttl + EVENT_BOUND_MS, 'other coordinator granted after the lease ran out');
      assert.deepEqual(events, ['holder told', 'other granted']);
      await assert.rejects(doomed, SessionLostError, 'waiters of a lost session are rejected');
      await blocker.release();
      const reason = held.signal.reason as LockLostError;
      assert.ok(reason instanceof LockLostError);
      assert.equal(reason.reason, 'session');
      assert.ok(reason.cause instanceof SessionLostError);
      assert.equal(a.session.state, 'lost');
      assert.ok(a.signal.reason instanceof SessionLostError);
      assert.equal(next.predecessor?.outcome, 'expired');
      assert.equal(next.predecessor?.token, held.token);
      assert.ok(lost.some((m) => (m as { token?: bigint }).token === held.token));
      assert.equal(sessionLost.length, 1);
      await held.release(); // after loss: no error, and the new holder keeps its lock
      assert.deepEqual((await b.holders('loss')).map((i) => i.token), [next.token]);
      await assert.rejects(a.acquire('loss-2'), SessionLostError);
      assert.deepEqual(failureReasons(failed, 'loss-2'), ['session']);
      await env.resume(a);
      await a.close();
      await next.release();
    });

    recipeConformance(driverName, options, it, needs);
  });
}

/** The `reason` of each `deadbolt:lock:acquire-failed` message about `name`, checking its other fields. */
function failureReasons(messages: object[], name: string): string[] {
  return messages
    .map((m) => m as LockAcquireFailedMessage)
    .filter((m) => m.name === name)
    .map((m) => {
      assert.equal(typeof m.waitedMs, 'number');
      assert.ok(m.error !== undefined);
      return m.reason;
    });
}
