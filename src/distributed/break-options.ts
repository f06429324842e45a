/**
 * The options of `Coordinator.break()`, checked: breaking a lock is an
 * operator's act, so it always says why, and who did it is recorded.
 *
 * @module
 */
import { HolderChangedError, invalidRange, invalidType } from '../errors.js';
import { checkKnownOptions } from '../internal/validate.js';
import type { LockOwner } from '../contracts/fenced-guard.js';

/**
 * Options of `Coordinator.break()`.
 *
 * @example
 * ```ts
 * await coordinator.break('nightly-report', { reason: 'holder stuck since 03:00', by: 'alice' });
 * const seen = await coordinator.holders('nightly-report');
 * await coordinator.break('nightly-report', { reason: 'stuck', expect: seen.map((h) => h.token) });
 * ```
 */
export interface BreakOptions {
  /** Why the lock is broken: stored for the next holder and published. Required. */
  reason: string;
  /** Who breaks it (default: this process, as `host:pid`). */
  by?: string;
  /**
   * Break only if the lock's holders are exactly these tokens (as `holders()`
   * gave them), compared by the engine in the same atomic step as the break.
   * Otherwise nothing is broken and `break()` rejects with HolderChangedError:
   * a holder granted after the operator looked is never displaced. An empty
   * list is refused (there is nothing to compare with).
   */
  expect?: readonly bigint[];
}

/** Checked break options. @internal */
export interface CheckedBreakOptions {
  reason: string;
  by: string;
  /** Ascending and without duplicates, when given. */
  expect: readonly bigint[] | undefined;
}

const MAX_REASON_LENGTH = 1024;

/**
 * Check `{ reason, by }`; `by` defaults to this process as `host:pid`.
 * @internal
 */
export function checkBreakOptions(options: unknown, owner: LockOwner): CheckedBreakOptions {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object with a reason', options);
  checkKnownOptions(options, 'options', ['reason', 'by', 'expect']);
  const { reason, by, expect } = options as { reason?: unknown; by?: unknown; expect?: unknown };
  if (typeof reason !== 'string') throw invalidType('options.reason', 'a string saying why the lock is broken', reason);
  if (reason.trim().length === 0 || reason.length > MAX_REASON_LENGTH) {
    throw invalidRange('options.reason', `a non-blank string of at most ${MAX_REASON_LENGTH} characters`, reason);
  }
  if (by !== undefined && (typeof by !== 'string' || by.length === 0)) throw invalidType('options.by', 'a non-empty string', by);
  return { reason, by: (by as string | undefined) ?? `${owner.host}:${owner.pid}`, expect: checkExpect(expect) };
}

function checkExpect(expect: unknown): readonly bigint[] | undefined {
  if (expect === undefined) return undefined;
  const what = 'options.expect';
  if (!Array.isArray(expect) || expect.length === 0) throw invalidType(what, 'a non-empty array of the holders\' tokens (bigint), as holders() gives them', expect);
  for (const token of expect) if (typeof token !== 'bigint' || token < 0n) throw invalidType(what, 'an array of non-negative bigint tokens', token);
  return sortTokens(expect as bigint[]);
}

/** Ascending, without duplicates: the form in which token sets are compared. @internal */
export function sortTokens(tokens: Iterable<bigint>): bigint[] {
  return [...new Set(tokens)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * For drivers: throw HolderChangedError unless the holders just read (inside
 * the engine's atomic step, or guarding it) are exactly `expect`. No-op when
 * the break is unconditional.
 *
 * @example
 * ```ts
 * assertExpectedHolders('jobs', [7n], holders.map((h) => h.token)); // throws when they differ
 * ```
 * @internal
 */
export function assertExpectedHolders(name: string, expect: readonly bigint[] | undefined, found: Iterable<bigint>): void {
  if (expect === undefined) return;
  const now = sortTokens(found);
  if (now.length !== expect.length || now.some((token, i) => token !== expect[i])) throw new HolderChangedError(name, expect, now);
}
