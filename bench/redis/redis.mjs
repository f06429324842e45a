#!/usr/bin/env node
/**
 * Redis benchmark: deadbolt's redis driver against the floor (the least raw
 * ioredis can send for the same guarantees) and its peers (redlock 5 beta,
 * @sesamecare-oss/redlock), on one Redis in the same run.
 *
 *   (a) uncontended acquire + release, one name, sequential: per-op latency
 *   (b) hand-off with 10 waiters queued (each a coordinator / client of its
 *       own): from the holder's release() call to the next waiter's grant
 *   (c) engine requests per hand-off with 10 and 100 waiters, counted with
 *       MONITOR (client commands; commands run inside scripts separately):
 *       deadbolt must not grow with waiters
 *
 * Usage: npm run redis [-- --rounds=N] [-- --ops=N] [-- --only=a,b,c] [-- --quick]
 *        [-- --url=redis://127.0.0.1:6379] [-- --peerRetryDelay=2] [-- --alt=DIR]
 * --alt=DIR: another build (a checkout with dist/ built, e.g. the baseline of a
 * change) runs as "deadbolt (before)" in every scenario of the same run, and
 * (a) and (b) print after/before (median of per-round ratios).
 * Without --url it starts a redis-server of its own (no persistence). Prints
 * medians, p99 and ratios per scenario, the targets (met / MISSED), and one
 * `BENCH_JSON {...}` line.
 */
import { environment, nowNs, runInterleaved } from '../lib/harness.mjs';
import { median, percentile } from '../lib/stats.mjs';
import { formatDuration, formatRatio, printJsonLine, renderTable } from '../lib/format.mjs';
import { floorClient } from './floor.mjs';
import { monitor } from './monitor.mjs';
import { loadPeers } from './peers.mjs';
import { startServer } from './server.mjs';

let deadbolt;
try {
  deadbolt = await import('deadbolt');
} catch (error) {
  console.error(`Cannot load deadbolt (${error.message}).\nBuild it first: (cd .. && npm run build), then npm install here.`);
  process.exit(1);
}

// ---------------------------------------------------------------- arguments
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? true];
  }),
);
const KNOWN = ['quick', 'only', 'rounds', 'ops', 'url', 'peerRetryDelay', 'alt', 'help'];
const unknown = Object.keys(args).filter((k) => !KNOWN.includes(k));
if (args.help || unknown.length > 0) {
  if (unknown.length > 0) console.error(`unknown option(s): ${unknown.map((k) => `--${k}`).join(' ')}`);
  console.error(`usage: npm run redis [-- ${KNOWN.filter((k) => k !== 'help').map((k) => `--${k}`).join(' ')}]  (see bench/redis/README.md)`);
  process.exit(args.help && unknown.length === 0 ? 0 : 2);
}
const quick = Boolean(args.quick);
/** The build to compare with (--alt=DIR), loaded from its own dist/. */
let before;
if (typeof args.alt === 'string') {
  const entry = `${args.alt.replace(/\/$/, '')}/dist/index.js`;
  try {
    before = await import(entry);
  } catch (error) {
    console.error(`Cannot load the --alt build ${entry} (${error.message}): build it first (npm install && npm run build there).`);
    process.exit(2);
  }
}
const BEFORE = 'deadbolt (before)';
const only = new Set(String(args.only ?? 'a,b,c').split(','));
const ROUNDS = Number(args.rounds ?? (quick ? 3 : 11));
const OPS = Number(args.ops ?? (quick ? 200 : 1000));
const PEER_RETRY_DELAY = Number(args.peerRetryDelay ?? 2);
const TTL = 10_000;
/**
 * (c) counts everything the server receives, keepalives included (one per
 * session every ttl/3, whatever the hand-offs): a long TTL keeps those out of
 * a chain that lasts well under a second, so what is counted is the hand-off.
 */
const COUNT_TTL = 60_000;
const HANDOFF_WAITERS = 10;
const COUNT_WAITERS = [10, 100];

