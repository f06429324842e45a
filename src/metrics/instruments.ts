/**
 * The instruments of deadbolt's metrics bridges, in one table: what each one
 * measures, its name in Prometheus and in OpenTelemetry, its unit and labels.
 * Both adapters build their instruments from this table, so the two always
 * measure the same things under the same labels.
 *
 * Labels are bounded by construction: `backend` (memory, file, etcd, redis,
 * postgres, zookeeper), `mode` (exclusive, shared), `reason` and `state`
 * (small fixed sets). The lock name is a label only when asked for (option
 * `lockName`), because names are often unbounded (`user:1234`).
 *
 * @module
 */

/**
 * The labels an instrument may carry.
 *
 * @example
 * ```ts
 * const labels: Partial<Record<LabelName, string>> = { backend: 'etcd', mode: 'exclusive' };
 * ```
 */
export type LabelName = 'backend' | 'mode' | 'reason' | 'state' | 'lock';

/**
 * One instrument of the bridges.
 *
 * @example
 * ```ts
 * const { prometheus, unit } = instruments.waitSeconds; // 'deadbolt_lock_wait_seconds', 's'
 * ```
 */
export interface InstrumentSpec {
  /** A histogram of seconds, a monotonic counter, or a count that goes up and down. */
  kind: 'histogram' | 'counter' | 'updown';
  /** Its Prometheus name (counters end in `_total`). */
  prometheus: string;
  /** Its OpenTelemetry name. */
  opentelemetry: string;
  /** UCUM unit for OpenTelemetry: `s`, or a `{thing}` annotation for counts. */
  unit: string;
  /** The help / description text. */
  description: string;
  /** Its labels, `lock` excepted (added when the `lockName` option asks for it). */
  labels: readonly LabelName[];
  /** Whether the `lock` label applies (the event names a lock). */
  named: boolean;
  /** Histograms: which of the `buckets` options gives its bucket bounds. */
  buckets?: 'wait' | 'hold';
}

/**
 * Default wait-time buckets, in seconds: 0.5 ms to 60 s. In-process and
 * lock-directory hand-offs take tens of microseconds, engines a few
 * milliseconds; the upper buckets show callers queued behind long holders.
 *
 * @example
 * ```ts
 * installPrometheusMetrics({ buckets: { wait: [...DEFAULT_WAIT_BUCKETS, 300] } });
 * ```
 */
export const DEFAULT_WAIT_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);

/**
 * Default hold-time buckets, in seconds: 1 ms to 1 hour. Locks guard anything
 * from a row update to a nightly job, so the range is wide.
 *
 * @example
 * ```ts
 * installOpenTelemetryMetrics({ buckets: { hold: [1, 60, 3600] } });
 * ```
 */
export const DEFAULT_HOLD_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600,
]);

/**
 * Every instrument, by key. docs/metrics.md shows each with a scrape sample.
 *
 * @example
 * ```ts
 * for (const [key, spec] of Object.entries(instruments)) console.log(key, spec.prometheus);
 * ```
 */
export const instruments = {
  waitSeconds: {
    kind: 'histogram',
    prometheus: 'deadbolt_lock_wait_seconds',
    opentelemetry: 'deadbolt.lock.wait.duration',
    unit: 's',
    description: 'Time from the call to acquire a named lock until it was granted, in seconds',
    labels: ['backend', 'mode'],
    named: true,
    buckets: 'wait',
  },
  holdSeconds: {
    kind: 'histogram',
    prometheus: 'deadbolt_lock_hold_seconds',
    opentelemetry: 'deadbolt.lock.hold.duration',
    unit: 's',
    description: 'Time from the grant of a named lock until its release, in seconds',
    labels: ['backend', 'mode'],
    named: true,
    buckets: 'hold',
  },
  acquisitions: {
    kind: 'counter',
    prometheus: 'deadbolt_lock_acquisitions_total',
    opentelemetry: 'deadbolt.lock.acquisitions',
    unit: '{acquisition}',
    description: 'Named locks granted',
    labels: ['backend', 'mode'],
    named: true,
  },
  acquireFailures: {
    kind: 'counter',
    prometheus: 'deadbolt_lock_acquire_failures_total',
    opentelemetry: 'deadbolt.lock.acquire.failures',
    unit: '{failure}',
    description: 'Acquires of a named lock that ended without it, by reason: timeout, aborted, closed, session, error',
    labels: ['backend', 'mode', 'reason'],
    named: true,
  },
  losses: {
    kind: 'counter',
    prometheus: 'deadbolt_lock_losses_total',
    opentelemetry: 'deadbolt.lock.losses',
    unit: '{loss}',
    description: 'Held locks that could no longer be trusted, by reason: expired, deleted, broken, session',
    labels: ['backend', 'mode', 'reason'],
    named: true,
  },
  breaks: {
    kind: 'counter',
    prometheus: 'deadbolt_lock_breaks_total',
    opentelemetry: 'deadbolt.lock.breaks',
    unit: '{break}',
    description: 'Locks broken by an operator through this process',
    labels: ['backend'],
    named: true,
  },
  sessions: {
    kind: 'updown',
    prometheus: 'deadbolt_sessions',
    opentelemetry: 'deadbolt.sessions',
    unit: '{session}',
    description: 'Sessions of this process by state: connected, or suspended (a keepalive failed; its locks may be lost soon)',
    labels: ['backend', 'state'],
    named: false,
  },
  sessionLosses: {
    kind: 'counter',
    prometheus: 'deadbolt_session_losses_total',
    opentelemetry: 'deadbolt.session.losses',
    unit: '{loss}',
    description: 'Sessions lost (every lock they carried was lost with them)',
    labels: ['backend'],
    named: false,
  },
} as const satisfies Record<string, InstrumentSpec>;

/**
 * The key of an instrument in {@link instruments}.
 *
 * @example
 * ```ts
 * const key: InstrumentKey = 'holdSeconds';
 * ```
 */
export type InstrumentKey = keyof typeof instruments;

/**
 * The label names an instrument carries, `lock` included when `named` is true.
 *
 * @example
 * ```ts
 * labelNames(instruments.losses, true); // ['backend', 'mode', 'reason', 'lock']
 * ```
 */
export function labelNames(spec: InstrumentSpec, withLockName: boolean): LabelName[] {
  return withLockName && spec.named ? [...spec.labels, 'lock'] : [...spec.labels];
}
