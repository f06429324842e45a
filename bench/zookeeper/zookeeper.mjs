#!/usr/bin/env node
/**
 * ZooKeeper benchmark: deadbolt's zookeeper:// driver against the minimal raw
 * `node-zookeeper-client` sequence that gives the same guarantees, on a
 * throwaway standalone ZooKeeper (tickTime 500 ms) started here.
 *
 *   (a) uncontended acquire + release. Floor: create an ephemeral sequential
 *       node, getChildren (it is the lowest: held), delete it.
 *   (b) hand-off latency with 10 waiters: from the holder's release() call to
 *       the next holder's grant, along a queue of 10. Floor: the raw lock
 *       recipe (the waiter watches its predecessor with `exists`, re-reads the
 *       children when it fires).
 *   (c) engine requests per hand-off with 100 waiters (and 10, to show it does
 *       not grow): every request the 101 sessions send during the hand-offs,
 *       counted by a proxy by operation; keepalives apart.
 *
 * Usage: npm run zookeeper [-- --rounds=N] [-- --cycles=N] [-- --quick] [-- --only=a,b,c] [-- --deadbolt=PATH] [-- --alt=DIR]
 *   --deadbolt=PATH  load deadbolt from PATH (e.g. ../.test-tmp/x/src/index.js) instead of the package.
 *   --alt=DIR        another build (a checkout with its dist/ built, e.g. the baseline of a
 *                    change): it runs as "deadbolt (before)" in (a) and (b), interleaved with
 *                    the rest, on namespaces of its own, and each prints after/before.
 * Prints one table per scenario (medians, p99, ratios against the floor), the
 * targets (met / MISSED), and one `BENCH_JSON {...}` line.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { environment, runInterleaved } from '../lib/harness.mjs';
import { median, percentile } from '../lib/stats.mjs';
import { formatRatio, printJsonLine, renderTable } from '../lib/format.mjs';
import { startCountingProxy } from './lib/counting-proxy.mjs';
import { startZooKeeper } from './lib/server.mjs';

// ---------------------------------------------------------------- arguments
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? true];
  }),
);
const KNOWN = ['quick', 'only', 'rounds', 'cycles', 'deadbolt', 'alt', 'help'];
const unknown = Object.keys(args).filter((k) => !KNOWN.includes(k));
if (args.help || unknown.length > 0) {
  if (unknown.length > 0) console.error(`unknown option(s): ${unknown.map((k) => `--${k}`).join(' ')}`);
  console.error(`usage: node zookeeper/zookeeper.mjs [${KNOWN.filter((k) => k !== 'help').map((k) => `--${k}`).join(' ')}]`);
  process.exit(args.help && unknown.length === 0 ? 0 : 2);
}
const quick = Boolean(args.quick);
const only = new Set(String(args.only ?? 'a,b,c').split(','));
const ROUNDS = Number(args.rounds ?? (quick ? 3 : 15));
const CYCLES = Number(args.cycles ?? (quick ? 30 : 100));
const TTL = 10_000;

let deadbolt;
try {
  deadbolt = await import(args.deadbolt ? pathToFileURL(String(args.deadbolt)).href : 'deadbolt');
} catch (error) {
  console.error(`Cannot load deadbolt (${error.message}).\nBuild it first: (cd .. && npm install && npm run build), then npm install here.`);
  process.exit(1);
}
/** The build to compare with (--alt=DIR), loaded from its own dist/. */
let before;
if (typeof args.alt === 'string') {
  const entry = `${args.alt.replace(/\/$/, '')}/dist/index.js`;
  try {
    before = await import(pathToFileURL(entry).href);
  } catch (error) {
    console.error(`Cannot load the --alt build ${entry} (${error.message}): build it first (npm install && npm run build there).`);
    process.exit(1);
  }
}
const zk = createRequire(import.meta.url)('node-zookeeper-client');

