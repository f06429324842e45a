/**
 * Web Locks over the worker threads of one process (LockManager.forThreads()),
 * with real worker_threads as the other clients; and deadbolt's cross-thread
 * primitives (ThreadMutex, ThreadSemaphore, ThreadKeyedMutex).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { LockManager } from '../../src/web-locks/index.js';
import { ThreadKeyedMutex, ThreadMutex, ThreadSemaphore } from '../../src/index.js';
import { workerClient } from './remote.js';
import { webLocksConformance } from './suite.js';

webLocksConformance({
  label: 'threads (LockManager.forThreads)',
  locks: LockManager.forThreads(),
  remote: () => workerClient('threads'),
  fenced: false,
});

const COUNTER = fileURLToPath(new URL('./fixtures/thread-counter.js', import.meta.url));

/** Run `workers` threads of the counter fixture with `primitive`; resolves with the counter. */
async function count(primitive: string, workers: number, increments: number): Promise<number> {
  const shared = new SharedArrayBuffer(4);
  await Promise.all(
    Array.from({ length: workers }, () => {
      const worker = new Worker(COUNTER, { workerData: { shared, primitive, increments } });
      return new Promise<void>((resolve, reject) => {
        worker.once('error', reject);
        worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
      });
    }),
  );
  return new Int32Array(shared)[0]!;
}

for (const primitive of ['web-locks', 'ThreadMutex', 'ThreadSemaphore(1)', 'ThreadKeyedMutex']) {
  test(`threads: 4 workers x 1000 increments of a SharedArrayBuffer counter without atomics, under ${primitive}: exact`, async () => {
    assert.equal(await count(primitive, 4, 1000), 4000);
  });
}

test('ThreadSemaphore: permits are shared across threads; a thread naming other permits gets a RangeError', async (t) => {
  const sem = new ThreadSemaphore(`sem-${process.pid}`, 2);
  const a = await sem.acquire();
  const b = await sem.acquire();
  assert.equal(sem.tryAcquire(), undefined);
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.index).then(({ ThreadSemaphore }) => {
      const sem = new ThreadSemaphore(workerData.name, 2);
      parentPort.postMessage(sem.tryAcquire() === undefined ? 'busy' : 'got one');
      try { new ThreadSemaphore(workerData.name, 3).tryAcquire(); } catch (e) { parentPort.postMessage(e.name); }
    });`, { eval: true, workerData: { index: new URL('../../src/index.js', import.meta.url).href, name: sem.name } });
  t.after(() => worker.terminate());
  const messages: string[] = [];
  await new Promise<void>((resolve) => worker.on('message', (m: string) => messages.push(m) === 2 && resolve()));
  assert.deepEqual(messages, ['busy', 'RangeError']);
  await a.release();
  assert.equal(sem.state().holders, 1);
  await b.release();
});

test('ThreadMutex: acquire with a signal or a timeout leaves the queue; guards are idempotent', async () => {
  const mutex = new ThreadMutex(`mutex-${process.pid}`);
  const guard = await mutex.acquire();
  assert.equal(mutex.locked, true);
  const reason = new Error('stop');
  const c = new AbortController();
  const aborted = mutex.acquire({ signal: c.signal });
  c.abort(reason);
  await assert.rejects(aborted, (err) => err === reason);
  await assert.rejects(mutex.acquire({ timeout: 1 }), (err: Error & { code?: string }) => err.code === 'DEADBOLT_TIMEOUT');
  assert.equal(mutex.state().waiting, 0);
  await guard.release();
  await guard.release();
  assert.equal(mutex.locked, false);
  assert.equal(await mutex.run(() => 'ran'), 'ran');
});

test('ThreadKeyedMutex: keys are independent; the namespace separates users of the same keys', async () => {
  const a = new ThreadKeyedMutex(`ns-a-${process.pid}`);
  const b = new ThreadKeyedMutex(`ns-b-${process.pid}`);
  const g1 = await a.acquire('k1');
  assert.equal(a.isLocked('k1'), true);
  assert.equal(a.isLocked('k2'), false);
  assert.notEqual(a.tryAcquire('k2'), undefined);
  assert.notEqual(b.tryAcquire('k1'), undefined, 'another namespace');
  assert.equal(a.tryAcquire('k1'), undefined);
  await g1.release();
});

test('threads: a worker terminated while it waits leaves the queue (nothing is granted to a dead thread)', async (t) => {
  const locks = LockManager.forThreads();
  const name = `dead-waiter-${process.pid}`;
  const other = await workerClient('threads');
  t.after(() => other.close());
  let release!: () => void;
  const ours = locks.request(name, () => new Promise<void>((resolve) => (release = resolve)));
  await new Promise((resolve) => setImmediate(resolve));
  other.hold(name);
  while ((await locks.query()).pending.filter((l) => l.name === name).length === 0) await new Promise((resolve) => setImmediate(resolve));
  await other.kill();
  assert.deepEqual((await locks.query()).pending.filter((l) => l.name === name), []);
  release();
  await ours;
  assert.equal(await locks.request(name, { ifAvailable: true }, (lock) => lock !== null), true);
});
