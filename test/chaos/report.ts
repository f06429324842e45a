/**
 * The report of chaos runs: one JSON object per driver run, a markdown table
 * of them all, and the block of docs/chaos.md that shows the latest table.
 *
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { RULES, type CheckResult, type Rule, type Violation } from './checker.js';
import type { FaultRecord } from './events.js';
import { FAULT_KINDS, type FaultKind } from './schedule.js';
import type { Workload } from './worker.js';

/** One driver run, as reported. */
export interface DriverReport {
  driver: string;
  /** What the workers contended through: locks, or elections (the term fencing). */
  workload: Workload;
  seed: number;
  /** Whether the resource fenced (false: record-only, violations expected). */
  fenced: boolean;
  /** From the first fault to the workers' stop, ms. */
  durationMs: number;
  ttlMs: number;
  recoveryBoundMs: number;
  slackMs: number;
  workers: number;
  locks: number;
  serverLease: boolean;
  operations: {
    acquisitions: number;
    reads: number;
    writesAccepted: number;
    /** Stale writes the fence refused. */
    writesFenced: number;
    readsFenced: number;
    /** Write attempts made with the signal already aborted. */
    staleAttempts: number;
    staleReleases: number;
    /** Stale releases made while another worker held the lock (each one a test of conditional release). */
    staleReleasesOverHolder: number;
    acquireFailures: number;
    sessionsLost: number;
    losses: Record<string, number>;
  };
  /** Faults applied (and skipped: no holder showed up in time, or the fault failed) per kind. */
  faults: Partial<Record<FaultKind, { applied: number; skipped: number }>>;
  pauses: { onHolder: number; midCycle: number };
  recovery: { kills: number; worstMs: number | null; boundMs: number | null };
  violations: { total: number; byRule: Partial<Record<Rule, number>>; examples: Violation[] };
  /** Where the run's records are (if kept). */
  dir?: string;
}

/** The figures a report is built from, besides the checker's verdict. */
export interface RunFacts {
  driver: string;
  workload: Workload;
  seed: number;
  fenced: boolean;
  durationMs: number;
  ttlMs: number;
  recoveryBoundMs: number;
  slackMs: number;
  workers: number;
  locks: number;
  serverLease: boolean;
  faults: readonly FaultRecord[];
  dir?: string;
}

/**
 * Build a run's report.
 *
 * @example
 * ```ts
 * const report = buildReport(facts, check(input));
 * writeFileSync('report.json', JSON.stringify(report, null, 2));
 * ```
 */
export function buildReport(facts: RunFacts, result: CheckResult): DriverReport {
  const { stats, violations } = result;
  const byRule: Partial<Record<Rule, number>> = {};
  for (const v of violations) byRule[v.rule] = (byRule[v.rule] ?? 0) + 1;
  const faults: DriverReport['faults'] = {};
  for (const fault of facts.faults) {
    const entry = (faults[fault.kind] ??= { applied: 0, skipped: 0 });
    if (fault.skipped === undefined) entry.applied++;
    else entry.skipped++;
  }
  const { faults: _faults, ...rest } = facts;
  return {
    ...rest,
    operations: {
      acquisitions: stats.acquisitions,
      reads: stats.reads,
      writesAccepted: stats.writesAccepted,
      writesFenced: stats.writesFenced,
      readsFenced: stats.readsFenced,
      staleAttempts: stats.staleAttempts,
      staleReleases: stats.staleReleases,
      staleReleasesOverHolder: stats.staleReleasesOverHolder,
      acquireFailures: stats.acquireFailures,
      sessionsLost: stats.sessionsLost,
      losses: stats.losses,
    },
    faults,
    pauses: { onHolder: stats.pausesOnHolder, midCycle: stats.pausesMidCycle },
    recovery: { kills: stats.recoveries.length, worstMs: stats.worstRecoveryMs, boundMs: stats.worstRecoveryBoundMs },
    violations: { total: violations.length, byRule, examples: violations.slice(0, 10) },
  };
}

