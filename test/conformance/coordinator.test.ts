/**
 * Coordinator rules that need a driver lacking a capability or misbehaving:
 * the memory driver wrapped, with some methods replaced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { channels } from '../../src/diagnostics.js';
import { BackendError, ClosedError, LockLostError, UnsupportedError, type LossReason } from '../../src/errors.js';
import { connectWith } from '../../src/distributed/connect.js';
import { SCHEMES } from '../../src/distributed/connect-url.js';
import type { Capabilities, Driver, DriverLock } from '../../src/distributed/driver.js';
import type { CoordinatorGuard } from '../../src/distributed/guard.js';
import { MemoryDriver } from '../../src/drivers/memory/driver.js';
import { memoryCapabilities, memorySpace } from '../../src/drivers/memory/index.js';
import { delay, peek, record } from './harness.js';

let spaces = 0;

/** A coordinator over a memory driver whose methods `overrides` may replace. */
async function coordinatorOver(
  overrides: (inner: MemoryDriver) => Partial<Driver> = () => ({}),
  capabilities: Partial<Capabilities> = {},
  space = `coordinator-unit-${++spaces}`,
) {
  const inner = new MemoryDriver(memorySpace(space), 'unit');
  const driver: Driver = {
    backend: 'memory',
    capabilities: { ...memoryCapabilities, ...capabilities },
    openSession: (ttl, owner) => inner.openSession(ttl, owner),
    acquire: (request, signal) => inner.acquire(request, signal),
    tryAcquire: (request) => inner.tryAcquire(request),
    list: (prefix) => inner.list(prefix),
    holders: (name) => inner.holders(name),
    break: (name, record) => inner.break(name, record),
    close: () => inner.close(),
    ...overrides(inner),
  };
  const source = {
    schemes: { ...SCHEMES, fake: { driver: 'fake', authority: 'name' as const, example: 'fake://x' } },
    load: async () => ({ createDriver: async () => driver }),
  };
  return { coordinator: await connectWith(source, 'fake://unit', { ttl: 2_000 }), space };
}

test('shared mode on a driver without it: UnsupportedError, never silently exclusive', async () => {
  const { coordinator } = await coordinatorOver(undefined, { shared: false });
  await assert.rejects(coordinator.acquire('x', { mode: 'shared' }), (e) => e instanceof UnsupportedError && /no shared locks/.test(e.message));
  await assert.rejects(coordinator.tryAcquire('x', { mode: 'shared' }), UnsupportedError);
  assert.deepEqual(await coordinator.holders('x'), []);
  await coordinator.close();
});

test('break on a driver that cannot: UnsupportedError', async () => {
  const { coordinator } = await coordinatorOver(undefined, { breakable: false });
  await assert.rejects(coordinator.break('x', { reason: 'r' }), UnsupportedError);
  await coordinator.close();
});

test('a driver rejecting an aborted wait with its own error: the caller still gets the signal reason', async () => {
  const { coordinator, space } = await coordinatorOver((inner) => ({
    acquire: (request, signal) => inner.acquire(request, signal).catch(() => Promise.reject(new Error('client-specific AbortError'))),
  }));
  const { coordinator: other } = await coordinatorOver(undefined, undefined, space);
  const held = await other.acquire('x');
  const controller = new AbortController();
  const waiting = coordinator.acquire('x', { signal: controller.signal });
  await delay(5);
  const reason = new Error('mine');
  controller.abort(reason);
  await assert.rejects(waiting, (e) => e === reason);
  await held.release();
  await coordinator.close();
  await other.close();
});

test('a failing release rejects while the lock is held, never after a loss; the local permit is freed either way', async () => {
  const failure = new BackendError('etcd: request timed out');
  const { coordinator } = await coordinatorOver((inner) => ({
    acquire: async (request, signal) => wrapLock(await inner.acquire(request, signal), () => Promise.reject(failure)),
  }));
  const held = await coordinator.acquire('x');
  const next = coordinator.acquire('x');
  await assert.rejects(held.release(), (e) => e === failure);
  await delay(5);
  assert.equal(await peek(next), 'pending', 'the process queue moved on; the engine still has our claim');
  const lost = (await coordinator.acquire('y')) as CoordinatorGuard;
  lost.markLost('deleted', 'test');
  await lost.release(); // no error after a loss
  await coordinator.close(); // revoking the session frees the stuck claim
  await assert.rejects(next, ClosedError);
});

