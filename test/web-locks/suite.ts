/**
 * The Web Locks conformance suite, written from the W3C specification's
 * algorithms ("request a lock", "process the lock request queue",
 * "grantable", "steal", "abort the request", "query"), run against every
 * deadbolt scope and, as the reference, against Node 24's own navigator.locks
 * (reference-node24.ts). A target's known difference from the specification is
 * run as a `todo` with the reason: it shows in the output, it does not fail.
 *
 * Usage: webLocksConformance({ label: 'threads', locks, remote: () => workerClient('threads'), … }).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RemoteClient } from './remote.js';
import { HANG_GUARD_MS } from '../harness/bounds.js';

/** The part of a LockManager the suite uses (deadbolt's, or the platform's). */
export interface LockManagerLike {
  request(name: string, ...rest: unknown[]): Promise<unknown>;
  query(): Promise<{ held: LockInfoLike[]; pending: LockInfoLike[] }>;
}
interface LockInfoLike {
  name?: string;
  mode?: string;
  clientId?: string;
}
type LockLike = { name: string; mode: string; token?: bigint; signal?: AbortSignal } | null;

/** A scope under test. */
export interface Target {
  label: string;
  locks: LockManagerLike;
  /** Another client of the same scope (a worker thread, a child process, another coordinator). */
  remote(): Promise<RemoteClient>;
  /** Whether granted locks carry `token` and `signal` (lock directories, coordinators). */
  fenced: boolean;
  /** Test title → why this target differs from the specification there (run as todo, bounded to 3 s). */
  differences?: Record<string, string>;
  /** Test title → why it cannot run on this target at all (it would crash the process): skipped with that reason. */
  crashes?: Record<string, string>;
}

let names = 0;

/** Resolves after the event loop has turned a few times: enough for anything already runnable to run. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Whether `p` settled (without waiting for it). */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await turns();
  return settled;
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A request whose callback holds the lock until `release()`; `granted` resolves with the lock. */
function hold(locks: LockManagerLike, name: string, options: object = {}) {
  const granted = deferred<LockLike>();
  const done = deferred();
  const result = locks.request(name, options, (lock: LockLike) => {
    granted.resolve(lock);
    return done.promise.then(() => 'released');
  });
  // A request that fails before its grant (a lost session) fails `granted` too, so no test awaits a grant that cannot come.
  const grantedOrFailed = Promise.race([granted.promise, result.then(() => new Promise<never>(() => {}))]);
  result.catch(() => {});
  grantedOrFailed.catch(() => {});
  return { granted: grantedOrFailed, result, release: () => done.resolve() };
}

