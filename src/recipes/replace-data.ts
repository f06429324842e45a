/**
 * Replacing a held recipe claim's data (a leader's `proclaim`, a member's
 * `update`): a conditional write on the engine, refused once the claim is no
 * longer this grant's, so a deposed leader's late proclaim writes nothing.
 *
 * @internal
 * @module
 */
import { LockLostError } from '../errors.js';
import type { RecipeGuard } from './host.js';

/**
 * Store `data` with `guard`'s claim, or reject with LockLostError saying
 * `notHeld` ("not leader of election "x" (term 7) any more") and why.
 *
 * @example
 * ```ts
 * await replaceData(guard, value, `not leader of election "${name}" (term ${guard.token}) any more`);
 * ```
 */
export async function replaceData(guard: RecipeGuard, data: string, notHeld: string): Promise<void> {
  if (guard.released) throw lost(guard, notHeld, 'it was given up');
  guard.signal.throwIfAborted(); // the loss itself, with its reason
  if (await guard.updateData(data)) return;
  guard.signal.throwIfAborted();
  throw lost(guard, notHeld, 'its claim is gone');
}

function lost(guard: RecipeGuard, notHeld: string, why: string): LockLostError {
  return new LockLostError(`${notHeld}: ${why}`, { lockName: guard.name, token: guard.token, reason: 'deleted' });
}