const server = await startServer(args.url);
const peers = await loadPeers(PEER_RETRY_DELAY);
const env = await environment();
const results = { env, parameters: { ROUNDS, OPS, TTL, COUNT_TTL, PEER_RETRY_DELAY, HANDOFF_WAITERS, COUNT_WAITERS }, scenarios: {} };
const toClose = [];
let namespaces = 0;

/** A deadbolt contender: one coordinator (a session, two connections), as a separate process would have. */
async function deadboltClient(namespace, ttl, build = deadbolt) {
  const coordinator = await build.connect(server.url, { ttl, namespace });
  toClose.push(() => coordinator.close());
  return {
    tryAcquire: (name) => coordinator.tryAcquire(name),
    acquire: (name) => coordinator.acquire(name),
    release: (guard) => guard.release(),
  };
}

/**
 * Diagnostic only: the redis driver without the Coordinator (no local queue,
 * no guard, no abort signals), to show where the time goes. Needs the
 * `deadbolt/drivers/redis` export (or a built dist/ next to the bench).
 */
async function driverOnlyClient(namespace, ttl) {
  const module = await import('deadbolt/drivers/redis').catch(() => import('../../dist/drivers/redis/index.js'));
  const driver = await module.createDriver(new URL(server.url), { namespace, ttl, connectTimeout: 5_000, endpoints: [], signal: new AbortController().signal });
  const owner = Object.freeze({ id: `bench-${process.pid}-${namespace}`, host: 'bench', pid: process.pid });
  const session = await driver.openSession(ttl, owner);
  const keepalive = setInterval(() => session.keepAlive().catch(() => {}), ttl / 3);
  toClose.push(async () => {
    clearInterval(keepalive);
    await session.revoke().catch(() => {});
    await driver.close();
  });
  const never = new AbortController().signal;
  return {
    acquire: (name) => driver.acquire({ session, name, mode: 'exclusive', owner }, never),
    release: (lock) => lock.release(),
  };
}

/** Every candidate: how to make a contender, and how to see that `n` waiters are queued. */
function candidates(ttl = TTL) {
  const ns = `bench${process.pid}x${++namespaces}`;
  const list = [
    { name: 'floor (raw ioredis)', floor: true, client: () => track(floorClient(server.url)), queued: (redis, n) => waitFor(async () => (await redis.llen('floor:queue:handoff')) >= n) },
    { name: 'deadbolt', client: () => deadboltClient(ns, ttl), queued: (redis, n) => waitFor(async () => (await redis.zcard(`${ns}:queue:handoff`)) >= n) },
  ];
  if (before) {
    const nsBefore = `${ns}before`;
    list.push({ name: BEFORE, client: () => deadboltClient(nsBefore, ttl, before), queued: (redis, n) => waitFor(async () => (await redis.zcard(`${nsBefore}:queue:handoff`)) >= n) });
  }
  for (const peer of peers) {
    list.push({ name: peer.name, client: () => track(peer.client(server.url)), queued: () => sleep(5 * PEER_RETRY_DELAY + 20) });
  }
  return list;
}

/** (a) also times the driver alone, to show what the Coordinator adds. */
function uncontendedCandidates() {
  const list = candidates();
  const ns = `bench${process.pid}x${++namespaces}`;
  list.splice(2, 0, { name: 'deadbolt driver only (diagnostic)', diagnostic: true, client: () => driverOnlyClient(ns, TTL) });
  return list;
}

async function track(promise) {
  const client = await promise;
  toClose.push(() => client.close());
  return client;
}

