import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClosedError, KeyedMutex, KeyedRWLock, LockTimeoutError } from '../../src/index.js';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

test('keys are independent; the same key excludes', async () => {
  const keyed = new KeyedMutex();
  const a = await keyed.acquire('a');
  const b = keyed.tryAcquire('b');
  assert.ok(b);
  assert.equal(keyed.tryAcquire('a'), undefined);
  assert.equal(keyed.size, 2);
  await a.release();
  await b.release();
  assert.equal(keyed.size, 0);
});

test('a million distinct keys leave nothing behind', async () => {
  const keyed = new KeyedMutex<number>();
  for (let i = 0; i < 1_000_000; i++) {
    const g = await keyed.acquire(i);
    await g.release();
  }
  assert.equal(keyed.size, 0);
});

test('entries are dropped when the last waiter gives up (abort, timeout) and after a failed tryAcquire', async () => {
  const keyed = new KeyedMutex();
  const held = await keyed.acquire('x');
  const controller = new AbortController();
  const aborted = keyed.acquire('x', { signal: controller.signal });
  const timed = keyed.acquire('x', { timeout: 5 });
  controller.abort();
  await assert.rejects(aborted);
  await assert.rejects(timed, LockTimeoutError);
  assert.equal(keyed.size, 1);
  await held.release();
  assert.equal(keyed.size, 0);

  assert.equal(keyed.tryAcquire('y')?.release() instanceof Promise, true);
  assert.equal(keyed.size, 0);
  await assert.rejects(keyed.acquire('z', { signal: AbortSignal.abort() }));
  assert.equal(keyed.size, 0);
  const z = await keyed.acquire('z');
  await assert.rejects(keyed.acquire('z', { timeout: 0 }), LockTimeoutError);
  await z.release();
  assert.equal(keyed.size, 0);
});

test('a waiter behind a holder is woken FIFO and the entry lives until it releases', async () => {
  const keyed = new KeyedMutex();
  const order: number[] = [];
  const first = await keyed.acquire('k');
  const rest = [1, 2, 3].map((n) => keyed.acquire('k').then(async (g) => { order.push(n); await g.release(); }));
  await flush();
  await first.release();
  await Promise.all(rest);
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(keyed.size, 0);
});

test('KeyedMutex refuses shared mode with a pointer to KeyedRWLock', () => {
  const keyed = new KeyedMutex();
  assert.throws(() => keyed.acquire('k', { mode: 'shared' } as never), /KeyedRWLock/);
  assert.throws(() => keyed.acquire(undefined as never), /key must be defined/);
  assert.equal(keyed.size, 0);
});

test('KeyedRWLock: shared holders share, exclusive waits, writers not starved, state reported', async () => {
  const keyed = new KeyedRWLock();
  const r1 = await keyed.acquire('t', { mode: 'shared' });
  const r2 = await keyed.acquire('t', { mode: 'shared' });
  const w = keyed.acquire('t');
  const r3 = keyed.acquire('t', { mode: 'shared' });
  await flush();
  assert.deepEqual(keyed.state('t'), { mode: 'shared', holders: 2, waiting: 2 });
  await r1.release();
  await r2.release();
  const wg = await w;
  assert.deepEqual(keyed.state('t'), { mode: 'exclusive', holders: 1, waiting: 1 });
  await wg.release();
  await (await r3).release();
  assert.deepEqual(keyed.state('t'), { mode: 'free', holders: 0, waiting: 0 });
  assert.equal(keyed.size, 0);
});

test('close rejects waiters of every key and later calls', async () => {
  const keyed = new KeyedRWLock();
  const held = await keyed.acquire('a');
  const waiter = keyed.acquire('a');
  keyed.close(new Error('bye'));
  await assert.rejects(waiter, ClosedError);
  await assert.rejects(keyed.acquire('b'), ClosedError);
  assert.throws(() => keyed.tryAcquire('b'), ClosedError);
  await held.release();
  assert.equal(keyed.size, 0);
});