test('DriverLock.onLoss: the guard aborts with LockLostError, and the process queue moves on', async () => {
  const locks: ReturnType<typeof wrapLock>[] = [];
  const { coordinator } = await coordinatorOver((inner) => ({
    acquire: async (request, signal) => {
      const lock = wrapLock(await inner.acquire(request, signal)); // its loss is the test's to report
      locks.push(lock);
      return lock;
    },
  }));
  const held = await coordinator.acquire('x');
  const queued = coordinator.acquire('x');
  await delay(5);
  assert.equal(locks.length, 1, 'the second caller waits in the process queue, not at the engine');
  locks[0]!.lossListener!('deleted', 'key deleted behind our back');
  const reason = held.signal.reason as LockLostError;
  assert.ok(reason instanceof LockLostError);
  assert.equal(reason.reason, 'deleted');
  assert.equal(reason.lockName, 'x');
  assert.equal(await peek(queued), 'pending', 'our claim is still at the engine (simulated loss)');
  await held.release(); // conditional release of our claim lets the next caller in
  const next = await queued;
  assert.ok(next.token > held.token);
  await next.release();
  await coordinator.close();
});

test('a grant that lands after close is given straight back', async () => {
  let grant!: () => void;
  let released = 0;
  const { coordinator } = await coordinatorOver((inner) => ({
    acquire: (request) =>
      new Promise((resolve) => {
        grant = () => void inner.acquire(request, new AbortController().signal).then((lock) => resolve(wrapLock(lock, async () => void released++)));
      }),
  }));
  const pending = coordinator.acquire('x');
  await delay(5);
  const closing = coordinator.close();
  grant();
  await assert.rejects(pending, ClosedError);
  await closing;
  assert.equal(released, 1);
});

test('close lets waits withdraw from the engine before it revokes the session', async () => {
  const order: string[] = [];
  const { coordinator, space } = await coordinatorOver((inner) => ({
    acquire: (request, signal) =>
      inner.acquire(request, signal).catch(async (err: unknown) => {
        await delay(10); // a withdrawal round trip
        order.push('withdrawn');
        throw err;
      }),
    openSession: async (ttl, owner) => {
      const session = await inner.openSession(ttl, owner);
      const revoke = session.revoke.bind(session);
      session.revoke = async () => {
        order.push('revoked');
        await revoke();
      };
      return session;
    },
  }));
  const { coordinator: other } = await coordinatorOver(undefined, undefined, space);
  const held = await other.acquire('y');
  const waiting = coordinator.acquire('y');
  await delay(5);
  await coordinator.close();
  await assert.rejects(waiting, ClosedError);
  assert.deepEqual(order, ['withdrawn', 'revoked']);
  await held.release();
  await other.close();
});

test('breaking our own lock marks our guard lost even when the driver does not notify', async (t) => {
  const broken = record(t, channels.lockBroken);
  const { coordinator } = await coordinatorOver((inner) => ({
    acquire: async (request, signal) => wrapLock(await inner.acquire(request, signal)),
  }));
  const held = await coordinator.acquire('x');
  const displaced = await coordinator.break('x', { reason: 'test' });
  assert.equal(displaced.length, 1);
  assert.equal((held.signal.reason as LockLostError).reason, 'broken');
  assert.match((held.signal.reason as Error).message, /broken by .*: test/);
  assert.equal(broken.length, 1);
  assert.equal((broken[0] as { by: string }).by, `${coordinator.owner.host}:${coordinator.owner.pid}`);
  await held.release();
  await coordinator.close();
});

test('diagnostics: waiting, then acquired with waitedMs', async (t) => {
  const waiting = record(t, channels.lockWaiting);
  const acquired = record(t, channels.lockAcquired);
  const { coordinator } = await coordinatorOver();
  const guard = await coordinator.acquire('diag');
  assert.deepEqual(waiting.at(-1), { name: 'diag', mode: 'exclusive', backend: 'memory' });
  const message = acquired.at(-1) as { token: bigint; waitedMs: number };
  assert.equal(message.token, guard.token);
  assert.equal(typeof message.waitedMs, 'number');
  await guard.release();
  await coordinator.close();
});

/** A DriverLock that forwards to `lock` but never reports loss, with another release. */
/** `lock` with another release, and a loss the test reports by calling the listener it kept (`lossListener`). */
function wrapLock(lock: DriverLock, release: () => Promise<void> = () => lock.release()): DriverLock & { lossListener?: (reason: LossReason, detail: string) => void } {
  const wrapped: DriverLock & { lossListener?: (reason: LossReason, detail: string) => void } = {
    token: lock.token,
    since: lock.since,
    ...(lock.predecessor === undefined ? {} : { predecessor: lock.predecessor }),
    onLoss: (listener) => void (wrapped.lossListener = listener),
    release,
  };
  return wrapped;
}

test('many concurrent acquires on one coordinator: no MaxListenersExceededWarning (each wait listens to the session until it settles)', async (t) => {
  const { coordinator } = await coordinatorOver();
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.name);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const held = await coordinator.acquire('busy');
  const waits = Array.from({ length: 25 }, () => coordinator.acquire('busy', { timeout: 20 }).then(() => 'granted', (err: Error) => err.name));
  assert.deepEqual(new Set(await Promise.all(waits)), new Set(['LockTimeoutError']));
  await held.release();
  await coordinator.close();
  // Warnings are emitted on the next tick after the listener that crossed the limit.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(warnings, []);
});
