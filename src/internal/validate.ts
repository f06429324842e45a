/**
 * Argument checks shared by every acquire path. Each throws synchronously a
 * `TypeError` / `RangeError` carrying `code: 'DEADBOLT_INVALID_ARGUMENT'` that
 * names the option and the value seen (p-limit style), so a bad call fails at
 * the call site instead of hanging in a queue.
 *
 * @internal
 * @module
 */
import { invalidRange, invalidType, unknownOption } from '../errors.js';

/** The largest delay `setTimeout` honours; larger values would fire at once. */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** The options every acquire accepts (DESIGN.md §2), checked. */
export interface CheckedAcquireOptions {
  readonly mode: 'exclusive' | 'shared';
  readonly signal: AbortSignal | undefined;
  /** `undefined` when there is no timeout (absent or `Infinity`). */
  readonly timeout: number | undefined;
}

const NO_OPTIONS: CheckedAcquireOptions = Object.freeze({ mode: 'exclusive', signal: undefined, timeout: undefined });

/** The options every acquire takes. */
const ACQUIRE_OPTIONS = ['mode', 'signal', 'timeout'] as const;

/**
 * Check `{ mode, signal, timeout }`. `where` prefixes option names in messages.
 * `more` names the other options the caller accepts (`weight`) and checks itself;
 * any other key is an unknown option.
 */
export function checkAcquireOptions(options: unknown, where = 'options', more: readonly string[] = [], internal: readonly string[] = []): CheckedAcquireOptions {
  if (options === undefined) return NO_OPTIONS;
  if (options === null || typeof options !== 'object') {
    throw invalidType(where, 'an object', options);
  }
  checkKnownOptions(options, where, more.length === 0 ? ACQUIRE_OPTIONS : [...ACQUIRE_OPTIONS, ...more], internal);
  const { mode, signal, timeout } = options as { mode?: unknown; signal?: unknown; timeout?: unknown };
  return {
    mode: checkMode(mode, `${where}.mode`),
    signal: checkSignal(signal, `${where}.signal`),
    timeout: checkTimeout(timeout, `${where}.timeout`),
  };
}

/**
 * The one rule for every options object deadbolt takes: a key it does not
 * accept is a TypeError naming it and the accepted ones (a misspelt `tiemout`
 * must not mean "no timeout"). Keys whose value is `undefined` count as absent;
 * `internal` keys (passed between deadbolt's own modules) are accepted unnamed.
 */
export function checkKnownOptions(options: object, where: string, accepted: readonly string[], internal: readonly string[] = []): void {
  for (const key of Object.keys(options)) {
    if (accepted.includes(key) || internal.includes(key) || (options as Record<string, unknown>)[key] === undefined) continue;
    throw unknownOption(where, key, accepted);
  }
}

/** `options` of a method taking `{ mode }` only (tryAcquire), checked: the mode. */
export function checkModeOptions(options: unknown, internal: readonly string[] = []): 'exclusive' | 'shared' {
  if (options === undefined) return 'exclusive';
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
  checkKnownOptions(options, 'options', ['mode'], internal);
  return checkMode((options as { mode?: unknown }).mode, 'options.mode');
}

/** `'exclusive'` (the default) or `'shared'`. */
export function checkMode(mode: unknown, what: string): 'exclusive' | 'shared' {
  if (mode === undefined || mode === 'exclusive') return 'exclusive';
  if (mode === 'shared') return 'shared';
  throw invalidType(what, `'exclusive' or 'shared'`, mode);
}

/** An `AbortSignal` or nothing. */
export function checkSignal(signal: unknown, what: string): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (signal instanceof AbortSignal) return signal;
  throw invalidType(what, 'an AbortSignal', signal);
}

/** Milliseconds, `0 ≤ t ≤ 2^31−1`, or `Infinity` (no timeout, returned as `undefined`). */
export function checkTimeout(timeout: unknown, what: string): number | undefined {
  if (timeout === undefined || timeout === Number.POSITIVE_INFINITY) return undefined;
  if (typeof timeout !== 'number' || Number.isNaN(timeout)) {
    throw invalidType(what, 'a number of milliseconds', timeout);
  }
  if (timeout < 0 || timeout > MAX_TIMEOUT_MS) {
    throw invalidRange(what, `between 0 and ${MAX_TIMEOUT_MS} milliseconds, or Infinity`, timeout);
  }
  return timeout;
}

/** A whole number `1 ≤ n ≤ max` (permits, weights). */
export function checkCount(value: unknown, what: string, max: number, maxNote = ''): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw invalidType(what, 'a positive integer', value);
  }
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw invalidRange(what, `an integer between 1 and ${max}${maxNote}`, value);
  }
  return value;
}

/** A function (the body of `run`). */
export function checkFunction(fn: unknown, what: string): void {
  if (typeof fn !== 'function') throw invalidType(what, 'a function', fn);
}
