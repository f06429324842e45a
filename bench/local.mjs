#!/usr/bin/env node
/**
 * In-process benchmark: deadbolt vs async-mutex (Mutex, Semaphore), async-sema,
 * p-limit and async-lock, with a bare-promise floor, in one process run.
 *
 *   (a) uncontended acquire + release, in an async loop
 *   (b) contended hand-off: 1000 waiters queued behind a holder, then the time to
 *       pass the lock through all of them (each releases as soon as it runs)
 *   (c) keyed locks over 100 000 distinct names, all requested at once: time, and
 *       heap retained after a full GC against the heap before
 *
 * Usage: npm run local [-- --rounds=N] [-- --only=a,b,c] [-- --quick] [-- --markdown] [-- --alt=PATH]
 *   --alt=PATH  also load another build of deadbolt (e.g. a branch's dist/index.js) and add
 *               its Mutex / KeyedMutex rows, marked [alt], to the same interleaved rounds:
 *               the way to measure a proposed change before/after on a noisy machine.
 * Prints a table per scenario with medians of interleaved rounds, each row's ratio
 * against deadbolt, and one `BENCH_JSON {...}` line with everything.
 */
import { Mutex as AMMutex, Semaphore as AMSemaphore } from 'async-mutex';
import { Sema } from 'async-sema';
import pLimit from 'p-limit';
import AsyncLock from 'async-lock';
import { environment, ensureNodeFlags, runInterleaved, settle, settledHeapUsed } from './lib/harness.mjs';
import { median, relativeIqr } from './lib/stats.mjs';
import { formatBytes, formatOps, formatRatio, formatSpread, printJsonLine, renderMarkdownTable, renderTable } from './lib/format.mjs';

await ensureNodeFlags(['--expose-gc']);

let deadbolt;
try {
  deadbolt = await import('deadbolt');
} catch (error) {
  console.error(`Cannot load deadbolt (${error.message}).\nBuild it first: (cd .. && npm install && npm run build), then npm install here.`);
  process.exit(1);
}
const { Mutex, Semaphore, KeyedMutex } = deadbolt;

// ---------------------------------------------------------------- arguments
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? true];
  }),
);
const KNOWN = ['quick', 'only', 'opsA', 'batchesB', 'rounds', 'roundsC', 'markdown', 'alt', 'help'];
const unknown = Object.keys(args).filter((k) => !KNOWN.includes(k));
if (args.help || unknown.length > 0) {
  if (unknown.length > 0) console.error(`unknown option(s): ${unknown.map((k) => `--${k}`).join(' ')}`);
  console.error(`usage: npm run local [-- ${KNOWN.filter((k) => k !== 'help').map((k) => `--${k}`).join(' ')}]  (see bench/README.md)`);
  process.exit(args.help && unknown.length === 0 ? 0 : 2);
}
const quick = Boolean(args.quick);
const only = new Set(String(args.only ?? 'a,b,c').split(','));
const UNCONTENDED_OPS = Number(args.opsA ?? (quick ? 50_000 : 200_000));
const WAITERS = 1000;
const HANDOFF_BATCHES = Number(args.batchesB ?? (quick ? 11 : 41)); // queues of WAITERS per round (median kept)
const KEYS = 100_000;
const ROUNDS_AB = Number(args.rounds ?? (quick ? 5 : 15));
const ROUNDS_C = Number(args.roundsC ?? (quick ? 3 : 7));

const noop = () => {};

let alt;
if (args.alt) {
  const { pathToFileURL } = await import('node:url');
  const { resolve } = await import('node:path');
  alt = await import(pathToFileURL(resolve(String(args.alt))).href);
}

