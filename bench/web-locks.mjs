#!/usr/bin/env node
/**
 * Web Locks benchmark: deadbolt's LockManager.forThreads() against Node 24's
 * own navigator.locks, in one run. The Node 24 part runs in a child process
 * on the binary `.ci/install-node.sh 24` fetches (.cache/node/x64-24); the
 * child also runs deadbolt (the addon is N-API, so the same build loads on
 * Node 24), for a same-runtime comparison. Rounds are interleaved across
 * candidates (this process, then the child, …), medians kept.
 *
 *   (a) uncontended: `await locks.request(name, () => {})` in a loop; ns per request
 *   (b) 10 000 queued: a holder, 10 000 requests queued behind it, then release;
 *       ns per request from the first enqueue to the last callback's end
 *   (c) cross-thread hand-off: two worker threads pass one exclusive lock back
 *       and forth (each queues behind the other, then the holder releases); the
 *       time from the release to the next holder's callback, p50 and p90. A holder
 *       waits at most STALL_MS for the other thread to queue; a pass where it never does
 *       (the lock was granted again to the thread that just released it, while the
 *       other one was queued) is counted as a stall instead of hanging the run.
 *
 * Targets (issue 17): (a) ≥ 5× faster than navigator.locks, (b) ≥ 50×, (c) p50 ≤ 20 µs.
 *
 * Usage: node web-locks.mjs [--rounds=N] [--quick] [--only=a,b,c] [--node24=PATH]
 * Prints a table per scenario and one `BENCH_JSON {...}` line.
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import { median, percentile } from './lib/stats.mjs';
import { formatDuration, formatRatio, printJsonLine, renderTable } from './lib/format.mjs';

const SELF = fileURLToPath(import.meta.url);

async function managerFor(impl) {
  if (impl === 'navigator') return globalThis.navigator.locks;
  const { LockManager } = await import('deadbolt/web-locks');
  return LockManager.forThreads();
}

// ---------------------------------------------------------------- scenarios (run in this process or in the child)

async function uncontended(locks, ops) {
  const noop = () => {};
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) await locks.request('uncontended', noop);
  return Number(process.hrtime.bigint() - start) / ops;
}

// Async, as real callbacks are: with a synchronous one, Node 24 recurses per grant and overflows its stack at 1000 queued.
const queuedCallback = async () => {};

async function queued(locks, n) {
  let release;
  const holder = locks.request('queued', () => new Promise((resolve) => (release = resolve)));
  await new Promise((resolve) => setImmediate(resolve));
  const start = process.hrtime.bigint();
  const all = new Array(n);
  for (let i = 0; i < n; i++) all[i] = locks.request('queued', queuedCallback);
  release();
  await holder;
  await Promise.all(all);
  return Number(process.hrtime.bigint() - start) / n;
}

/** How long a holder waits for the other thread to queue before it counts a stall. */
const STALL_MS = 2_000;

/** Two workers pass the lock `passes` times; resolves with every hand-off latency in ns and the stalls. */
async function handoff(impl, passes) {
  const shared = new SharedArrayBuffer(64);
  const workers = [0, 1].map((me) => new Worker(SELF, { workerData: { role: 'handoff', impl, me, passes, shared } }));
  // Each worker posts its latencies and exits on its own (nothing is left waiting).
  const results = await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve, reject) => {
          let result;
          w.once('message', (m) => (result = m));
          w.once('error', reject);
          w.once('exit', () => resolve(result));
        }),
    ),
  );
  return { latencies: results.flatMap((r) => r.latencies), stalls: results.reduce((n, r) => n + r.stalls, 0) };
}

/**
 * One side of the hand-off. Slots: queued[0..1] (Int32, "I am queued"), stamp (BigInt64, the release time).
 * Worker 0 takes the lock first. In its callback a holder waits (Atomics.wait: it has nothing else
 * to do) until the other side is queued, stamps the time and returns, which releases.
 */
async function handoffWorker({ impl, me, passes, shared }) {
  const locks = await managerFor(impl);
  // Node 24's pending navigator.locks request does not keep a worker's event loop alive: the
  // worker would exit while it waits. A long timer keeps it up (deadbolt's waits do that themselves).
  const keepAlive = impl === 'navigator' ? setInterval(() => {}, 2 ** 30) : undefined;
  const flags = new Int32Array(shared, 0, 4);
  const stamp = new BigInt64Array(shared, 16, 1);
  const other = 1 - me;
  const latencies = [];
  let stalls = 0;
  const hold = () => {
    const t = stamp[0];
    if (t !== 0n) latencies.push(Number(process.hrtime.bigint() - t));
    // Bounded: if the other side never queues (it waits for this very lock, granted to us out of
    // order), give up after STALL_MS and count it instead of hanging the benchmark.
    while (Atomics.load(flags, other) === 0) {
      if (Atomics.wait(flags, other, 0, STALL_MS) === 'timed-out') {
        stalls++;
        break;
      }
    }
    Atomics.store(flags, other, 0);
    stamp[0] = process.hrtime.bigint();
  };
  // Worker 0 holds first: worker 1 starts once worker 0's first request was made. (Flagged
  // before that request, since Node 24 runs the callback of a free lock inside request().)
  if (me === 1) while (Atomics.load(flags, 2) === 0) Atomics.wait(flags, 2, 0);
  for (let i = 0; i < passes; i++) {
    if (me === 0 && i === 0) {
      Atomics.store(flags, 2, 1);
      Atomics.notify(flags, 2);
    }
    const p = locks.request('handoff', hold);
    Atomics.store(flags, me, 1);
    Atomics.notify(flags, me);
    await p;
  }
  // Let the last holder go: the other side may still wait for us to queue once more.
  Atomics.store(flags, me, 1);
  Atomics.notify(flags, me);
  clearInterval(keepAlive);
  parentPort.postMessage({ latencies, stalls });
}

