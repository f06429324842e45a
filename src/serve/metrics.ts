/**
 * `/metrics`: the monitor's snapshot in the Prometheus text exposition format
 * (version 0.0.4), by backend. Written here rather than with prom-client:
 * every value is computed from the snapshot at scrape time (gauges) or read
 * from the history's counters, so there is no registry to keep in step, and
 * the format's rules that matter (HELP/TYPE once per family, label values
 * escaped) fit in a few lines. docs/serve.md says what each metric means.
 *
 * @module
 */
import type { HolderRow } from './lock-row.js';
import type { Monitor } from './monitor.js';

/**
 * One sample: its labels and value.
 *
 * @example
 * ```ts
 * const s: Sample = [{ backend: 'redis' }, 3];
 * ```
 */
export type Sample = [labels: Record<string, string>, value: number];

interface Family {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  samples: Sample[];
}

/**
 * The metrics text for `monitor` now, with `viewers` open event streams and `warnAfterMs` as the long-hold threshold.
 *
 * @example
 * ```ts
 * response.end(renderMetrics(monitor, { viewers: 2, warnAfterMs: 600_000 }));
 * ```
 */
export function renderMetrics(monitor: Monitor, { viewers, warnAfterMs }: { viewers: number; warnAfterMs: number }): string {
  const now = Date.now();
  const families: Family[] = [];
  const family = (name: string, type: Family['type'], help: string, samples: Sample[]) => families.push({ name: `deadbolt_serve_${name}`, type, help, samples });
  const backends = monitor.backends;
  const per = (fn: (id: string) => number): Sample[] => backends.map((b) => [{ backend: b.id }, fn(b.id)]);
  const rowsOf = (id: string) => monitor.rows.filter((r) => r.backend === id);
  const holdersOf = (id: string): HolderRow[] => rowsOf(id).flatMap((r) => r.holders);

  family('backend_up', 'gauge', 'Whether the last poll of the backend succeeded (1) or failed (0).', per((id) => (backends.find((b) => b.id === id)!.up ? 1 : 0)));
  family('locks_held', 'gauge', 'Locks held now.', per((id) => rowsOf(id).length));
  family('holders', 'gauge', 'Holders now (a shared lock has several).', per((id) => holdersOf(id).length));
  family('longest_hold_seconds', 'gauge', 'How long the longest current holder has held its lock.', per((id) => holdersOf(id).reduce((longest, h) => Math.max(longest, (now - h.since) / 1000), 0)));
  family('holders_over_warn', 'gauge', 'Holders that have held their lock longer than --warn-after.', per((id) => holdersOf(id).filter((h) => now - h.since > warnAfterMs).length));
  family(
    'holders_unwell',
    'gauge',
    'Holders that hold but may not be working: stopped (a paused local process), expiring (a lease not being renewed), gone (a recorded process that no longer exists).',
    backends.flatMap((b) => (['stopped', 'expiring', 'gone'] as const).map((state): Sample => [{ backend: b.id, state }, holdersOf(b.id).filter((h) => h.state === state).length])),
  );
  const knowsWaiters = backends.filter((b) => rowsOf(b.id).every((r) => r.waiters !== null));
  family('waiters', 'gauge', 'Waiters, summed over locks (lock directories: processes blocked in the kernel; engines: waiting claims).', knowsWaiters.map((b) => [{ backend: b.id }, rowsOf(b.id).reduce((n, r) => n + (r.waiters ?? 0), 0)]));
  family('breaks_total', 'counter', 'Breaks first seen since the server started (its own, and new records in the backend\'s audit log).', per((id) => monitor.history.count(id, 'break')));
  family('losses_total', 'counter', 'Holders seen to lose their lock since the server started, by cause (expired: an engine lease ran out).', backends.map((b) => [{ backend: b.id, cause: 'expired' }, monitor.history.count(b.id, 'expired')]));
  family('polls_total', 'counter', 'Polls of the backend (one loop per backend, shared by every viewer).', per((id) => backends.find((b) => b.id === id)!.polls));
  family('poll_errors_total', 'counter', 'Polls of the backend that failed.', per((id) => backends.find((b) => b.id === id)!.pollErrors));
  family('poll_duration_seconds', 'gauge', 'How long the last poll of the backend took.', per((id) => (backends.find((b) => b.id === id)!.pollMs ?? 0) / 1000));
  family('viewers', 'gauge', 'Pages (event streams) open now.', [[{}, viewers]]);
  return families.map(renderFamily).join('');
}

function renderFamily({ name, type, help, samples }: Family): string {
  const lines = [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) lines.push(`${name}${renderLabels(labels)} ${formatValue(value)}`);
  return `${lines.join('\n')}\n`;
}

function renderLabels(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}