// ---------------------------------------------------------------- raw client, promisified
async function rawClient(endpoint) {
  const client = zk.createClient(endpoint, { sessionTimeout: TTL, retries: 0 });
  await new Promise((resolve) => {
    client.once('connected', resolve);
    client.connect();
  });
  const call = (fn, ...a) => new Promise((resolve, reject) => fn.call(client, ...a, (e, r) => (e ? reject(e) : resolve(r))));
  return {
    create: (path) => call(client.create, path, null, zk.CreateMode.EPHEMERAL_SEQUENTIAL),
    children: (path) => call(client.getChildren, path),
    exists: (path, watcher) => call(client.exists, path, watcher),
    childrenAndExists: (dir, path, watcher) => Promise.all([call(client.getChildren, dir), call(client.exists, path, watcher)]),
    remove: (path) => call(client.remove, path, -1),
    mkdirp: (path) => call(client.mkdirp, path),
    close: () => client.close(),
  };
}

/** The raw lock recipe: create, lowest holds, else watch the predecessor and re-read. */
async function rawAcquire(raw, dir) {
  const path = await raw.create(`${dir}/n-`);
  const me = path.slice(dir.length + 1);
  for (;;) {
    const children = (await raw.children(dir)).sort();
    const i = children.indexOf(me);
    if (i === 0) return path;
    let gone;
    const deleted = new Promise((resolve) => (gone = resolve));
    if ((await raw.exists(`${dir}/${children[i - 1]}`, () => gone())) !== null) await deleted;
  }
}

// ---------------------------------------------------------------- helpers
const ms = (v) => (Number.isFinite(v) ? `${v.toFixed(3)} ms` : '');
const connectAll = (url, n, namespace, build = deadbolt) => Promise.all(Array.from({ length: n }, () => build.connect(url, { ttl: TTL, namespace })));
/** The after/before line of a scenario: medians of per-round ratios, as the other engines' benches print it. */
function printAfterBefore(results, what) {
  if (!before) return undefined;
  const after = results.get('deadbolt').metrics.median;
  const ratio = median(results.get('before').metrics.median.map((m, i) => after[i] / m));
  console.log(`after/before (${what}): ${formatRatio(ratio)} (below 1.00x: faster than the --alt build)`);
  return ratio;
}

/** Wait until `dir` has `n` children (every waiter's claim is in the queue), then let the watches settle. */
async function queued(raw, dir, n) {
  for (let i = 0; i < 2_000; i++) {
    const children = await raw.children(dir).catch(() => []);
    if (children.length >= n) return delay(20);
    await delay(2);
  }
  throw new Error(`queue at ${dir} never reached ${n}`);
}

/**
 * Release `holder`, then let each granted waiter record its hand-off time and
 * release at once; `onLastGrant` runs when the last waiter is granted, before it releases.
 */
async function chain(release, waiters, onLastGrant = () => {}) {
  const latencies = [];
  let releasedAt = 0;
  const done = waiters.map((granted) =>
    granted.then(async (next) => {
      latencies.push(performance.now() - releasedAt);
      if (latencies.length === waiters.length) onLastGrant();
      releasedAt = performance.now();
      await next();
    }),
  );
  releasedAt = performance.now();
  await release();
  await Promise.all(done);
  return latencies;
}

const server = await startZooKeeper();
const url = `zookeeper://${server.endpoint}`;
const report = { environment: await environment(), parameters: { rounds: ROUNDS, cycles: CYCLES, ttl: TTL }, scenarios: {} };
const targets = [];
const control = await rawClient(server.endpoint);