// ---------------------------------------------------------------- (a) uncontended
// Each candidate owns its loop, so no call site is shared (and made megamorphic) across
// candidates. Same work per op: acquire, await the grant, release.
const uncontended = [
  {
    name: 'deadbolt Mutex',
    reference: true,
    loop: async (n) => {
      const m = new Mutex();
      for (let i = 0; i < n; i++) {
        const g = await m.acquire();
        g.release();
      }
    },
  },
  ...(alt
    ? [
        {
          name: 'deadbolt Mutex [alt]',
          loop: async (n) => {
            const m = new alt.Mutex();
            for (let i = 0; i < n; i++) {
              const g = await m.acquire();
              g.release();
            }
          },
        },
      ]
    : []),
  {
    name: 'deadbolt Semaphore(1)',
    loop: async (n) => {
      const s = new Semaphore(1);
      for (let i = 0; i < n; i++) {
        const g = await s.acquire();
        g.release();
      }
    },
  },
  {
    name: 'deadbolt Mutex, await release()',
    note: 'what `await using` costs',
    loop: async (n) => {
      const m = new Mutex();
      for (let i = 0; i < n; i++) {
        const g = await m.acquire();
        await g.release();
      }
    },
  },
  {
    name: 'deadbolt Mutex.run(fn)',
    loop: async (n) => {
      const m = new Mutex();
      for (let i = 0; i < n; i++) await m.run(noop);
    },
  },
  {
    name: 'async-mutex Mutex',
    peer: 'async-mutex',
    loop: async (n) => {
      const m = new AMMutex();
      for (let i = 0; i < n; i++) {
        const release = await m.acquire();
        release();
      }
    },
  },
  {
    name: 'async-mutex Semaphore(1)',
    peer: 'async-mutex',
    loop: async (n) => {
      const s = new AMSemaphore(1);
      for (let i = 0; i < n; i++) {
        const [, release] = await s.acquire();
        release();
      }
    },
  },
  {
    name: 'async-mutex Mutex.runExclusive(fn)',
    loop: async (n) => {
      const m = new AMMutex();
      for (let i = 0; i < n; i++) await m.runExclusive(noop);
    },
  },
  {
    name: 'async-sema Sema(1)',
    loop: async (n) => {
      const s = new Sema(1);
      for (let i = 0; i < n; i++) {
        await s.acquire();
        s.release();
      }
    },
  },
  {
    name: 'p-limit(1)',
    loop: async (n) => {
      const limit = pLimit(1);
      for (let i = 0; i < n; i++) await limit(noop);
    },
  },
  {
    name: 'floor: await Promise.resolve()',
    floor: true,
    loop: async (n) => {
      for (let i = 0; i < n; i++) await Promise.resolve();
    },
  },
];

// ---------------------------------------------------------------- (b) contended hand-off
// `build()` takes the lock and queues WAITERS waiters (untimed); then the holder releases
// and we time until the last waiter has run and released. A round does HANDOFF_BATCHES such
// queues and keeps the median queue: one queue drains in ~0.1 ms, so a single preemption by
// another process or a scavenge triggered by the (untimed) set-up would otherwise dominate.
// A second figure, `full`, times everything (queueing 1000 waiters, the hand-off, and the
// garbage collection that per-waiter allocations cause, amortized): total ops / total time.
function handoffCandidate(name, build, extra = {}) {
  return {
    name,
    ...extra,
    sample: async () => {
      const batches = new Array(HANDOFF_BATCHES);
      const first = process.hrtime.bigint();
      for (let b = 0; b < HANDOFF_BATCHES; b++) {
        const { release, done } = await build();
        const start = process.hrtime.bigint();
        release();
        await done;
        batches[b] = Number(process.hrtime.bigint() - start);
      }
      const fullNs = Number(process.hrtime.bigint() - first);
      return { ns: median(batches), ops: WAITERS, fullNs, fullOps: HANDOFF_BATCHES * WAITERS };
    },
  };
}

async function deadboltWaiter(m) {
  const g = await m.acquire();
  g.release();
}
// Separate copies so that each row's call sites see one class only (no shared polymorphism).
async function deadboltSemaphoreWaiter(s) {
  const g = await s.acquire();
  g.release();
}
async function altWaiter(m) {
  const g = await m.acquire();
  g.release();
}
async function asyncMutexWaiter(m) {
  const release = await m.acquire();
  release();
}
async function asyncMutexSemaphoreWaiter(s) {
  const [, release] = await s.acquire();
  release();
}
async function asyncSemaWaiter(s) {
  await s.acquire();
  s.release();
}

function queueWaiters(waiter, lock) {
  const waiters = new Array(WAITERS);
  for (let i = 0; i < WAITERS; i++) waiters[i] = waiter(lock);
  return Promise.all(waiters); // registered before timing starts
}