async function sample(scenario, impl, params) {
  const locks = await managerFor(impl);
  if (scenario === 'a') return uncontended(locks, params.ops);
  if (scenario === 'b') return queued(locks, params.queued);
  return handoff(impl, params.passes);
}

// ---------------------------------------------------------------- roles

if (!isMainThread && workerData?.role === 'handoff') {
  await handoffWorker(workerData);
} else if (process.argv.includes('--child')) {
  process.on('message', async ({ id, scenario, impl, params }) => {
    process.send({ id, value: await sample(scenario, impl, params) });
  });
  process.send({ ready: true, version: process.version });
} else {
  await main();
}

async function main() {
  const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? true]));
  const scenarios = String(args.only ?? 'a,b,c').split(',');
  const quick = Boolean(args.quick);
  const rounds = Number(args.rounds ?? (quick ? 3 : 7));
  const params = { ops: quick ? 20_000 : 100_000, queued: 10_000, passes: quick ? 500 : 2_000 };
  const node24 = args.node24 ?? fileURLToPath(new URL('../.cache/node/x64-24/bin/node', import.meta.url));
  if (!existsSync(node24)) {
    console.error(`Node 24 is not at ${node24}: run .ci/install-node.sh 24 (or pass --node24=PATH)`);
    process.exit(1);
  }
  const child = fork(SELF, ['--child'], { execPath: node24, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { version: childVersion } = await new Promise((resolve) => child.once('message', resolve));
  let next = 0;
  const inChild = (scenario, impl) =>
    new Promise((resolve) => {
      const id = ++next;
      const onMessage = (m) => {
        if (m.id !== id) return;
        child.off('message', onMessage);
        resolve(m.value);
      };
      child.on('message', onMessage);
      child.send({ id, scenario, impl, params });
    });
  const candidates = [
    { name: `deadbolt forThreads (${process.version})`, run: (s) => sample(s, 'deadbolt', params) },
    { name: `deadbolt forThreads (${childVersion})`, run: (s) => inChild(s, 'deadbolt') },
    { name: `navigator.locks (${childVersion})`, run: (s) => inChild(s, 'navigator'), baseline: true },
  ];
  const results = {};
  for (const scenario of scenarios) {
    const values = new Map(candidates.map((c) => [c.name, []]));
    for (let round = 0; round < rounds + 1; round++) {
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[(i + round) % candidates.length];
        process.stderr.write(`  (${scenario}) round ${round}/${rounds}: ${c.name}\r`);
        const v = await c.run(scenario);
        if (round > 0) values.get(c.name).push(v); // round 0 warms up
      }
    }
    results[scenario] = summarizeScenario(scenario, candidates, values);
  }
  child.kill();
  print(results, { rounds, params });
}

function summarizeScenario(scenario, candidates, values) {
  const rows = candidates.map((c) => {
    const v = values.get(c.name);
    if (scenario === 'c') {
      const all = v.flatMap((r) => r.latencies);
      const stalls = v.reduce((n, r) => n + r.stalls, 0);
      return { name: c.name, baseline: c.baseline === true, p50: median(all), p90: percentile(all, 90), stalls };
    }
    return { name: c.name, baseline: c.baseline === true, p50: median(v) };
  });
  const base = rows.find((r) => r.baseline);
  for (const r of rows) r.ratio = base.p50 / r.p50;
  return rows;
}

function print(results, { rounds, params }) {
  const titles = {
    a: '(a) uncontended request, ns per request (median of rounds)',
    b: `(b) ${params.queued} queued, ns per request (median of rounds)`,
    c: `(c) cross-thread hand-off, release → next holder's callback (p50 / p90 of ${rounds} × ${params.passes} passes)`,
  };
  for (const s of Object.keys(results)) {
    console.log(`\n${titles[s]}`);
    const columns = [
      { key: 'name', title: 'candidate', align: 'left' },
      { key: 'p50', title: s === 'c' ? 'p50' : 'median', format: formatDuration },
      ...(s === 'c' ? [{ key: 'p90', title: 'p90', format: formatDuration }, { key: 'stalls', title: `stalls (${STALL_MS / 1000} s)`, format: String }] : []),
      { key: 'ratio', title: 'navigator.locks ÷ this', format: formatRatio },
    ];
    console.log(renderTable(columns, results[s]));
  }
  // The issue's targets are for deadbolt on Node 24, side by side with Node 24's own navigator.locks;
  // each other line's verdict is printed too, since the drop-in also serves Node 20 and 22.
  const verdict = (ok) => (ok ? 'met' : 'MISSED');
  const targets = {
    a: { label: '(a) ≥ 5× faster uncontended', show: (r) => formatRatio(r.ratio), ok: (r) => r.ratio >= 5 },
    b: { label: `(b) ≥ 50× faster with ${params.queued} queued`, show: (r) => formatRatio(r.ratio), ok: (r) => r.ratio >= 50 },
    c: { label: '(c) hand-off p50 ≤ 20 µs', show: (r) => formatDuration(r.p50), ok: (r) => r.p50 <= 20_000 },
  };
  console.log('\ntargets (deadbolt vs navigator.locks on Node 24; the issue judges the Node 24 line):');
  for (const [s, target] of Object.entries(targets)) {
    if (!results[s]) continue;
    const lines = results[s].filter((r) => !r.baseline).map((r) => `${r.name.replace('deadbolt forThreads ', '')} ${target.show(r)} ${verdict(target.ok(r))}`);
    console.log(`  ${target.label}: ${lines.join('; ')}`);
  }
  printJsonLine('BENCH_JSON', { bench: 'web-locks', rounds, params, results, node: process.version });
}
