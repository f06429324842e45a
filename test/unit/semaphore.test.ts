import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClosedError, LockTimeoutError, Mutex, Semaphore, isInvalidArgument } from '../../src/index.js';

/** Settle all pending promise reactions (several turns of the microtask queue). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

test('permits are granted up to the limit, then queued in FIFO order', async () => {
  const sem = new Semaphore(2);
  const a = await sem.acquire();
  const b = await sem.acquire();
  assert.equal(sem.available, 0);
  const order: string[] = [];
  const c = sem.acquire().then((g) => (order.push('c'), g));
  const d = sem.acquire().then((g) => (order.push('d'), g));
  await flush();
  assert.equal(sem.waiting, 2);
  assert.deepEqual(order, []);
  await a.release();
  await flush();
  assert.deepEqual(order, ['c']);
  await b.release();
  await flush();
  assert.deepEqual(order, ['c', 'd']);
  await (await c).release();
  await (await d).release();
  assert.equal(sem.available, 2);
});

test('a heavy waiter at the head holds back lighter ones (no starvation), and they go in when it leaves', async () => {
  const sem = new Semaphore(3);
  const held = await sem.acquire({ weight: 2 });
  const controller = new AbortController();
  const heavy = sem.acquire({ weight: 3, signal: controller.signal });
  let lightGranted = false;
  const light = sem.acquire({ weight: 1 }).then((g) => ((lightGranted = true), g));
  await flush();
  assert.equal(lightGranted, false, 'the light waiter must not jump the heavy one');
  assert.equal(sem.tryAcquire(), undefined, 'tryAcquire must not barge past waiters');
  controller.abort(new Error('no longer needed'));
  await assert.rejects(heavy, /no longer needed/);
  await flush();
  assert.equal(lightGranted, true, 'removing the head must wake the waiter behind it');
  await (await light).release();
  await held.release();
  assert.equal(sem.available, 3);
});

test('weight larger than permits fails at once, synchronously', () => {
  const sem = new Semaphore(2);
  assert.throws(() => sem.acquire({ weight: 3 }), (err: unknown) => {
    assert.ok(isInvalidArgument(err));
    assert.ok(err instanceof RangeError);
    assert.match(err.message, /options\.weight.*at most the semaphore's 2 permits.*got 3/);
    return true;
  });
  assert.throws(() => sem.tryAcquire({ weight: 3 }), RangeError);
  assert.equal(sem.waiting, 0);
});

test('bad permits and weights are rejected with the option name and the value seen', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 31]) {
    assert.throws(() => new Semaphore(bad), (e: unknown) => isInvalidArgument(e) && (e as Error).message.startsWith('permits must be'));
  }
  assert.throws(() => new Semaphore('3' as unknown as number), TypeError);
  const sem = new Semaphore(4);
  for (const bad of [0, -2, 0.5, Number.NaN]) {
    assert.throws(() => sem.acquire({ weight: bad }), (e: unknown) => isInvalidArgument(e) && /options\.weight/.test((e as Error).message));
  }
  assert.equal(sem.available, 4);
});

test('bad timeouts and signals are rejected synchronously', () => {
  const sem = new Semaphore(1);
  for (const bad of [-1, Number.NaN, '10', 2 ** 31]) {
    assert.throws(() => sem.acquire({ timeout: bad as number }), (e: unknown) => isInvalidArgument(e) && /options\.timeout/.test((e as Error).message));
  }
  assert.throws(() => sem.acquire({ signal: {} as AbortSignal }), /options\.signal must be an AbortSignal/);
  assert.throws(() => sem.acquire(42 as never), /options must be an object; got 42/);
  assert.equal(sem.available, 1);
});

test('timeout rejects with LockTimeoutError and leaves the queue', async () => {
  const sem = new Semaphore(1);
  const held = await sem.acquire();
  const started = performance.now();
  const err = await sem.acquire({ timeout: 20 }).catch((e: unknown) => e);
  assert.ok(err instanceof LockTimeoutError);
  assert.equal(err.code, 'DEADBOLT_TIMEOUT');
  assert.equal(err.timeout, 20);
  assert.ok(performance.now() - started >= 19);
  assert.equal(sem.waiting, 0);
  await held.release();
  assert.equal(sem.available, 1);
});

test('timeout 0 grants only what is free now', async () => {
  const sem = new Semaphore(1);
  const g = await sem.acquire({ timeout: 0 });
  await assert.rejects(sem.acquire({ timeout: 0 }), LockTimeoutError);
  assert.equal(sem.waiting, 0);
  await g.release();
});

test('an already-aborted signal rejects with its reason without queueing', async () => {
  const sem = new Semaphore(1);
  const reason = new Error('user went away');
  await assert.rejects(sem.acquire({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
  assert.equal(sem.waiting, 0);
  assert.equal(sem.available, 1);
});

test('abort while waiting rejects with signal.reason and frees the slot; a late abort after the grant changes nothing', async () => {
  const sem = new Semaphore(1);
  const held = await sem.acquire();
  const controller = new AbortController();
  const waiting = sem.acquire({ signal: controller.signal });
  controller.abort('bored');
  await assert.rejects(waiting, (e) => e === 'bored');
  assert.equal(sem.waiting, 0);
  await held.release();

  const later = new AbortController();
  const g = await sem.acquire({ signal: later.signal, timeout: 50 });
  later.abort();
  await new Promise((r) => setTimeout(r, 60)); // past the timeout: the timer must have been cleared
  assert.equal(g.released, false);
  assert.equal(sem.available, 0);
  await g.release();
  assert.equal(sem.available, 1);
});

test('release is idempotent and only the guard can release', async () => {
  const sem = new Semaphore(2);
  const g = await sem.acquire({ weight: 2 });
  assert.equal(g.released, false);
  await g.release();
  await g.release();
  assert.equal(g.released, true);
  assert.equal(sem.available, 2, 'a second release must not mint permits');
});

test('close rejects every waiter and later acquires with ClosedError; late releases are harmless', async () => {
  const sem = new Semaphore(1);
  const held = await sem.acquire();
  const w1 = sem.acquire();
  const w2 = sem.acquire({ timeout: 10_000 });
  const reason = new Error('shutting down');
  sem.close(reason);
  for (const w of [w1, w2]) {
    await assert.rejects(w, (e: unknown) => e instanceof ClosedError && e.cause === reason && /shutting down/.test(e.message));
  }
  await assert.rejects(sem.acquire(), ClosedError);
  assert.throws(() => sem.tryAcquire(), ClosedError);
  await held.release();
  await held.release();
  assert.equal(sem.waiting, 0);
});

test('run releases on success and on throw, and validates fn', async () => {
  const mutex = new Mutex();
  assert.equal(await mutex.run(async () => 7), 7);
  assert.equal(mutex.locked, false);
  await assert.rejects(mutex.run(() => { throw new Error('boom'); }), /boom/);
  assert.equal(mutex.locked, false);
  assert.throws(() => mutex.run('nope' as never), /fn must be a function/);
});

test('Mutex serialises a read-modify-write that would otherwise lose updates', async () => {
  const mutex = new Mutex();
  let counter = 0;
  const tick = () => new Promise<void>((r) => setImmediate(r));
  await Promise.all(
    Array.from({ length: 200 }, () =>
      mutex.run(async () => {
        const seen = counter;
        await tick();
        counter = seen + 1;
      }),
    ),
  );
  assert.equal(counter, 200);
});

test('await using releases at the end of the block, even on throw', async () => {
  const mutex = new Mutex();
  {
    await using guard = await mutex.acquire();
    assert.equal(mutex.locked, true);
    assert.equal(guard.released, false);
  }
  assert.equal(mutex.locked, false);
  await assert.rejects(
    (async () => {
      await using _g = await mutex.acquire();
      throw new Error('inside');
    })(),
    /inside/,
  );
  assert.equal(mutex.locked, false);
});