const contended = [
  handoffCandidate(
    'deadbolt Mutex',
    async () => {
      const m = new Mutex();
      const holder = await m.acquire();
      const done = queueWaiters(deadboltWaiter, m);
      return { release: () => holder.release(), done };
    },
    { reference: true },
  ),
  ...(alt
    ? [
        handoffCandidate('deadbolt Mutex [alt]', async () => {
          const m = new alt.Mutex();
          const holder = await m.acquire();
          const done = queueWaiters(altWaiter, m);
          return { release: () => holder.release(), done };
        }),
      ]
    : []),
  handoffCandidate('deadbolt Semaphore(1)', async () => {
    const s = new Semaphore(1);
    const holder = await s.acquire();
    const done = queueWaiters(deadboltSemaphoreWaiter, s);
    return { release: () => holder.release(), done };
  }),
  handoffCandidate(
    'async-mutex Mutex',
    async () => {
      const m = new AMMutex();
      const release = await m.acquire();
      const done = queueWaiters(asyncMutexWaiter, m);
      return { release, done };
    },
    { peer: 'async-mutex' },
  ),
  handoffCandidate(
    'async-mutex Semaphore(1)',
    async () => {
      const s = new AMSemaphore(1);
      const [, release] = await s.acquire();
      const done = queueWaiters(asyncMutexSemaphoreWaiter, s);
      return { release, done };
    },
    { peer: 'async-mutex' },
  ),
  handoffCandidate('async-sema Sema(1)', async () => {
    const s = new Sema(1);
    await s.acquire();
    const done = queueWaiters(asyncSemaWaiter, s);
    return { release: () => s.release(), done };
  }),
  handoffCandidate('p-limit(1)', async () => {
    const limit = pLimit(1);
    let release;
    const held = new Promise((resolve) => (release = resolve));
    limit(() => held); // active at once: p-limit starts it synchronously
    const waiters = new Array(WAITERS);
    for (let i = 0; i < WAITERS; i++) waiters[i] = limit(noop);
    return { release, done: Promise.all(waiters) };
  }),
  handoffCandidate(
    'floor: promise chain',
    async () => {
      // The least a hand-off can cost: waiter i awaits a promise, then resolves i+1's.
      const resolvers = new Array(WAITERS + 1);
      const gates = new Array(WAITERS + 1);
      for (let i = 0; i <= WAITERS; i++) gates[i] = new Promise((resolve) => (resolvers[i] = resolve));
      const waiters = new Array(WAITERS);
      for (let i = 0; i < WAITERS; i++) {
        waiters[i] = (async () => {
          await gates[i];
          resolvers[i + 1]();
        })();
      }
      return { release: () => resolvers[0](), done: Promise.all(waiters) };
    },
    { floor: true },
  ),
];

// ---------------------------------------------------------------- (c) keyed, 100 000 names
// All KEYS names are requested at once (so every entry exists at the peak), each released
// as soon as granted. Heap: heapUsed after a full GC, with the lock object still alive,
// minus heapUsed after a full GC before it was created. The key strings exist throughout.
// `run(lock, names)` requests every name of `names` on `lock`.
const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
const warmKeys = Array.from({ length: 5000 }, (_, i) => `warm:${i}`);

function keyedCandidate(name, create, run, entriesLeft, extra = {}) {
  return {
    name,
    ...extra,
    sample: async () => {
      const before = settledHeapUsed();
      // The full GCs above discard optimized code (see fullGc): re-tier on a throwaway
      // instance before timing. Its garbage is gone by the next full GC.
      await settle(run(create(), warmKeys));
      const lock = create();
      const start = process.hrtime.bigint();
      await settle(run(lock, keys)); // not `await run(lock)`: see settle()
      const ns = Number(process.hrtime.bigint() - start);
      const retained = settledHeapUsed() - before;
      const left = entriesLeft(lock); // also keeps `lock` alive through the measurement
      return { ns, ops: KEYS, retained, left };
    },
  };
}

