/**
 * The options both metrics bridges take, and their validation.
 *
 * @module
 */
import { invalidRange, invalidType } from '../errors.js';
import { DEFAULT_HOLD_BUCKETS, DEFAULT_WAIT_BUCKETS } from './instruments.js';

/**
 * Options common to `installPrometheusMetrics` and `installOpenTelemetryMetrics`.
 *
 * @example
 * ```ts
 * installPrometheusMetrics({
 *   lockName: (name) => name.replace(/:\d+$/, ':*'),   // 'user:1234' → 'user:*'
 *   buckets: { wait: [0.01, 0.1, 1, 10], hold: [1, 10, 60, 600] },
 * });
 * ```
 */
export interface MetricsOptions {
  /**
   * Add a `lock` label with the lock's name (default: no such label).
   *
   * Warning: every distinct value is a new time series in your metrics backend.
   * Pass `true` only when your code uses a small, fixed set of lock names; if
   * names carry ids (`invoice:8812`), pass a function that maps each name to
   * one of a few groups instead.
   */
  lockName?: boolean | ((name: string) => string);
  /** Histogram bucket upper bounds in seconds, strictly increasing. */
  buckets?: { wait?: readonly number[]; hold?: readonly number[] };
}

/** @internal */
export interface CheckedMetricsOptions {
  /** Maps a lock name to its `lock` label; `undefined`: no `lock` label. */
  lockLabel: ((name: string) => string) | undefined;
  /** Bucket bounds, by the `buckets` field of a histogram's InstrumentSpec. */
  buckets: { wait: number[]; hold: number[] };
}

const asIs = (name: string): string => name;

/**
 * Validate `options` (an object or `undefined`).
 * @internal
 */
export function checkMetricsOptions(options: unknown): CheckedMetricsOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
  const { lockName, buckets } = options as MetricsOptions;
  if (buckets !== undefined && (buckets === null || typeof buckets !== 'object' || Array.isArray(buckets))) {
    throw invalidType('options.buckets', 'an object like { wait: [0.01, 0.1, 1], hold: [1, 10, 60] }', buckets);
  }
  return {
    lockLabel: checkLockName(lockName),
    buckets: {
      wait: checkBuckets(buckets?.wait, 'options.buckets.wait', DEFAULT_WAIT_BUCKETS),
      hold: checkBuckets(buckets?.hold, 'options.buckets.hold', DEFAULT_HOLD_BUCKETS),
    },
  };
}

function checkLockName(lockName: unknown): ((name: string) => string) | undefined {
  if (lockName === undefined || lockName === false) return undefined;
  if (lockName === true) return asIs;
  if (typeof lockName === 'function') return lockName as (name: string) => string;
  throw invalidType('options.lockName', 'a boolean or a function mapping a lock name to a label value', lockName);
}

function checkBuckets(value: unknown, what: string, fallback: readonly number[]): number[] {
  if (value === undefined) return [...fallback];
  if (!Array.isArray(value) || value.length === 0) throw invalidType(what, 'a non-empty array of seconds', value);
  for (const [i, bound] of value.entries()) {
    if (typeof bound !== 'number' || !Number.isFinite(bound) || bound <= 0) {
      throw invalidRange(`${what}[${i}]`, 'a finite number of seconds above 0', bound);
    }
    if (i > 0 && bound <= (value[i - 1] as number)) {
      throw invalidRange(`${what}[${i}]`, `greater than the bound before it (${value[i - 1]}): bounds must increase`, bound);
    }
  }
  return [...(value as number[])];
}
