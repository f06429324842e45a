/**
 * One chaos run on one driver: start the engine and the resource server, start
 * the workers, let the nemesis apply its seeded schedule for the duration, let
 * the system settle, stop everything, check the history, and report.
 *
 * Phases, all on the monotonic clock:
 *   warm-up (every worker connected) → faults, one at a time, for `durationMs`
 *   and at least until every applicable kind was applied once
 *   → quiet period (TTL + recovery bound + slack, at least 2 s) → workers stop
 *   → resource flushes → check.
 *
 * The run directory keeps everything a failing seed needs: events.jsonl (worker
 * events and faults), resource.jsonl (the resource's log), one log per worker,
 * report.json and report.md.
 *
 * @module
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, RECIPE_PREFIXES, type Capabilities, type CapabilityName, type Coordinator } from '../../src/index.js';
import { check, type CheckResult } from './checker.js';
import { scratchDir, type ChaosDriver, type Engine } from './drivers.js';
import { History } from './history.js';
import { Nemesis } from './nemesis.js';
import { buildReport, renderMarkdown, type DriverReport } from './report.js';
import { Resource, type ResourceOutcome } from './resource.js';
import { FAULT_KINDS, Schedule, type FaultKind, type ScheduleTiming } from './schedule.js';
import { monotonicMs, sleep, within } from './time.js';
import { WorkerPool, type SharedConfig } from './worker-pool.js';
import type { Workload } from './worker.js';

/** Scheduling allowance added to every time bound: a 2-core machine shared with other work. */
export const DEFAULT_SLACK_MS = 1_500;

/** What to run. */
export interface RunOptions {
  driver: ChaosDriver;
  /** How long the nemesis keeps injecting faults, ms. */
  durationMs: number;
  seed: number;
  /** `false`: the resource only records (no Fence), to show what the faults do without fencing. */
  fenced: boolean;
  /** Worker processes (default 4). */
  workers?: number;
  /** Lock names they contend for (default 2). */
  locks?: number;
  /** Only these fault kinds (default: every kind the driver supports). */
  faults?: readonly FaultKind[];
  /**
   * Keep going past `durationMs` until at least this many faults were applied
   * (default 0). Whatever the duration, every applicable kind is applied at
   * least once before the run ends.
   */
  minFaults?: number;
  slackMs?: number;
  /** Capabilities the run is meaningless without: if the driver lacks one, the run stops before any worker starts, with MissingCapabilityError. */
  requires?: readonly CapabilityName[];
  /** An engine the caller started (and will stop); by default the run starts its own and stops it. */
  engine?: Engine;
  /** Where to keep the records (default: a fresh temporary directory). */
  dir?: string;
  /** What the workers contend through (default `'lock'`; `'election'`: campaign, the term fences). */
  workload?: Workload;
  /** Progress lines (faults as they happen). */
  log?: (line: string) => void;
}

/** What a run produced. */
export interface RunResult {
  report: DriverReport;
  check: CheckResult;
  /** The run directory (records, report.json, report.md). */
  dir: string;
}

let runs = 0;

/**
 * A run asked for (`requires`) a capability the driver does not have.
 *
 * @example
 * ```ts
 * try { await runChaos({ …, requires: ['serverLease'] }); }
 * catch (err) { if (err instanceof MissingCapabilityError) t.skip(err.message); else throw err; }
 * ```
 */
export class MissingCapabilityError extends Error {
  constructor(readonly driver: string, readonly capability: CapabilityName) {
    super(`the ${driver} driver lacks capability "${capability}"`);
    this.name = 'MissingCapabilityError';
  }
}

/**
 * Run `options.driver` under the nemesis and check the history.
 *
 * @example
 * ```ts
 * const { report } = await runChaos({ driver: chaosDriver('etcd'), durationMs: 25_000, seed: 1, fenced: true });
 * assert.equal(report.violations.total, 0);
 * ```
 */
