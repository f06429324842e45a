/**
 * Type tests for the public surface: this file must compile under the strict
 * tsconfig (the test command runs tsc first), and the `@ts-expect-error` lines
 * must stay errors. The runtime assertions check the same shapes exist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as deadbolt from '../../src/index.js';
import type { AcquireOptions, Guard, SemaphoreAcquireOptions } from '../../src/index.js';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(_: T) => undefined;

test('public surface types', async () => {
  assertType<Equals<ReturnType<deadbolt.Mutex['acquire']>, Promise<Guard>>>(true);
  assertType<Equals<ReturnType<deadbolt.Semaphore['tryAcquire']>, Guard | undefined>>(true);
  assertType<Equals<AcquireOptions['mode'], 'exclusive' | 'shared' | undefined>>(true);
  assertType<Equals<SemaphoreAcquireOptions['weight'], number | undefined>>(true);
  assertType<Equals<deadbolt.ErrorCode, (typeof deadbolt.ErrorCodes)[keyof typeof deadbolt.ErrorCodes]>>(true);
  assertType<Equals<deadbolt.LockLostError['token'], bigint>>(true);

  const mutex = new deadbolt.Mutex();
  const n: number = await mutex.run(() => 1);
  const s: string = await mutex.run(async () => 'x');
  assert.equal(n + s, '1x');
  // @ts-expect-error mode is not an option of KeyedMutex
  assert.throws(() => new deadbolt.KeyedMutex().acquire('k', { mode: 'shared' }));
  // @ts-expect-error only a guard releases: the primitive has no release()
  assert.equal(mutex.release, undefined);

  const guard: AsyncDisposable = await mutex.acquire();
  await guard[Symbol.asyncDispose]();
  assert.equal(mutex.locked, false);
  const keyed = new deadbolt.KeyedMutex<number>();
  // @ts-expect-error keys are typed
  assert.ok(keyed.tryAcquire('not a number'));
});