const keyed = [
  keyedCandidate(
    'deadbolt KeyedMutex',
    () => new KeyedMutex(),
    (km, names) =>
      Promise.all(
        names.map(async (k) => {
          const g = await km.acquire(k);
          g.release();
        }),
      ),
    (km) => km.size,
    { reference: true },
  ),
  ...(alt
    ? [
        keyedCandidate(
          'deadbolt KeyedMutex [alt]',
          () => new alt.KeyedMutex(),
          (km, names) =>
            Promise.all(
              names.map(async (k) => {
                const g = await km.acquire(k);
                g.release();
              }),
            ),
          (km) => km.size,
        ),
      ]
    : []),
  keyedCandidate(
    'async-lock',
    () => new AsyncLock(),
    (lock, names) => Promise.all(names.map((k) => lock.acquire(k, noop))),
    (lock) => Object.keys(lock.queues).length,
  ),
  keyedCandidate(
    'Map<string, async-mutex Mutex> (naive)',
    () => new Map(),
    (map, names) =>
      Promise.all(
        names.map(async (k) => {
          let m = map.get(k);
          if (m === undefined) map.set(k, (m = new AMMutex()));
          const release = await m.acquire();
          release();
        }),
      ),
    (map) => map.size,
  ),
  keyedCandidate(
    'floor: Map set + await + delete',
    () => new Map(),
    (map, names) =>
      Promise.all(
        names.map(async (k) => {
          map.set(k, true);
          await Promise.resolve();
          map.delete(k);
        }),
      ),
    (map) => map.size,
    { floor: true },
  ),
];

// ---------------------------------------------------------------- run and report
function progress(label) {
  return ({ round, rounds, warmup }) => {
    if (process.stderr.isTTY) process.stderr.write(`\r${label}: ${warmup ? 'warm-up' : 'round'} ${round}/${rounds}   `);
  };
}
function endProgress() {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}

/**
 * Rows with ops/s medians and ratios. `ratio` = deadbolt's ops/s ÷ this row's, taken per
 * round (both sides of each ratio ran in the same round, seconds apart) and then the median.
 */
function throughputRows(candidates, results) {
  const rows = candidates.map((c) => {
    const { metrics } = results.get(c.name);
    const row = { candidate: c, name: c.name, metrics };
    row.opsPerSec = metrics.ns.map((ns, i) => metrics.ops[i] / (ns / 1e9));
    row.ops = median(row.opsPerSec);
    row.nsOp = 1e9 / row.ops;
    row.spread = relativeIqr(row.opsPerSec);
    if (metrics.fullNs) {
      row.fullOpsPerSec = metrics.fullNs.map((ns, i) => metrics.fullOps[i] / (ns / 1e9));
      row.fullOps = median(row.fullOpsPerSec);
    }
    return row;
  });
  const ref = rows.find((r) => r.candidate.reference);
  const ratioOf = (row, key) => (row === ref ? Number.NaN : median(row[key].map((ops, i) => ref[key][i] / ops)));
  for (const row of rows) {
    row.ratio = ratioOf(row, 'opsPerSec');
    if (row.fullOpsPerSec) row.fullRatio = ratioOf(row, 'fullOpsPerSec');
  }
  return rows;
}

const baseColumns = [
  { key: 'name', title: 'candidate', align: 'left' },
  { key: 'ops', title: 'ops/s', format: formatOps },
  { key: 'nsOp', title: 'ns/op', format: (v) => v.toFixed(0) },
  { key: 'spread', title: 'IQR', format: formatSpread, markdown: false },
  { key: 'ratio', title: 'deadbolt ÷ this', format: formatRatio },
];
const extraColumns = {
  b: [
    { key: 'fullOps', title: 'ops/s incl. queueing+GC', format: formatOps },
    { key: 'fullRatio', title: 'deadbolt ÷ this', format: formatRatio },
  ],
  c: [
    { key: 'retained', title: 'heap retained', format: (v) => formatBytes(v, { signed: true }) },
    { key: 'left', title: 'entries left', format: (v) => v.toLocaleString('en') },
  ],
};

const env = await environment();
const report = {
  benchmark: 'local',
  env,
  params: { uncontendedOps: UNCONTENDED_OPS, waiters: WAITERS, handoffQueuesPerRound: HANDOFF_BATCHES, keys: KEYS, roundsAB: ROUNDS_AB, roundsC: ROUNDS_C },
  scenarios: {},
  targets: {},
};
const markdown = [];
console.log(`deadbolt in-process benchmark — ${env.date}`);
console.log(`node ${env.node} (V8 ${env.v8}), ${env.platform}, ${env.cpu}, load ${env.loadavg.join(' ')}`);
console.log('medians of interleaved rounds; "deadbolt ÷ this" > 1 means deadbolt is faster (median of per-round ratios);');
console.log('IQR = half the interquartile range of ops/s across rounds, as a share of the median\n');

const round3 = (x) => (Number.isFinite(x) ? Number(x.toFixed(3)) : null);

