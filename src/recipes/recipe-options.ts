/**
 * The options of the recipe methods, checked as every deadbolt option is: an
 * unknown key is a TypeError naming the accepted ones, a wrong type or range
 * names the option and what it must be.
 *
 * @internal
 * @module
 */
import { invalidRange, invalidType } from '../errors.js';
import { MAX_CLAIM_DATA_BYTES } from '../core/engine.js';
import { checkKnownOptions, checkSignal, checkTimeout } from '../internal/validate.js';

/** A wait's options, checked. */
export interface CheckedWait {
  readonly signal?: AbortSignal | undefined;
  readonly timeout?: number | undefined;
}

/**
 * Check the options of `campaign` (`data` is `'value'`) or `join` (`'metadata'`).
 *
 * @example
 * ```ts
 * const { data, signal, timeout } = checkClaimOptions(options, 'value', ['recampaign']);
 * ```
 */
export function checkClaimOptions(options: unknown, data: 'value' | 'metadata', more: readonly string[] = []): CheckedWait & { data: string | undefined } {
  if (options === undefined) return { data: undefined };
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
  checkKnownOptions(options, 'options', [data, 'signal', 'timeout', ...more]);
  const o = options as Record<string, unknown>;
  return {
    data: o[data] === undefined ? undefined : checkData(o[data], `options.${data}`),
    signal: checkSignal(o.signal, 'options.signal'),
    timeout: checkTimeout(o.timeout, 'options.timeout'),
  };
}

/**
 * Check `{ signal }` (observe, watchMembers).
 *
 * @example
 * ```ts
 * const signal = checkSignalOption(options);
 * ```
 */
export function checkSignalOption(options: unknown): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
  checkKnownOptions(options, 'options', ['signal']);
  return checkSignal((options as { signal?: unknown }).signal, 'options.signal');
}

/**
 * A leader's value or a member's metadata: a string of at most
 * MAX_CLAIM_DATA_BYTES of UTF-8 (it is stored with the claim on the engine).
 *
 * @example
 * ```ts
 * checkData(JSON.stringify({ url }), 'value');
 * ```
 */
export function checkData(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalidType(what, 'a string (encode objects with JSON.stringify)', value);
  if (Buffer.byteLength(value, 'utf8') > MAX_CLAIM_DATA_BYTES) {
    throw invalidRange(what, `at most ${MAX_CLAIM_DATA_BYTES} bytes of UTF-8 (it is stored with the claim on the engine)`, `${value.slice(0, 40)}…`);
  }
  return value;
}
