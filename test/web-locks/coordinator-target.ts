/**
 * The Web Locks conformance suite over coordinators on `url` (one engine):
 * this client is one coordinator, each "remote" client another coordinator
 * (another host, as far as the engine can tell), plus the hosts' counter test.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import { LockManager, type FencedLock } from '../../src/web-locks/index.js';
import { managerClient, processCoordinatorClient } from './remote.js';
import { webLocksConformance, type LockManagerLike } from './suite.js';
import { HANG_GUARD_MS } from '../harness/bounds.js';

/**
 * Register the suite for coordinators on `url()` with session `ttl`; with
 * `crossProcess` (a real engine), also a steal from a holder in another process.
 */
export function coordinatorConformance(label: string, url: () => string, ttl: number, crossProcess = false): void {
  const namespace = `web-locks-${process.pid}`;
  const open = () => connect(url(), { ttl, namespace });
  // Connected on first use, inside a test: the engine's own before() hook has run by then.
  let main: Promise<{ coordinator: Coordinator; locks: LockManager }> | undefined;
  const first = () =>
    (main ??= open().then((coordinator) => ({ coordinator, locks: LockManager.forCoordinator(coordinator, { allowSteal: true }) })));
  after(async () => (await main)?.coordinator.close());
  const lazy: LockManagerLike = {
    request: (...args) => first().then(({ locks }) => locks.request(...(args as [string, never]))),
    query: () => first().then(({ locks }) => locks.query()),
  };

  webLocksConformance({
    label: `hosts (LockManager.forCoordinator, ${label})`,
    locks: lazy,
    remote: async () => {
      const other = await open();
      return managerClient(LockManager.forCoordinator(other, { allowSteal: true }), () => other.close());
    },
    fenced: true,
  });

  test(`hosts (${label}): 4 coordinators x 100 increments of a shared counter under one Web Lock: exact`, { timeout: HANG_GUARD_MS }, async () => {
    const coordinators = await Promise.all([open(), open(), open(), open()]);
    try {
      let counter = 0;
      await Promise.all(
        coordinators.map(async (c) => {
          const l = LockManager.forCoordinator(c);
          for (let i = 0; i < 100; i++) {
            await l.request('counter', async () => {
              const value = counter;
              await new Promise((resolve) => setImmediate(resolve));
              counter = value + 1;
            });
          }
        }),
      );
      assert.equal(counter, 400);
    } finally {
      await Promise.all(coordinators.map((c) => c.close()));
    }
  });

  test(`hosts (${label}): steal is refused without allowSteal; with it, the engine records the break for the next holder`, async () => {
    const a = await open();
    const b = await open();
    try {
      let release!: () => void;
      let granted!: (lock: FencedLock) => void;
      const lockOfA = new Promise<FencedLock>((resolve) => (granted = resolve));
      const held = LockManager.forCoordinator(a).request('broken', (lock) => {
        granted(lock as FencedLock);
        return new Promise<void>((resolve) => (release = resolve));
      });
      const outcome = held.then(() => 'resolved', (err: Error) => err.name);
      const lock = await lockOfA;
      await assert.rejects(LockManager.forCoordinator(b).request('broken', { steal: true }, () => {}), (err: Error) => err.name === 'NotSupportedError');
      assert.equal(lock.signal.aborted, false);
      await LockManager.forCoordinator(b, { allowSteal: true }).request('broken', { steal: true }, async () => {
        const [holder] = await b.holders('broken');
        assert.equal(holder?.owner.id, b.owner.id);
      });
      assert.equal(await outcome, 'AbortError');
      assert.equal(lock.signal.aborted, true);
      const next = await b.acquire('broken');
      release();
      await next.release();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  if (crossProcess) {
    test(`hosts (${label}): steal from a holder in another process is a break: its signal aborts, its request() rejects with AbortError`, { timeout: 60_000 }, async () => {
      const other = await processCoordinatorClient(url(), ttl, namespace);
      try {
        const theirs = other.hold('cross-process');
        const lock = await theirs.granted;
        const { locks } = await first();
        const token = await locks.request('cross-process', { steal: true }, (l) => (l as FencedLock).token);
        const settled = await theirs.settled;
        assert.equal(settled.outcome, 'AbortError');
        assert.equal(settled.signalAborted, true);
        assert.ok(token > BigInt(lock!.token!));
        theirs.release();
      } finally {
        await other.close();
      }
    });
  }
}