function printScenario(id, title, rows) {
  const columns = [...baseColumns, ...(extraColumns[id] ?? [])];
  console.log(`(${id}) ${title}`);
  console.log(renderTable(columns, rows));
  console.log();
  markdown.push(`**(${id}) ${title}**\n\n${renderMarkdownTable(columns.filter((c) => c.markdown !== false), rows)}\n`);
  report.scenarios[id] = {
    title,
    rows: Object.fromEntries(
      rows.map((r) => [
        r.name,
        {
          opsPerSec: Math.round(r.ops),
          deadboltRatio: round3(r.ratio),
          ...(r.fullOps !== undefined && { fullOpsPerSec: Math.round(r.fullOps), fullDeadboltRatio: round3(r.fullRatio) }),
          ...(r.retained !== undefined && { heapRetainedBytes: Math.round(r.retained), entriesLeft: r.left }),
        },
      ]),
    ),
  };
}

/** The issue's targets: ≥ 1.5x async-mutex's Mutex on (a) and (b); within 3x of the floor on (a). */
function checkTargets(id, rows) {
  const mutex = rows.find((r) => r.name === 'async-mutex Mutex');
  if (mutex) report.targets[`${id}: deadbolt ≥ 1.5x async-mutex Mutex`] = { value: `${round3(mutex.ratio)}x`, met: mutex.ratio >= 1.5 };
  const floor = rows.find((r) => r.candidate.floor);
  if (floor && id === 'a') {
    const floorOverDeadbolt = 1 / floor.ratio;
    report.targets['a: floor ≤ 3x deadbolt'] = { value: `${round3(floorOverDeadbolt)}x`, met: floorOverDeadbolt <= 3 };
  }
}

if (only.has('a')) {
  const candidates = uncontended.map((c) => ({
    ...c,
    sample: async () => {
      const start = process.hrtime.bigint();
      await c.loop(UNCONTENDED_OPS);
      return { ns: Number(process.hrtime.bigint() - start), ops: UNCONTENDED_OPS };
    },
  }));
  const results = await runInterleaved({ candidates, rounds: ROUNDS_AB, warmup: 3, onRound: progress('(a)') });
  endProgress();
  const rows = throughputRows(candidates, results);
  printScenario('a', `uncontended acquire + release, ${UNCONTENDED_OPS.toLocaleString('en')} ops per round, ${ROUNDS_AB} rounds`, rows);
  checkTargets('a', rows);
}

if (only.has('b')) {
  const results = await runInterleaved({ candidates: contended, rounds: ROUNDS_AB, warmup: 3, onRound: progress('(b)') });
  endProgress();
  const rows = throughputRows(contended, results);
  printScenario('b', `contended hand-off through ${WAITERS} queued waiters, median of ${HANDOFF_BATCHES} queues per round, ${ROUNDS_AB} rounds`, rows);
  checkTargets('b', rows);
}

if (only.has('c')) {
  // gcBetween 'none': each sample starts with its own full GCs for the heap baseline.
  const results = await runInterleaved({ candidates: keyed, rounds: ROUNDS_C, warmup: 1, gcBetween: 'none', onRound: progress('(c)') });
  endProgress();
  const rows = throughputRows(keyed, results);
  for (const row of rows) {
    row.retained = median(row.metrics.retained);
    row.left = median(row.metrics.left);
  }
  printScenario('c', `keyed locks, ${KEYS.toLocaleString('en')} distinct names requested at once, ${ROUNDS_C} rounds`, rows);
  const ref = rows.find((r) => r.candidate.reference);
  // "Back to baseline": no entry left, and under 64 KiB survives of a peak of 100 000 entries
  // (tens of MiB); what does remain is type feedback and compiled code, not lock state.
  report.targets['c: heap back to baseline'] = { value: formatBytes(ref.retained, { signed: true }), met: ref.retained < 64 * 1024 && ref.left === 0 };
}

console.log(quick ? 'targets (not judged with --quick: the figures are not settled):' : 'targets:');
for (const [name, { value, met }] of Object.entries(report.targets)) console.log(`  ${quick ? '      ' : met ? 'met   ' : 'MISSED'}  ${name} (${value})`);
if (quick) report.targets = {};
console.log();
if (args.markdown) console.log(markdown.join('\n'));
printJsonLine('BENCH_JSON', report);