try {
  // ------------------------------------------------------------ (a) uncontended
  if (only.has('a')) {
    const coordinator = await deadbolt.connect(url, { ttl: TTL, namespace: 'bench-a' });
    const raw = await rawClient(server.endpoint);
    const dir = '/bench-raw/a';
    await raw.mkdirp(dir);
    await (await coordinator.acquire('a')).release(); // parents exist before timing, as for the floor
    const old = before && (await before.connect(url, { ttl: TTL, namespace: 'bench-a-before' }));
    if (old) await (await old.acquire('a')).release();
    const pooled = { deadbolt: [], floor: [], token: [], before: [] };
    const noop = () => {};
    const timed = (into, cycle) => async () => {
      const local = [];
      for (let i = 0; i < CYCLES; i++) {
        const started = performance.now();
        await cycle();
        local.push(performance.now() - started);
      }
      into.push(...local);
      return { median: median(local) };
    };
    const results = await runInterleaved({
      rounds: ROUNDS,
      candidates: [
        { name: 'deadbolt', sample: timed(pooled.deadbolt, async () => (await coordinator.acquire('a')).release()) },
        ...(old ? [{ name: 'before', sample: timed(pooled.before, async () => (await old.acquire('a')).release()) }] : []),
        {
          name: 'floor',
          sample: timed(pooled.floor, async () => {
            const path = await raw.create(`${dir}/n-`);
            await raw.children(dir); // lowest child: held
            await raw.remove(path);
          }),
        },
        {
          // What a fencing token and loss detection cost on the raw client: the czxid
          // and a watch on our node, read alongside the children (one more request).
          name: 'token',
          sample: timed(pooled.token, async () => {
            const path = await raw.create(`${dir}/n-`);
            await raw.childrenAndExists(dir, path, noop);
            await raw.remove(path);
          }),
        },
      ],
    });
    const ratio = (name) => median(results.get(name).metrics.median.map((m, i) => m / results.get('floor').metrics.median[i]));
    const ratios = results.get('deadbolt').metrics.median.map((m, i) => m / results.get('floor').metrics.median[i]);
    const titles = {
      deadbolt: 'deadbolt acquire + release',
      before: 'deadbolt (before) acquire + release',
      floor: 'raw floor: create + getChildren + delete',
      token: 'raw + token & watch: create + (getChildren, exists own) + delete',
    };
    const rows = ['deadbolt', ...(old ? ['before'] : []), 'floor', 'token'].map((name) => ({
      name: titles[name],
      p50: median(pooled[name]),
      p99: percentile(pooled[name], 99),
      ratio: name === 'floor' ? 1 : ratio(name),
    }));
    console.log(`\n(a) uncontended acquire + release: ${ROUNDS} rounds × ${CYCLES} cycles\n`);
    console.log(renderTable([{ key: 'name', title: 'candidate', align: 'left' }, { key: 'p50', title: 'p50', format: ms }, { key: 'p99', title: 'p99', format: ms }, { key: 'ratio', title: 'vs floor', format: formatRatio }], rows));
    report.scenarios.a = rows;
    const afterBeforeA = printAfterBefore(results, 'uncontended cycle');
    if (afterBeforeA !== undefined) report.scenarios.aAfterBefore = afterBeforeA;
    targets.push({ what: '(a) acquire+release within 1.3x of the floor (median of per-round ratios)', value: median(ratios), met: median(ratios) <= 1.3 });
    await coordinator.close();
    await old?.close();
    raw.close();
  }

  // ------------------------------------------------------------ (b) hand-off, 10 waiters
  if (only.has('b')) {
    const WAITERS = 10;
    const coordinators = await connectAll(url, WAITERS + 1, 'bench-b');
    const olds = before ? await connectAll(url, WAITERS + 1, 'bench-b-before', before) : [];
    const raws = await Promise.all(Array.from({ length: WAITERS + 1 }, () => rawClient(server.endpoint)));
    const rawDir = '/bench-raw/b';
    await control.mkdirp(rawDir);
    const pooled = { deadbolt: [], floor: [], before: [] };
    /** One chain of hand-offs among `group`, whose claims queue under `dir`. */
    const deadboltChain = (group, dir, into) => async () => {
      const holder = await group[0].acquire('b');
      const waiters = group.slice(1).map((c) => c.acquire('b').then((g) => () => g.release()));
      await queued(control, dir, WAITERS + 1);
      const latencies = await chain(() => holder.release(), waiters);
      into.push(...latencies);
      return { median: median(latencies) };
    };
    const results = await runInterleaved({
      rounds: ROUNDS,
      candidates: [
        { name: 'deadbolt', sample: deadboltChain(coordinators, '/bench-b/locks/b', pooled.deadbolt) },
        ...(before ? [{ name: 'before', sample: deadboltChain(olds, '/bench-b-before/locks/b', pooled.before) }] : []),
        {
          name: 'floor',
          sample: async () => {
            const held = await rawAcquire(raws[0], rawDir);
            const waiters = raws.slice(1).map((raw) => rawAcquire(raw, rawDir).then((path) => () => raw.remove(path)));
            await queued(control, rawDir, WAITERS + 1);
            const latencies = await chain(() => raws[0].remove(held), waiters);
            pooled.floor.push(...latencies);
            return { median: median(latencies) };
          },
        },
      ],
    });
    const titlesB = { deadbolt: 'deadbolt', before: 'deadbolt (before)', floor: 'raw floor: watch predecessor (exists), re-read children' };
    const rows = ['deadbolt', ...(before ? ['before'] : []), 'floor'].map((name) => ({
      name: titlesB[name],
      p50: median(pooled[name]),
      p99: percentile(pooled[name], 99),
      ratio: name === 'floor' ? 1 : median(results.get(name).metrics.median.map((m, i) => m / results.get('floor').metrics.median[i])),
    }));
    console.log(`\n(b) hand-off latency, ${WAITERS} waiters (release() call → next grant): ${ROUNDS} rounds × ${WAITERS} hand-offs\n`);
    console.log(renderTable([{ key: 'name', title: 'candidate', align: 'left' }, { key: 'p50', title: 'p50', format: ms }, { key: 'p99', title: 'p99', format: ms }, { key: 'ratio', title: 'vs floor', format: formatRatio }], rows));
    report.scenarios.b = rows;
    const afterBeforeB = printAfterBefore(results, 'hand-off p50');
    if (afterBeforeB !== undefined) report.scenarios.bAfterBefore = afterBeforeB;
    targets.push({ what: '(b) hand-off p50 ≤ 2 ms with 10 waiters', value: rows[0].p50, met: rows[0].p50 <= 2 });
    await Promise.all([...coordinators, ...olds].map((c) => c.close()));
    for (const raw of raws) raw.close();
  }

  // ------------------------------------------------------------ (c) requests per hand-off
  if (only.has('c')) {
    const proxy = await startCountingProxy(server.endpoint);
    const coordinators = await connectAll(`zookeeper://${proxy.endpoint}`, 101, 'bench-c');
    const rows = [];
    for (const waiters of [10, 100]) {
      const name = `c${waiters}`;
      const holder = await coordinators[0].acquire(name);
      const granted = coordinators.slice(1, waiters + 1).map((c) => c.acquire(name).then((g) => () => g.release()));
      await queued(control, `/bench-c/locks/${name}`, waiters + 1);
      await proxy.quiet(100); // every waiter has set its watch
      proxy.reset();
      let counts;
      const latencies = await chain(() => holder.release(), granted, () => (counts = proxy.snapshot()));
      const keepalives = counts['exists / (keepalive)'] ?? 0;
      delete counts['exists / (keepalive)'];
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      rows.push({
        waiters,
        perHandoff: total / waiters,
        breakdown: Object.entries(counts)
          .map(([op, n]) => `${op} ${(n / waiters).toFixed(2)}`)
          .join(', '),
        keepalives,
        p50: median(latencies),
      });
    }
    console.log('\n(c) engine requests per hand-off (every session, counted at the wire; keepalives apart)\n');
    console.log(
      renderTable(
        [
          { key: 'waiters', title: 'waiters' },
          { key: 'perHandoff', title: 'requests / hand-off', format: (v) => v.toFixed(2) },
          { key: 'breakdown', title: 'by operation (per hand-off)', align: 'left' },
          { key: 'keepalives', title: 'keepalives meanwhile' },
          { key: 'p50', title: 'hand-off p50', format: ms },
        ],
        rows,
      ),
    );
    report.scenarios.c = rows;
    targets.push({ what: '(c) requests per hand-off do not grow with waiters (100 vs 10)', value: rows[1].perHandoff, met: rows[1].perHandoff <= rows[0].perHandoff + 0.05 });
    await Promise.all(coordinators.map((c) => c.close()));
    await proxy.close();
  }
} finally {
  control.close();
  await server.stop();
}

console.log('\ntargets');
for (const t of targets) console.log(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.what}: ${typeof t.value === 'number' ? t.value.toFixed(3) : t.value}`);
printJsonLine('BENCH_JSON', { bench: 'zookeeper', ...report, targets });
process.exit(0);
