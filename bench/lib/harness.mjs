/**
 * A small benchmark harness for comparing candidates on a noisy, shared machine.
 *
 * Why hand-rolled rather than mitata/tinybench: both run one task to completion
 * before the next, so drift on a shared machine (another build starting, CPU
 * frequency changing) lands on whichever candidate was running. Here every round
 * runs each candidate once (A B C, then B C A, …: interleaved, and rotated so no
 * candidate always follows the same neighbour's garbage), and we report medians of
 * rounds. It also lets a sample time only part of its work (the hand-off of a
 * queue built beforehand, say), which per-call harnesses cannot express.
 */
import { summarize } from './stats.mjs';

/** Monotonic now, in nanoseconds (a Number: fine for spans under ~100 days). */
export function nowNs() {
  return Number(process.hrtime.bigint());
}

/** Run `fn` and return how long it took, in nanoseconds. */
export async function timeNs(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start);
}

/** Whether `global.gc` is available (node --expose-gc). */
export function hasGc() {
  return typeof globalThis.gc === 'function';
}

/**
 * Collect garbage thoroughly (twice: weak references and finalizers need a second pass).
 *
 * Beware: on Node 20 (V8 11.3) a forced full GC also throws away optimized code, so
 * whatever runs next re-tiers from the interpreter (measured: a 50 000-op acquire/release
 * loop ran 3.5x slower right after `gc()`). Never call it just before a timed section;
 * `minorGc()` is safe. To measure heap, take the baseline, then run an untimed warm-up.
 */
export function fullGc() {
  if (!hasGc()) throw new Error('global.gc is not available: run node with --expose-gc');
  globalThis.gc();
  globalThis.gc();
}

/**
 * Await `promise` and drop its value. Use it where heap is measured after an await:
 * a suspended async function's frame may keep the last awaited promise (and so its
 * result, e.g. a 100 000-element Promise.all array) reachable until it returns.
 */
export async function settle(promise) {
  await promise;
}

/** A scavenge of the young generation only: cheap, and keeps optimized code. */
export function minorGc() {
  if (!hasGc()) throw new Error('global.gc is not available: run node with --expose-gc');
  globalThis.gc({ type: 'minor' });
}

/** `process.memoryUsage().heapUsed` after a full GC. */
export function settledHeapUsed() {
  fullGc();
  return process.memoryUsage().heapUsed;
}

/**
 * Run candidates in interleaved, rotated rounds.
 *
 * @param {object} spec
 * @param {Array<{name: string, sample: () => Promise<Record<string, number>>}>} spec.candidates
 *   `sample()` does one round's work and returns named metrics (e.g. `{ ns, ops }`).
 * @param {number} spec.rounds       measured rounds
 * @param {number} [spec.warmup=2]   unmeasured rounds first (JIT tiers, IC warmup)
 * @param {'minor'|'full'|'none'} [spec.gcBetween='minor'] GC before each sample (outside its
 *   timing) so that no candidate pays for the previous one's garbage. 'full' also discards
 *   optimized code (see fullGc), so it suits only samples that are not timed.
 * @param {(info: {round: number, rounds: number, warmup: boolean}) => void} [spec.onRound]
 * @returns {Promise<Map<string, {metrics: Record<string, number[]>, summary: Record<string, ReturnType<typeof summarize>>}>>}
 *   per candidate name, every round's metrics and their summaries.
 */
export async function runInterleaved({ candidates, rounds, warmup = 2, gcBetween = 'minor', onRound }) {
  const results = new Map(candidates.map((c) => [c.name, { metrics: {}, summary: {} }]));
  const total = warmup + rounds;
  for (let round = 0; round < total; round++) {
    const measured = round >= warmup;
    onRound?.({ round: measured ? round - warmup + 1 : round + 1, rounds: measured ? rounds : warmup, warmup: !measured });
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[(i + round) % candidates.length];
      if (gcBetween !== 'none' && hasGc()) (gcBetween === 'full' ? fullGc : minorGc)();
      const metrics = await candidate.sample();
      if (!measured) continue;
      const into = results.get(candidate.name).metrics;
      for (const [key, value] of Object.entries(metrics)) (into[key] ??= []).push(value);
    }
  }
  for (const result of results.values()) {
    for (const [key, values] of Object.entries(result.metrics)) result.summary[key] = summarize(values);
  }
  return results;
}

/**
 * Facts about the run worth printing beside figures: node, CPU, load, date.
 */
export function environment() {
  return import('node:os').then((os) => {
    const cpus = os.cpus();
    return {
      date: new Date().toISOString(),
      node: process.version,
      v8: process.versions.v8,
      platform: `${process.platform} ${os.release()} ${process.arch}`,
      cpu: `${cpus.length} × ${cpus[0]?.model ?? 'unknown'}`,
      loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
    };
  });
}

/**
 * Make sure this process runs with `flags` (e.g. `--expose-gc`): if not, re-run
 * the same script with them and exit with its status. Returns only when the
 * flags are present.
 */
export async function ensureNodeFlags(flags) {
  const missing = flags.filter((f) => !process.execArgv.includes(f));
  if (missing.length === 0) return;
  const { spawnSync } = await import('node:child_process');
  const child = spawnSync(process.execPath, [...process.execArgv, ...missing, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}