export async function runChaos(options: RunOptions): Promise<RunResult> {
  const { driver, seed } = options;
  const workload = options.workload ?? 'lock';
  const dir = options.dir ?? scratchDir(`${driver.name}-${seed}`);
  const log = options.log ?? (() => {});
  const slackMs = options.slackMs ?? DEFAULT_SLACK_MS;
  const locks = Array.from({ length: options.locks ?? 2 }, (_, i) => String.fromCharCode(97 + i));
  const namespace = `chaos-${seed}-${process.pid}-${++runs}`;
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const engine = options.engine ?? (await driver.start(dir));
    if (options.engine === undefined) cleanup.push(() => engine.stop());
    const operator = new Operator(engine.url, namespace);
    cleanup.push(() => operator.close());
    const capabilities = (await operator.get()).capabilities;
    const missing = options.requires?.find((name) => !capabilities[name]);
    if (missing !== undefined) throw new MissingCapabilityError(driver.name, missing);
    const ttlMs = Math.max(driver.ttlMs, capabilities.minTtlMs);
    const resource = await Resource.start(options.fenced ? 'fenced' : 'record', join(dir, 'resource.jsonl'));
    cleanup.push(() => resource.kill());
    const history = new History(join(dir, 'events.jsonl'));
    cleanup.push(() => history.close());

    const config: SharedConfig = {
      ttl: ttlMs,
      namespace,
      locks,
      resourcePort: resource.port,
      seed,
      thinkMs: [20, 50],
      cycles: [1, 3],
      restMs: [0, 10],
      acquireTimeoutMs: clamp(3 * ttlMs + capabilities.recoveryBoundMs, 1_000, 10_000),
      workload,
    };
    const size = options.workers ?? 4;
    const pool = await WorkerPool.start({ driver, engine, history, dir, config, size });
    cleanup.push(() => pool.close());
    await waitConnected(history, size, 20_000);
    const kinds = applicableFaults(engine, capabilities).filter((k) => options.faults === undefined || options.faults.includes(k));
    const ttlPart = capabilities.serverLease ? ttlMs : 0;
    // How long a lock may take to pass on after its holder died: the liveness bound.
    const recoveryWaitMs = ttlPart + capabilities.recoveryBoundMs + slackMs;
    const breakName = (lock: string): string => (workload === 'election' ? `${RECIPE_PREFIXES.election}${lock}` : lock);
    const nemesis = new Nemesis({ history, pool, engine, locks, breakName, operator: () => operator.get(), aimTimeoutMs: Math.max(2_000, 2 * ttlMs), recoveryWaitMs });
    const schedule = new Schedule(seed, kinds, locks.length, timing(ttlMs, capabilities));

    const started = monotonicMs();
    const more = (): boolean =>
      monotonicMs() - started < options.durationMs || !schedule.covered || history.faults.length < (options.minFaults ?? 0);
    while (more()) {
      const plan = schedule.next();
      const record = await nemesis.inject(plan);
      history.addFault(record);
      log(`${driver.name}: fault #${record.seq} ${record.kind} on "${record.lock}"${record.worker === undefined ? '' : ` (${record.worker})`}` +
        `${record.skipped === undefined ? `, ${Math.round(record.healedAt - record.startedAt)} ms` : `: skipped, ${record.skipped}`}`);
      await sleep(plan.gapMs);
    }
    const quietFrom = Math.max(started, ...history.faults.map((f) => f.healedAt));
    // The quiet period: long enough for every lock to pass on after the last fault (the progress rule).
    await sleep(Math.max(2_000, recoveryWaitMs) - (monotonicMs() - quietFrom));
    const runEnd = monotonicMs();
    await pool.stopAll(clamp(2 * ttlMs + 2_000, 2_000, 10_000));
    const outcome: ResourceOutcome = await resource.finish();

    const result = check({
      events: history.events,
      faults: history.faults,
      entries: outcome.entries,
      values: outcome.values,
      locks,
      serverLease: capabilities.serverLease,
      ttlMs,
      recoveryBoundMs: capabilities.recoveryBoundMs,
      slackMs,
      quietFrom,
      runEnd,
    });
    const report = buildReport(
      {
        driver: driver.name,
        workload,
        seed,
        fenced: options.fenced,
        durationMs: Math.round(runEnd - started),
        ttlMs,
        recoveryBoundMs: capabilities.recoveryBoundMs,
        slackMs,
        workers: size,
        locks: locks.length,
        serverLease: capabilities.serverLease,
        faults: history.faults,
        dir,
      },
      result,
    );
    writeFileSync(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(dir, 'report.md'), renderMarkdown([report]));
    return { report, check: result, dir };
  } finally {
    // Last started, first stopped: workers before the resource and the operator, the engine last.
    for (const step of cleanup.reverse()) await within(step().catch(() => {}), 20_000, undefined);
  }
}

