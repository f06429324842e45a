/**
 * A driver lock's loss as an AbortSignal, for tests that call a driver
 * directly. The coordinator listens with `onLoss`; a lock of the recipe core
 * (src/core/held-lock.ts) also makes a signal when one is asked for, which is
 * what these tests read.
 */
import assert from 'node:assert/strict';
import type { DriverLock } from '../../src/distributed/driver.js';

/**
 * The signal of a recipe-core lock.
 *
 * @example
 * ```ts
 * assert.equal(lossSignal(lock).aborted, true);
 * ```
 */
export function lossSignal(lock: DriverLock): AbortSignal {
  const signal = (lock as { signal?: unknown }).signal;
  assert.ok(signal instanceof AbortSignal, 'a lock of the recipe core carries a loss signal');
  return signal;
}