/** Register the suite for `target`. */
export function webLocksConformance(target: Target): void {
  const { locks } = target;
  const it = (title: string, fn: (name: string) => Promise<void>) => {
    const todo = target.differences?.[title];
    const skip = target.crashes?.[title];
    const options = skip !== undefined ? { skip } : todo !== undefined ? { todo, timeout: 3_000 } : { timeout: HANG_GUARD_MS };
    test(title, options, () => fn(`wl-${process.pid}-${++names}`));
  };
  const mine = async (name: string) => {
    const snapshot = await locks.query();
    const only = (list: LockInfoLike[]) => list.filter((l) => l.name === name).map((l) => l.mode);
    return { held: only(snapshot.held), pending: only(snapshot.pending), snapshot };
  };

  describe(`web locks conformance: ${target.label}`, () => {
    it('request(name, callback): the callback gets a Lock {name, mode}; the promise resolves with its result', async (name) => {
      let seen: LockLike = null;
      const value = await locks.request(name, (lock: LockLike) => {
        seen = lock;
        return 42;
      });
      assert.equal(value, 42);
      assert.equal(seen!.name, name);
      assert.equal(seen!.mode, 'exclusive');
      assert.equal(await locks.request(name, { mode: 'shared' }, async (lock: LockLike) => lock!.mode), 'shared');
    });

    it('the callback runs after request() has returned (the spec enqueues it as a task)', async (name) => {
      const order: string[] = [];
      const p = locks.request(name, () => order.push('callback'));
      order.push('returned');
      await p;
      assert.deepEqual(order, ['returned', 'callback']);
    });

    it('a callback that throws: request() rejects with that error, and the lock is released', async (name) => {
      const boom = new Error('boom');
      await assert.rejects(locks.request(name, () => {
        throw boom;
      }), (err) => err === boom);
      assert.equal(await locks.request(name, { ifAvailable: true }, (lock: LockLike) => lock !== null), true);
    });

    it('a callback whose promise rejects: request() rejects with that reason, and the lock is released', async (name) => {
      const boom = new Error('boom');
      await assert.rejects(locks.request(name, async () => Promise.reject(boom)), (err) => err === boom);
      assert.equal(await locks.request(name, { ifAvailable: true }, (lock: LockLike) => lock !== null), true);
    });

    it('exclusive: a second request waits until the first callback settles', async (name) => {
      const a = hold(locks, name);
      await a.granted;
      const b = hold(locks, name);
      assert.equal(await isSettled(b.granted), false);
      a.release();
      assert.equal(await a.result, 'released');
      await b.granted;
      b.release();
      await b.result;
    });

    it('grant order: requests for one name are granted in the order they were made (FIFO)', async (name) => {
      const first = hold(locks, name);
      await first.granted;
      const order: number[] = [];
      const rest = [1, 2, 3, 4].map((i) => locks.request(name, () => void order.push(i)));
      first.release();
      await Promise.all(rest);
      assert.deepEqual(order, [1, 2, 3, 4]);
    });

    it('shared: held together; an exclusive request waits for every shared holder', async (name) => {
      const s1 = hold(locks, name, { mode: 'shared' });
      const s2 = hold(locks, name, { mode: 'shared' });
      await Promise.all([s1.granted, s2.granted]);
      assert.deepEqual((await mine(name)).held, ['shared', 'shared']);
      const x = hold(locks, name);
      assert.equal(await isSettled(x.granted), false);
      s1.release();
      await s1.result;
      assert.equal(await isSettled(x.granted), false);
      s2.release();
      await x.granted;
      x.release();
      await x.result;
    });

    it('no barging: a shared request behind a waiting exclusive one waits, though the lock is held shared', async (name) => {
      const s1 = hold(locks, name, { mode: 'shared' });
      await s1.granted;
      const x = hold(locks, name);
      const s2 = hold(locks, name, { mode: 'shared' });
      assert.equal(await isSettled(s2.granted), false);
      s1.release();
      await x.granted;
      assert.equal(await isSettled(s2.granted), false);
      x.release();
      await s2.granted;
      s2.release();
      await Promise.all([s1.result, x.result, s2.result]);
    });

    it('ifAvailable: the callback gets null when not grantable now, and the lock when it is', async (name) => {
      const a = hold(locks, name);
      await a.granted;
      assert.equal(await locks.request(name, { ifAvailable: true }, (lock: LockLike) => (lock === null ? 'busy' : 'got it')), 'busy');
      a.release();
      await a.result;
      assert.equal(await locks.request(name, { ifAvailable: true }, (lock: LockLike) => lock?.name), name);
    });

    it('ifAvailable: not grantable while others are queued, even when the mode would fit', async (name) => {
      const s = hold(locks, name, { mode: 'shared' });
      await s.granted;
      const x = hold(locks, name);
      await turns();
      assert.equal(await locks.request(name, { mode: 'shared', ifAvailable: true }, (lock: LockLike) => lock), null);
      s.release();
      await x.granted;
      x.release();
      await Promise.all([s.result, x.result]);
    });

    it('steal: the holder\'s request() rejects with AbortError at once; the stealer is granted ahead of the queue', async (name) => {
      const holder = hold(locks, name);
      await holder.granted;
      const waiter = hold(locks, name);
      await turns();
      const order: string[] = [];
      void waiter.granted.then(() => order.push('waiter'));
      const stolen = await locks.request(name, { steal: true }, (lock: LockLike) => {
        order.push('stealer');
        return lock!.mode;
      });
      assert.equal(stolen, 'exclusive');
      await assert.rejects(holder.result, (err: Error) => err.name === 'AbortError');
      await waiter.granted;
      assert.deepEqual(order, ['stealer', 'waiter']);
      waiter.release();
      holder.release();
      await waiter.result;
    });

    it('abort while waiting: rejects with the signal\'s reason (default AbortError, or any value), leaves the queue', async (name) => {
      const a = hold(locks, name);
      await a.granted;
      const c1 = new AbortController();
      const c2 = new AbortController();
      let ran = false;
      const p1 = locks.request(name, { signal: c1.signal }, () => void (ran = true));
      const p2 = locks.request(name, { signal: c2.signal }, () => void (ran = true));
      await turns();
      c1.abort();
      const reason = { why: 'custom reason' };
      c2.abort(reason);
      await assert.rejects(p1, (err: Error) => err.name === 'AbortError');
      await assert.rejects(p2, (err) => err === reason);
      assert.deepEqual((await mine(name)).pending, []);
      a.release();
      await a.result;
      assert.equal(ran, false);
      assert.equal(await locks.request(name, { ifAvailable: true }, (lock: LockLike) => lock !== null), true);
    });

    it('abort: an already aborted signal rejects with its reason and never calls back; abort after the grant does nothing', async (name) => {
      let ran = false;
      await assert.rejects(locks.request(name, { signal: AbortSignal.abort('early') }, () => void (ran = true)), (err) => err === 'early');
      assert.equal(ran, false);
      const c = new AbortController();
      const value = await locks.request(name, { signal: c.signal }, async () => {
        c.abort();
        await turns(1);
        return 'kept';
      });
      assert.equal(value, 'kept');
    });

    it('errors: NotSupportedError for names starting with "-" and for forbidden option mixes; TypeError for bad arguments; never thrown synchronously', async (name) => {
      const rejectsWith = async (errName: string, ...args: unknown[]) => {
        let p!: Promise<unknown>;
        assert.doesNotThrow(() => (p = locks.request(...(args as [string]))));
        await assert.rejects(p, (err: Error) => err.name === errName, `${errName} for ${String(args[0])}`);
      };
      const cb = () => {};
      await rejectsWith('NotSupportedError', '-reserved', cb);
      await rejectsWith('NotSupportedError', name, { steal: true, ifAvailable: true }, cb);
      await rejectsWith('NotSupportedError', name, { steal: true, mode: 'shared' }, cb);
      await rejectsWith('NotSupportedError', name, { steal: true, signal: new AbortController().signal }, cb);
      await rejectsWith('NotSupportedError', name, { ifAvailable: true, signal: new AbortController().signal }, cb);
      await rejectsWith('TypeError', name, { mode: 'bogus' }, cb);
      await rejectsWith('TypeError', name);
      await rejectsWith('TypeError', name, {}, 'not a function');
      await rejectsWith('TypeError', Symbol('x'), cb);
      const e = await locks.request('-x', cb).catch((err: unknown) => err);
      assert.ok(e instanceof DOMException, 'NotSupportedError is a DOMException');
      // Names are converted to strings; a name that merely contains "-" is fine.
      assert.equal(await locks.request(`${name}-ok`, (lock: LockLike) => lock!.name), `${name}-ok`);
    });

    it('query: held and pending snapshots with name, mode and clientId, held in grant order, pending in queue order', async (name) => {
      const s1 = hold(locks, name, { mode: 'shared' });
      const s2 = hold(locks, name, { mode: 'shared' });
      await Promise.all([s1.granted, s2.granted]);
      const x = hold(locks, name);
      const s3 = hold(locks, name, { mode: 'shared' });
      await turns();
      const { held, pending, snapshot } = await mine(name);
      assert.deepEqual(held, ['shared', 'shared']);
      assert.deepEqual(pending, ['exclusive', 'shared']);
      const entries = [...snapshot.held, ...snapshot.pending].filter((l) => l.name === name);
      assert.ok(entries.every((l) => typeof l.clientId === 'string' && l.clientId === entries[0]!.clientId), 'one client, one clientId');
      s1.release();
      s2.release();
      await x.granted;
      assert.deepEqual((await mine(name)).held, ['exclusive']);
      x.release();
      await s3.granted;
      s3.release();
      await Promise.all([s1.result, s2.result, x.result, s3.result]);
      assert.deepEqual(await mine(name).then(({ held, pending }) => [held, pending]), [[], []]);
    });

    describe('across clients', () => {
      it('another client\'s exclusive lock makes this one wait until it is released', async (name) => {
        const other = await target.remote();
        try {
          const theirs = other.hold(name);
          await theirs.granted;
          const ours = hold(locks, name);
          assert.equal(await isSettled(ours.granted), false);
          theirs.release();
          assert.equal((await theirs.settled).outcome, 'resolved');
          await ours.granted;
          ours.release();
          await ours.result;
        } finally {
          await other.close();
        }
      });

      it('query shows another client\'s lock with a different clientId', async (name) => {
        const other = await target.remote();
        try {
          const theirs = other.hold(name, { mode: 'shared' });
          await theirs.granted;
          const ours = hold(locks, name, { mode: 'shared' });
          await ours.granted;
          const held = (await locks.query()).held.filter((l) => l.name === name);
          assert.equal(held.length, 2);
          assert.notEqual(held[0]!.clientId, held[1]!.clientId);
          const remoteView = (await other.query()).held.filter((l) => l.name === name);
          assert.equal(remoteView.length, 2);
          ours.release();
          theirs.release();
          await Promise.all([ours.result, theirs.settled]);
        } finally {
          await other.close();
        }
      });

      it('a client that ends while holding (worker terminated, process killed, session closed) releases its locks', async (name) => {
        const other = await target.remote();
        try {
          await other.hold(name).granted;
          const ours = hold(locks, name);
          assert.equal(await isSettled(ours.granted), false);
          await other.kill();
          await ours.granted;
          ours.release();
          await ours.result;
        } finally {
          await other.close();
        }
      });

      it('steal from another client: its request() rejects with AbortError (and, fenced, its lock\'s signal aborts)', async (name) => {
        const other = await target.remote();
        try {
          const theirs = other.hold(name);
          await theirs.granted;
          assert.equal(await locks.request(name, { steal: true }, (lock: LockLike) => lock!.name), name);
          const settled = await theirs.settled;
          if (target.fenced) assert.equal(settled.signalAborted, true);
          assert.equal(settled.outcome, 'AbortError');
          theirs.release();
        } finally {
          await other.close();
        }
      });
    });

    if (target.fenced) {
      it('fenced scopes: the lock also carries a fencing token that grows with each grant, and a live loss signal', async (name) => {
        const tokens: bigint[] = [];
        for (let i = 0; i < 3; i++) {
          await locks.request(name, (lock: LockLike) => {
            assert.equal(typeof lock!.token, 'bigint');
            assert.equal(lock!.signal!.aborted, false);
            tokens.push(lock!.token!);
          });
        }
        assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, `tokens ${tokens.join(', ')} grow`);
      });
    }
  });
}
