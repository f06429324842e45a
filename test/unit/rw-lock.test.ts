import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LockTimeoutError, RWLock } from '../../src/index.js';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

test('many readers at once, one writer alone', async () => {
  const lock = new RWLock();
  const r1 = await lock.acquire({ mode: 'shared' });
  const r2 = await lock.acquire({ mode: 'shared' });
  assert.deepEqual(lock.state, { mode: 'shared', holders: 2 });
  assert.equal(lock.tryAcquire(), undefined);
  await r1.release();
  await r2.release();
  const w = lock.tryAcquire();
  assert.ok(w);
  assert.deepEqual(lock.state, { mode: 'exclusive', holders: 1 });
  assert.equal(lock.tryAcquire({ mode: 'shared' }), undefined);
  await w.release();
  assert.deepEqual(lock.state, { mode: 'free', holders: 0 });
});

test('a waiting writer is not starved by a stream of readers', async () => {
  const lock = new RWLock();
  const events: string[] = [];
  const r1 = await lock.acquire({ mode: 'shared' });
  const writer = lock.acquire().then((g) => (events.push('writer'), g));
  const lateReader = lock.acquire({ mode: 'shared' }).then((g) => (events.push('late reader'), g));
  await flush();
  assert.deepEqual(events, [], 'a reader arriving after a queued writer must wait');
  await r1.release();
  await flush();
  assert.deepEqual(events, ['writer']);
  await (await writer).release();
  await flush();
  assert.deepEqual(events, ['writer', 'late reader']);
  await (await lateReader).release();
});

test('readers queued behind a writer are admitted together when it releases', async () => {
  const lock = new RWLock();
  const w = await lock.acquire();
  const readers = Array.from({ length: 5 }, () => lock.acquire({ mode: 'shared' }));
  await flush();
  assert.equal(lock.waiting, 5);
  await w.release();
  const guards = await Promise.all(readers);
  assert.deepEqual(lock.state, { mode: 'shared', holders: 5 });
  await Promise.all(guards.map((g) => g.release()));
});

test('a writer that times out lets the readers behind it in', async () => {
  const lock = new RWLock();
  const r = await lock.acquire({ mode: 'shared' });
  const writer = lock.acquire({ timeout: 10 });
  const reader = lock.acquire({ mode: 'shared' });
  await assert.rejects(writer, LockTimeoutError);
  const g = await reader;
  assert.deepEqual(lock.state, { mode: 'shared', holders: 2 });
  await g.release();
  await r.release();
});

test('bad mode is rejected synchronously, naming the option', () => {
  const lock = new RWLock();
  assert.throws(() => lock.acquire({ mode: 'read' as never }), /options\.mode must be 'exclusive' or 'shared'; got "read"/);
  assert.throws(() => lock.tryAcquire({ mode: 'write' as never }), TypeError);
});