/**
 * The record-only demonstration the test suite runs after each fenced run: no
 * Fence, only holder pauses past the TTL (at least two), on drivers whose locks
 * live on a server lease (elsewhere it throws MissingCapabilityError: a paused
 * holder keeps its lock and nothing goes stale).
 *
 * @example
 * ```ts
 * const { report } = await runChaos(recordOnly({ driver, seed: 1 }));
 * assert.ok(report.violations.total > 0);
 * ```
 */
export function recordOnly(base: Omit<RunOptions, 'fenced' | 'faults' | 'durationMs'> & { durationMs?: number }): RunOptions {
  return { durationMs: 0, minFaults: 2, ...base, fenced: false, faults: ['pause-holder'], requires: ['serverLease'] };
}

/** Remove a run directory (a passing run's records are not worth keeping). */
export function removeRunDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The operator's coordinator, connected straight to the engine (no proxy),
 * reconnected when an engine fault cost it its session.
 */
class Operator {
  #coordinator: Promise<Coordinator> | undefined;

  constructor(
    readonly url: string,
    readonly namespace: string,
  ) {}

  async get(): Promise<Coordinator> {
    const current = await this.#coordinator?.catch(() => undefined);
    if (current === undefined || current.signal.aborted) {
      void current?.close().catch(() => {});
      // A long TTL: the operator is no subject of the test, and it must outlive engine pauses.
      this.#coordinator = connect(this.url, { ttl: 30_000, namespace: this.namespace, identity: { id: 'chaos-operator' } });
    }
    return this.#coordinator!;
  }

  async close(): Promise<void> {
    const current = await this.#coordinator?.catch(() => undefined);
    await current?.close();
  }
}

/** The faults that make sense for this engine and driver. */
export function applicableFaults(engine: Engine, capabilities: Capabilities): FaultKind[] {
  return FAULT_KINDS.filter((kind) => {
    switch (kind) {
      case 'pause-holder':
      case 'kill-holder':
        return true;
      case 'partition':
        return engine.upstream !== undefined || engine.space !== undefined;
      case 'engine-pause':
      case 'engine-restart':
        return engine.member !== undefined;
      case 'break':
        return capabilities.breakable;
    }
  });
}

/**
 * How long faults last and how far apart they are. Where there is a lease, a
 * holder pause or partition outlasts the TTL plus the recovery bound (1.2–1.5 ×
 * TTL + bound), so the lease expires and the lock demonstrably moves on while
 * the victim is away; without a lease a pause is just long enough for waiters
 * to pile up behind it.
 */
function timing(ttlMs: number, capabilities: Capabilities): ScheduleTiming {
  const pastTtl = [1.2 * ttlMs + capabilities.recoveryBoundMs, 1.5 * ttlMs + capabilities.recoveryBoundMs] as const;
  return {
    durationMs: {
      'pause-holder': capabilities.serverLease ? pastTtl : [300, 1_500],
      partition: pastTtl,
      'engine-pause': [0.3 * ttlMs, 1.2 * ttlMs],
    },
    gapMs: capabilities.serverLease ? [Math.max(200, ttlMs / 4), Math.max(400, ttlMs / 2)] : [200, 500],
  };
}

/** Wait (bounded) until `size` distinct workers have connected once. */
async function waitConnected(history: History, size: number, timeoutMs: number): Promise<void> {
  const deadline = monotonicMs() + timeoutMs;
  const connected = (): Set<string> => new Set(history.events.filter((e) => e.type === 'connected').map((e) => e.worker));
  while (connected().size < size) {
    const left = deadline - monotonicMs();
    if (left <= 0) throw new Error(`only ${connected().size} of ${size} workers connected within ${timeoutMs} ms; see their logs`);
    await history.waitFor((e) => e.type === 'connected', left);
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
