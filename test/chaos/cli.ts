/**
 * The long-run entry point (`npm run chaos -- …`, through scripts/chaos.js):
 *
 *   npm run chaos -- --driver etcd --duration 10m --seed 42
 *   npm run chaos -- --driver all --duration 30s --seed 1 --docs      (refresh docs/chaos.md)
 *   npm run chaos -- --driver memory --unfenced --faults pause-holder (what happens without a fence)
 *
 * Options:
 *   --driver NAME[,NAME…]|all  drivers from the table in drivers.ts (default: all)
 *   --duration D               fault window per driver: 90s, 10m, 1h, or ms (default: each driver's test duration)
 *   --seed N                   the schedule's seed (default: random, printed: rerun with it to replay the schedule)
 *   --unfenced                 the resource only records, no Fence: violations are expected
 *   --with-unfenced            after each fenced run, the record-only demonstration the test suite runs
 *                              (holder pauses past the TTL, no Fence; lease drivers only)
 *   --faults K[,K…]            only these fault kinds (pause-holder, kill-holder, partition, engine-pause, engine-restart, break)
 *   --workers N, --locks N     contention (default 4 workers on 2 locks)
 *   --workload lock|election|both  what the workers contend through (default lock; election: campaign, the term fences)
 *   --slack MS                 scheduling allowance on every time bound (default 1500)
 *   --out DIR                  keep each run's records under DIR (default: a temporary directory, printed)
 *   --docs [FILE]              write the report table into FILE (default docs/chaos.md)
 *
 * Exits 1 if a fenced run had any violation, 2 on a usage error.
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { availability, CHAOS_DRIVERS, chaosDriver, type ChaosDriver } from './drivers.js';
import { renderMarkdown, updateDocs, type DriverReport } from './report.js';
import { MissingCapabilityError, recordOnly, runChaos, type RunOptions } from './run.js';
import { FAULT_KINDS, type FaultKind } from './schedule.js';
import type { Workload } from './worker.js';

/**
 * `90s`, `10m`, `1h`, `500ms` or a bare number of ms, in ms.
 *
 * @example
 * ```ts
 * parseDuration('10m'); // 600000
 * ```
 */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) throw new RangeError(`--duration: expected something like 90s, 10m or 1h, got "${text}"`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms'];
  return Math.round(Number(match[1]) * unit!);
}

function parseDrivers(text: string): ChaosDriver[] {
  if (text === 'all') return [...CHAOS_DRIVERS];
  return text.split(',').map((name) => {
    try {
      return chaosDriver(name.trim());
    } catch (err) {
      throw new RangeError(`--driver: ${(err as Error).message}`);
    }
  });
}

function parseFaults(text: string | undefined): FaultKind[] | undefined {
  if (text === undefined) return undefined;
  const kinds = text.split(',').map((k) => k.trim());
  const unknown = kinds.filter((k) => !FAULT_KINDS.includes(k as FaultKind));
  if (unknown.length > 0) throw new RangeError(`--faults: unknown kind(s) ${unknown.join(', ')}; known: ${FAULT_KINDS.join(', ')}`);
  return kinds as FaultKind[];
}

function parseInteger(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new RangeError(`${what}: expected a non-negative integer, got "${text}"`);
  return Number(text);
}

function parseWorkloads(text: string): Workload[] {
  if (text === 'both') return ['lock', 'election'];
  if (text === 'lock' || text === 'election') return [text];
  throw new RangeError(`--workload: expected lock, election or both, got "${text}"`);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      driver: { type: 'string', default: 'all' },
      duration: { type: 'string' },
      seed: { type: 'string' },
      unfenced: { type: 'boolean', default: false },
      'with-unfenced': { type: 'boolean', default: false },
      faults: { type: 'string' },
      workers: { type: 'string' },
      locks: { type: 'string' },
      workload: { type: 'string', default: 'lock' },
      slack: { type: 'string' },
      out: { type: 'string' },
      docs: { type: 'boolean', default: false },
      'docs-file': { type: 'string', default: 'docs/chaos.md' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('usage: npm run chaos -- [--driver NAME|all] [--duration 10m] [--seed N] [--workload lock|election|both] [--unfenced | --with-unfenced] [--faults K,…] [--docs]\n');
    return 0;
  }
  const drivers = parseDrivers(values.driver!);
  const seed = parseInteger(values.seed, '--seed') ?? Math.floor(Math.random() * 2 ** 31);
  const durationMs = values.duration === undefined ? undefined : parseDuration(values.duration);
  const faults = parseFaults(values.faults);
  const workers = parseInteger(values.workers, '--workers');
  const locks = parseInteger(values.locks, '--locks');
  const slackMs = parseInteger(values.slack, '--slack');
  const workloads = parseWorkloads(values.workload!);
  const out = values.out === undefined ? undefined : resolve(values.out);
  process.stdout.write(`chaos: seed ${seed} (rerun with --seed ${seed} to replay the same fault schedule)\n`);

  const reports: DriverReport[] = [];
  const log = (line: string): void => void process.stdout.write(`  ${line}\n`);
  const run = async (options: RunOptions): Promise<void> => {
    const { report } = await runChaos(options);
    reports.push(report);
    process.stdout.write(`${report.driver} (${report.workload}, ${report.fenced ? 'fenced' : 'record-only'}): ${report.violations.total} violation(s); records in ${report.dir}\n`);
  };
  for (const driver of drivers) {
    const available = availability(driver);
    if (!available.available) continue;
    const dir = (label: string): { dir?: string } => {
      if (out === undefined) return {};
      const path = join(out, `${driver.name}-${seed}-${label}`);
      mkdirSync(path, { recursive: true });
      return { dir: path };
    };
    for (const workload of workloads) {
      await run({
        driver,
        seed,
        workload,
        fenced: !values.unfenced,
        durationMs: durationMs ?? driver.testDurationMs,
        ...(faults === undefined ? {} : { faults }),
        ...(workers === undefined ? {} : { workers }),
        ...(locks === undefined ? {} : { locks }),
        ...(slackMs === undefined ? {} : { slackMs }),
        ...(workload === 'election' ? { requires: ['recipes'] as const } : {}),
        ...dir(`${workload}-${values.unfenced ? 'record-only' : 'fenced'}`),
        log,
      }).catch((err: unknown) => {
        if (!(err instanceof MissingCapabilityError)) throw err;
        process.stdout.write(`${driver.name} (${workload}): skipped, ${err.message}\n`);
      });
    }
    if (values['with-unfenced'] && !values.unfenced) {
      await run(recordOnly({ driver, seed, ...dir('record-only'), log })).catch((err: unknown) => {
        if (!(err instanceof MissingCapabilityError)) throw err;
        process.stdout.write(`${driver.name} (record-only): skipped, ${err.message}: a paused holder keeps its lock\n`);
      });
    }
  }
  const markdown = renderMarkdown(reports);
  process.stdout.write(`\n${markdown}`);
  if (values.docs && reports.length > 0) {
    // The page shows the table and a taste of each failing run; the run directories have the rest.
    updateDocs(values['docs-file']!, renderMarkdown(reports, 3), `npm run chaos -- ${argv.join(' ')}`);
    process.stdout.write(`wrote the table into ${values['docs-file']}\n`);
  }
  return reports.some((r) => r.fenced && r.violations.total > 0) ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`chaos: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = err instanceof RangeError || err instanceof TypeError ? 2 : 1;
}