// ---------------------------------------------------------------- (a) uncontended
async function uncontended() {
  const list = uncontendedCandidates();
  const latencies = new Map(list.map((c) => [c.name, []]));
  for (const c of list) c.one = await c.client();
  const rounds = await runInterleaved({
    rounds: ROUNDS,
    warmup: quick ? 1 : 2,
    candidates: list.map((c) => ({
      name: c.name,
      async sample() {
        const ns = [];
        for (let i = 0; i < OPS; i++) {
          const start = nowNs();
          const held = await c.one.acquire('uncontended', TTL);
          await c.one.release(held);
          ns.push(nowNs() - start);
        }
        latencies.get(c.name).push(...ns);
        return { median: median(ns), p99: percentile(ns, 99) };
      },
    })),
  });
  return summarize('a', list, rounds, latencies);
}

// ---------------------------------------------------------------- (b) hand-off
async function handoff() {
  const list = candidates();
  const latencies = new Map(list.map((c) => [c.name, []]));
  const probe = (await import('ioredis')).default;
  const redis = new probe(server.url);
  toClose.push(() => redis.disconnect());
  for (const c of list) c.crowd = await crowd(c, HANDOFF_WAITERS + 1);
  const rounds = await runInterleaved({
    rounds: ROUNDS,
    warmup: quick ? 1 : 2,
    candidates: list.map((c) => ({
      name: c.name,
      async sample() {
        const ns = await chain(c, c.crowd, redis);
        latencies.get(c.name).push(...ns);
        return { median: median(ns), p99: percentile(ns, 99) };
      },
    })),
  });
  return summarize('b', list, rounds, latencies);
}

/** `n` contenders of one candidate. */
async function crowd(candidate, n) {
  const clients = [];
  for (let i = 0; i < n; i++) clients.push(await candidate.client());
  return clients;
}

/**
 * The first contender takes the lock; the others queue (untimed); then each
 * hand-off is timed from the release() call to the next grant. Resolves with
 * the hand-off times, in ns.
 */
async function chain(candidate, clients, redis) {
  const [holder, ...waiters] = clients;
  const held = await holder.acquire('handoff', TTL);
  const handoffs = [];
  let releasedAt = 0;
  const done = waiters.map(async (w) => {
    const guard = await w.acquire('handoff', TTL);
    handoffs.push(nowNs() - releasedAt);
    releasedAt = nowNs();
    await w.release(guard);
  });
  await candidate.queued(redis, waiters.length);
  releasedAt = nowNs();
  await holder.release(held);
  await Promise.all(done);
  return handoffs;
}

// ---------------------------------------------------------------- (c) requests per hand-off
async function requests() {
  const counter = await monitor(server.url);
  toClose.push(() => counter.close());
  const probe = (await import('ioredis')).default;
  const redis = new probe(server.url);
  toClose.push(() => redis.disconnect());
  const rows = [];
  for (const c of candidates(COUNT_TTL)) {
    const row = { name: c.name };
    for (const n of COUNT_WAITERS) {
      const clients = await crowd(c, n + 1);
      await chain(c, clients, redis); // warm: scripts loaded, connections ready
      const [holder, ...waiters] = clients;
      const held = await holder.acquire('handoff', TTL);
      const done = waiters.map(async (w) => w.release(await w.acquire('handoff', TTL)));
      await c.queued(redis, n);
      counter.start();
      await holder.release(held);
      await Promise.all(done);
      const counts = await counter.stop();
      row[`client${n}`] = counts.client / n;
      row[`lua${n}`] = counts.lua / n;
      row[`by${n}`] = counts.byCommand;
    }
    rows.push(row);
  }
  const growth = rows.map((r) => ({ ...r, growth: r[`client${COUNT_WAITERS[1]}`] / r[`client${COUNT_WAITERS[0]}`] }));
  results.scenarios.c = growth;
  console.log(`\n(c) engine requests per hand-off (MONITOR; client commands, and commands run inside scripts)\n`);
  console.log(
    renderTable(
      [
        { key: 'name', title: 'candidate', align: 'left' },
        ...COUNT_WAITERS.flatMap((n) => [
          { key: `client${n}`, title: `${n} waiters: sent`, format: (v) => v.toFixed(2) },
          { key: `lua${n}`, title: 'in scripts', format: (v) => v.toFixed(1) },
        ]),
        { key: 'growth', title: `sent ${COUNT_WAITERS[1]} ÷ ${COUNT_WAITERS[0]}`, format: formatRatio },
      ],
      growth,
    ),
  );
  const mine = growth.find((r) => r.name === 'deadbolt');
  target(`deadbolt's requests per hand-off do not grow with waiters (${formatRatio(mine.growth)})`, mine.growth <= 1.1);
}