const SHORT: Record<FaultKind, string> = {
  'pause-holder': 'pause',
  'kill-holder': 'kill',
  partition: 'partition',
  'engine-pause': 'engine pause',
  'engine-restart': 'engine restart',
  break: 'break',
};

/**
 * The reports as a markdown table (one row per run), followed by the first
 * `examples` violations (default 10) of any run that had some.
 *
 * @example
 * ```ts
 * console.log(renderMarkdown([memoryReport, etcdReport]));
 * ```
 */
export function renderMarkdown(reports: readonly DriverReport[], examples = 10): string {
  const lines = [
    '| driver | fencing | seed | s | TTL ms | acquisitions | writes admitted | stale writes fenced | faults applied | violations | worst recovery after kill (bound) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|---|---|',
  ];
  for (const r of reports) {
    const faults = FAULT_KINDS.filter((k) => r.faults[k] !== undefined)
      .map((k) => `${SHORT[k]} ${r.faults[k]!.applied}${r.faults[k]!.skipped > 0 ? ` (+${r.faults[k]!.skipped} skipped)` : ''}`)
      .join(', ');
    const violations =
      r.violations.total === 0
        ? '0'
        : `**${r.violations.total}**: ${Object.entries(r.violations.byRule).map(([rule, n]) => `${rule} ${n}`).join(', ')}`;
    const recovery = r.recovery.worstMs === null ? '–' : `${r.recovery.worstMs} ms (≤ ${r.recovery.boundMs} ms)`;
    lines.push(
      `| ${label(r)} | ${r.fenced ? 'fenced' : 'record-only'} | ${r.seed} | ${Math.round(r.durationMs / 1_000)} | ${r.ttlMs} | ` +
        `${r.operations.acquisitions} | ${r.operations.writesAccepted} | ${r.operations.writesFenced} | ${faults || '–'} | ${violations} | ${recovery} |`,
    );
  }
  const details = reports
    .filter((r) => r.violations.total > 0)
    .map((r) =>
      [
        `\n${label(r)} (${r.fenced ? 'fenced' : 'record-only'}, seed ${r.seed}), first violations:`,
        ...r.violations.examples.slice(0, examples).map((v) => `- \`${v.rule}\`: ${v.message}`),
      ].join('\n'),
    );
  return [lines.join('\n'), ...details].join('\n') + '\n';
}

/** A run's first column: the driver, and the workload when it is not plain locks. */
function label(r: DriverReport): string {
  return r.workload === 'election' ? `${r.driver}, election` : r.driver;
}

/** Markers around the generated block in docs/chaos.md. */
export const DOCS_MARKERS = { begin: '<!-- chaos-report:begin -->', end: '<!-- chaos-report:end -->' } as const;

/**
 * Replace the generated block of `docsFile` (between the markers) with
 * `markdown`, stamped with the date and the command that produced it.
 *
 * @example
 * ```ts
 * updateDocs('docs/chaos.md', renderMarkdown(reports), 'npm run chaos -- --driver all --seed 1 --docs');
 * ```
 */
export function updateDocs(docsFile: string, markdown: string, command: string): void {
  const text = readFileSync(docsFile, 'utf8');
  const begin = text.indexOf(DOCS_MARKERS.begin);
  const end = text.indexOf(DOCS_MARKERS.end);
  if (begin < 0 || end < begin) throw new Error(`${docsFile} has no ${DOCS_MARKERS.begin} … ${DOCS_MARKERS.end} block`);
  const stamp =
    `Generated ${new Date().toISOString().slice(0, 10)} by \`${command}\` on ${availableParallelism()} cores, Node ${process.version}. ` +
    `Rules checked: ${RULES.map((r) => `\`${r}\``).join(', ')}.`;
  const block = `${DOCS_MARKERS.begin}\n${stamp}\n\n${markdown}${DOCS_MARKERS.end}`;
  writeFileSync(docsFile, text.slice(0, begin) + block + text.slice(end + DOCS_MARKERS.end.length));
}
