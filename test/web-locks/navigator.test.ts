/**
 * installNavigatorLocks(): navigator.locks on Node 20/22 is deadbolt's
 * cross-thread manager; an existing one is left alone unless forced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LockManager, installNavigatorLocks } from '../../src/web-locks/index.js';

test('installNavigatorLocks: defines navigator.locks as LockManager.forThreads(), keeps an existing one unless forced', async () => {
  const g = globalThis as { navigator?: { locks?: unknown } };
  const before = g.navigator?.locks;
  const installed = installNavigatorLocks();
  if (before === undefined) {
    assert.equal(installed, LockManager.forThreads());
    assert.equal(g.navigator!.locks, installed);
    assert.equal(await (installed as LockManager).request('nav', (lock) => lock?.name), 'nav');
  } else {
    assert.equal(installed, before, 'an existing navigator.locks (Node 24) is left alone');
  }
  assert.equal(installNavigatorLocks({ force: true }), LockManager.forThreads());
  assert.equal(g.navigator!.locks, LockManager.forThreads());
});