// ---------------------------------------------------------------- reporting
function summarize(key, list, rounds, latencies) {
  const floorName = list.find((c) => c.floor).name;
  const floorRounds = rounds.get(floorName).metrics.median;
  const rows = list.map((c) => {
    const r = rounds.get(c.name);
    const ratios = r.metrics.median.map((m, i) => m / floorRounds[i]);
    return {
      name: c.name,
      median: r.summary.median.median,
      p99: percentile(latencies.get(c.name), 99),
      ratio: c.floor ? Number.NaN : median(ratios),
    };
  });
  results.scenarios[key] = rows;

  const title = key === 'a' ? '(a) uncontended acquire + release, per op' : `(b) hand-off, ${HANDOFF_WAITERS} waiters queued: release() call → next grant`;
  console.log(`\n${title} — medians of ${ROUNDS} interleaved rounds; p99 over every op\n`);
  console.log(
    renderTable(
      [
        { key: 'name', title: 'candidate', align: 'left' },
        { key: 'median', title: 'median', format: formatDuration },
        { key: 'p99', title: 'p99', format: formatDuration },
        { key: 'ratio', title: '÷ floor', format: formatRatio },
      ],
      rows,
    ),
  );
  if (before) {
    const theirs = rounds.get(BEFORE).metrics.median;
    const afterBefore = median(rounds.get('deadbolt').metrics.median.map((m, i) => m / theirs[i]));
    results.scenarios[`${key}AfterBefore`] = afterBefore;
    console.log(`after/before (${key === 'a' ? 'uncontended cycle' : 'hand-off p50'}): ${formatRatio(afterBefore)} (below 1.00x: faster than the --alt build)`);
  }
  return rows;
}

const targets = [];
function target(text, met) {
  targets.push({ text, met });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(check) {
  for (let i = 0; !(await check()); i++) {
    if (i > 2_000) throw new Error('waiters did not queue within 10 s');
    await sleep(5);
  }
}

// ---------------------------------------------------------------- run
console.log(`Redis benchmark — ${env.date}, node ${env.node}, ${env.cpu}, load ${env.loadavg.join(' ')}`);
console.log(`server ${server.url}; peers poll every ${PEER_RETRY_DELAY} ± ${PEER_RETRY_DELAY} ms${quick ? '; --quick: figures are indicative only' : ''}`);
try {
  if (only.has('a')) {
    const rows = await uncontended();
    const mine = rows.find((r) => r.name === 'deadbolt');
    target(`uncontended acquire + release within 1.3x of the floor (${formatRatio(mine.ratio)})`, mine.ratio <= 1.3);
  }
  if (only.has('b')) {
    const rows = await handoff();
    const mine = rows.find((r) => r.name === 'deadbolt');
    target(`hand-off p50 ≤ 2 ms with ${HANDOFF_WAITERS} waiters (${formatDuration(mine.median)})`, mine.median <= 2e6);
    const peerRows = rows.filter((r) => peers.some((p) => p.name === r.name));
    target(`hand-off faster than every peer (${peerRows.map((r) => `${r.name} ${formatDuration(r.median)}`).join(', ')})`, peerRows.every((r) => mine.median < r.median));
  }
  if (only.has('c')) await requests();
  console.log('\ntargets:');
  for (const t of targets) console.log(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.text}`);
  results.targets = targets;
  printJsonLine('BENCH_JSON', results);
} finally {
  for (const close of toClose.reverse()) await Promise.resolve(close()).catch(() => {});
  await server.stop();
}
