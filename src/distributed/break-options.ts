/**
 * The options of `Coordinator.break()`, checked: breaking a lock is an
 * operator's act, so it always says why, and who did it is recorded.
 *
 * @module
 */
import { invalidRange, invalidType } from '../errors.js';
import { checkKnownOptions } from '../internal/validate.js';
import type { LockOwner } from '../contracts/fenced-guard.js';

/**
 * Options of `Coordinator.break()`.
 *
 * @example
 * ```ts
 * await coordinator.break('nightly-report', { reason: 'holder stuck since 03:00', by: 'alice' });
 * ```
 */
export interface BreakOptions {
  /** Why the lock is broken: stored for the next holder and published. Required. */
  reason: string;
  /** Who breaks it (default: this process, as `host:pid`). */
  by?: string;
}

const MAX_REASON_LENGTH = 1024;

/**
 * Check `{ reason, by }`; `by` defaults to this process as `host:pid`.
 * @internal
 */
export function checkBreakOptions(options: unknown, owner: LockOwner): { reason: string; by: string } {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object with a reason', options);
  checkKnownOptions(options, 'options', ['reason', 'by']);
  const { reason, by } = options as { reason?: unknown; by?: unknown };
  if (typeof reason !== 'string') throw invalidType('options.reason', 'a string saying why the lock is broken', reason);
  if (reason.trim().length === 0 || reason.length > MAX_REASON_LENGTH) {
    throw invalidRange('options.reason', `a non-blank string of at most ${MAX_REASON_LENGTH} characters`, reason);
  }
  if (by !== undefined && (typeof by !== 'string' || by.length === 0)) throw invalidType('options.by', 'a non-empty string', by);
  return { reason, by: (by as string | undefined) ?? `${owner.host}:${owner.pid}` };
}
