#!/usr/bin/env node
/**
 * Recipes benchmark: deadbolt's leader election and distributed semaphore on every
 * engine (memory, etcd, redis, postgres, zookeeper), each against its floor and,
 * where there is one, a peer. One server at a time, started with the engine
 * benches' own starters on free loopback ports and stopped at the end (even on error).
 *
 *   (1) failover after resign: leader A resign() → candidate B's campaign() resolves.
 *       Floor: deadbolt's plain-lock hand-off (A release() → B's acquire() resolves):
 *       an election is a lock underneath. Peer on etcd: etcd3's Election.
 *   (2) failover after a kill: the leader campaigns in a child process (ttl 2000 ms),
 *       is SIGKILLed; kill → B elected, and its ratio to the TTL. Not on memory://
 *       (in-process, no process boundary). Peer on etcd: etcd3's Election, 2 s lease.
 *   (3) observe latency: the leader proclaim()s a new value → an observer (another
 *       coordinator) yields it. Floor: the engine's raw notification (etcd: put →
 *       watch event; redis: PUBLISH → message). Peer on etcd: etcd3 observe() 'change'.
 *   (4) semaphore uncontended acquire+release (permits 4, weight 1), per cycle.
 *       Floor: deadbolt plain-lock acquire+release. Peers on redis: redis-semaphore's
 *       Semaphore, @sesamecare-oss/redlock (single instance).
 *
 * Rounds are interleaved and rotated (each round runs every candidate once); ratios
 * are taken within a round, then their median is reported.
 *
 * Usage: node recipes.mjs [--engines=memory,etcd,redis,postgres,zookeeper] [--rounds=N]
 *        [--killRounds=N] [--cycles=N] [--quick] [--markdown] [--help]
 */
import { fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { environment } from './lib/harness.mjs';
import { median, percentile } from './lib/stats.mjs';
import { formatRatio, printJsonLine, renderMarkdownTable, renderTable } from './lib/format.mjs';

const USAGE =
  'node recipes.mjs [--engines=memory,etcd,redis,postgres,zookeeper] [--rounds=N] [--killRounds=N] [--cycles=N] [--quick] [--markdown] [--help]';
let parsed;
try {
  parsed = parseArgs({
    options: {
      engines: { type: 'string' },
      rounds: { type: 'string' },
      killRounds: { type: 'string' },
      cycles: { type: 'string' },
      quick: { type: 'boolean' },
      markdown: { type: 'boolean' },
      help: { type: 'boolean' },
      // internal: the leader of scenario (2), in a child process
      child: { type: 'string' },
      url: { type: 'string' },
      name: { type: 'string' },
    },
    strict: true,
  }).values;
} catch (error) {
  console.error(`${error.message}\nusage: ${USAGE}`);
  process.exit(64);
}
if (parsed.help) {
  console.log(USAGE);
  process.exit(0);
}

const KILL_TTL_MS = 2_000;
if (parsed.child) await child(parsed);

const ALL_ENGINES = ['memory', 'etcd', 'redis', 'postgres', 'zookeeper'];
const engines = String(parsed.engines ?? ALL_ENGINES.join(',')).split(',').filter(Boolean);
const unknownEngines = engines.filter((e) => !ALL_ENGINES.includes(e));
if (unknownEngines.length > 0) {
  console.error(`unknown engine(s): ${unknownEngines.join(', ')}; known: ${ALL_ENGINES.join(', ')}`);
  process.exit(64);
}
const quick = Boolean(parsed.quick);
const ROUNDS = Number(parsed.rounds ?? (quick ? 3 : 9));
const KILL_ROUNDS = Number(parsed.killRounds ?? (quick ? 1 : 3));
const CYCLES = Number(parsed.cycles ?? (quick ? 30 : 200));
const HANDOFFS = quick ? 4 : 10; // hand-offs per candidate per round in (1)
const PROCLAIMS = quick ? 10 : 30; // proclaims per candidate per round in (3)
const TTL = 15_000; // scenarios other than (2)
/**
 * (1): how long the candidate has been queued on the engine before the leader resigns.
 * etcd3's Campaign puts its key at once but becomes electable only ~100 ms after
 * campaign() (measured: resigning 5 ms after its key appears gave ~90 ms failovers,
 * 100 ms after gave ~7 ms); every candidate gets the same settle time, so (1) times
 * the failover alone, not a candidate's set-up.
 */
const SETTLE_MS = 150;

const { connect } = await import('deadbolt').catch((error) => {
  console.error(`Cannot load deadbolt (${error.message}).\nBuild it first: (cd .. && npm run build), then npm install here.`);
  process.exit(1);
});

const env = await environment();
const report = {
  benchmark: 'recipes',
  env,
  params: { engines, settleMs: SETTLE_MS, rounds: ROUNDS, killRounds: KILL_ROUNDS, cycles: CYCLES, handoffs: HANDOFFS, proclaims: PROCLAIMS, killTtlMs: KILL_TTL_MS, quick },
  scenarios: {},
};
const results = { 1: [], 2: [], 3: [], 4: [] };
const log = (text = '') => console.log(text);
log(`recipes benchmark — ${env.date}, node ${env.node}, ${env.cpu}, load ${env.loadavg.join(' ')}`);
log(`engines ${engines.join(', ')}; rounds ${ROUNDS} (kill: ${KILL_ROUNDS}), ${HANDOFFS} hand-offs, ${PROCLAIMS} proclaims, ${CYCLES} cycles per candidate per round${quick ? ' (--quick: figures mean little)' : ''}\n`);

// ------------------------------------------------------------------ cleanup
const children = new Set();
const cleanups = [];
const killChildren = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};
process.once('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    killChildren();
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
    process.exit(130);
  });
}

// ------------------------------------------------------------------ helpers
const us = (v) => (Number.isFinite(v) ? `${v.toFixed(0)} µs` : '—');
const msf = (v) => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : '—');
const now = () => performance.now();
/** Reject if `promise` takes longer than `ms` (a hang must not stall the run). */
function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
/** Poll `check` every 2 ms until true (max `ms`); `undefined` from check means "cannot tell": wait 50 ms. */
async function until(check, what, ms = 10_000) {
  const deadline = now() + ms;
  for (;;) {
    const ok = await check();
    if (ok === undefined) return sleep(50);
    if (ok) return;
    if (now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(2);
  }
}
const candidatesQueued = (c, name, n = 1) => async () => {
  const list = await c.candidates(name);
  return list === undefined ? undefined : list.length >= n;
};
const lockWaiters = (c, name, n = 1) => async () => {
  const survey = await c.survey(name);
  if (survey === undefined) return undefined;
  return (survey.find((s) => s.name === name)?.waiters.length ?? 0) >= n;
};
/** Latest-value waiter over an event source: `expect(v)` resolves with the time `v` is seen. */
function valueWaiter() {
  let want;
  let resolve;
  return {
    seen(value) {
      if (want !== undefined && value === want) {
        const r = resolve;
        want = undefined;
        r(now());
      }
    },
    expect(value) {
      want = value;
      return new Promise((r) => (resolve = r));
    },
  };
}

/**
 * Interleaved rounds: candidates [{ name, sample(round) → number[] }], round 0 unmeasured
 * when `warmup`. Returns per candidate all samples and per-round medians.
 */
async function rounds(candidates, count, warmup = true) {
  const out = new Map(candidates.map((c) => [c.name, { all: [], perRound: [] }]));
  for (let round = 0; round < count + (warmup ? 1 : 0); round++) {
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[(i + round) % candidates.length];
      const values = await c.sample(round);
      if (warmup && round === 0) continue;
      out.get(c.name).all.push(...values);
      out.get(c.name).perRound.push(median(values));
    }
  }
  return out;
}
/** Rows from rounds(): median, p90 over all samples; ratio = median of in-round ratios to `floor`. */
function rowsFrom(engine, res, floor) {
  const f = floor === undefined ? undefined : res.get(floor);
  return [...res].map(([name, r]) => ({
    engine,
    name,
    median: median(r.all),
    p90: percentile(r.all, 90),
    n: r.all.length,
    ratio: f === undefined || name === floor ? Number.NaN : median(r.perRound.map((v, i) => v / f.perRound[i])),
  }));
}

// ------------------------------------------------------------------ servers
async function startEngine(engine) {
  switch (engine) {
    case 'memory':
      return { url: `memory://bench-recipes-${process.pid}`, stop: async () => {} };
    case 'etcd': {
      const { startEtcd } = await import('./etcd/server.mjs');
      const s = await startEtcd();
      return { url: s.url, hosts: [`http://${s.endpoint}`], stop: s.stop };
    }
    case 'redis': {
      const { startServer } = await import('./redis/server.mjs');
      const s = await startServer();
      return { url: s.url, stop: s.stop };
    }
    case 'postgres': {
      const { startServer } = await import('./postgres/server.mjs');
      const s = await startServer();
      return { url: s.url, stop: s.stop };
    }
    case 'zookeeper': {
      const { startZooKeeper } = await import('./zookeeper/lib/server.mjs');
      const s = await startZooKeeper();
      return { url: `zookeeper://${s.endpoint}`, stop: s.stop };
    }
  }
  throw new Error(engine);
}

// ------------------------------------------------------------------ main
let failed;
try {
  for (const engine of engines) {
    const server = await startEngine(engine);
    cleanups.push(server.stop);
    const closers = [];
    try {
      log(`— ${engine}: ${server.url.replace(/\/\/[^@/]*@/, '//')}`);
      const t0 = now();
      await failoverResign(engine, server, closers);
      if (engine !== 'memory') await failoverKill(engine, server, closers);
      await observeLatency(engine, server, closers);
      await semaphoreUncontended(engine, server, closers);
      log(`  done in ${((now() - t0) / 1000).toFixed(1)} s`);
    } finally {
      for (const close of closers.reverse()) await Promise.resolve().then(close).catch(() => {});
      killChildren();
      cleanups.splice(cleanups.indexOf(server.stop), 1);
      await server.stop();
    }
  }
} catch (error) {
  failed = error;
  console.error(`\nFAILED: ${error.stack ?? error}`);
} finally {
  killChildren();
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
}
log('');
printTables();
report.env.loadavgAfter = (await environment()).loadavg;
log(`load average after: ${report.env.loadavgAfter.join(' ')}`);
printJsonLine('BENCH_JSON', report);
process.exit(failed ? 1 : 0);

// ------------------------------------------------------------------ (1)
async function failoverResign(engine, server, closers) {
  const connectPair = async (namespace) => {
    const pair = [await connect(server.url, { ttl: TTL, namespace }), await connect(server.url, { ttl: TTL, namespace })];
    closers.push(() => pair[0].close(), () => pair[1].close());
    return pair;
  };
  const [e1, e2] = await connectPair('bench-r1-election');
  const [l1, l2] = await connectPair('bench-r1-lock');
  // deadbolt election: the two coordinators take turns, the waiting one queued before each resign
  let leaderSide = 0;
  let current = await e1.campaign('e', { value: 'a' });
  const election = async () => {
    const values = [];
    for (let i = 0; i < HANDOFFS; i++) {
      const next = leaderSide === 0 ? e2 : e1;
      const campaign = next.campaign('e', { value: `v${i}` }).then((l) => ({ l, at: now() }));
      await until(candidatesQueued(next, 'e'), 'election candidate queued');
      await sleep(SETTLE_MS);
      const start = now();
      await current.resign();
      const { l, at } = await within(campaign, 30_000, 'campaign after resign');
      values.push((at - start) * 1000);
      current = l;
      leaderSide = 1 - leaderSide;
    }
    return values;
  };
  let lockSide = 0;
  let guard = await l1.acquire('l');
  const lock = async () => {
    const values = [];
    for (let i = 0; i < HANDOFFS; i++) {
      const next = lockSide === 0 ? l2 : l1;
      const acquired = next.acquire('l').then((g) => ({ g, at: now() }));
      await until(lockWaiters(next, 'l'), 'lock waiter queued');
      await sleep(SETTLE_MS);
      const start = now();
      await guard.release();
      const { g, at } = await within(acquired, 30_000, 'acquire after release');
      values.push((at - start) * 1000);
      guard = g;
      lockSide = 1 - lockSide;
    }
    return values;
  };
  const candidates = [
    { name: 'deadbolt campaign (resign → elected)', sample: election },
    { name: 'floor: deadbolt lock hand-off', sample: lock },
  ];
  if (engine === 'etcd') candidates.push({ name: 'etcd3 Election (resign → elected)', sample: await etcd3Resign(server, closers) });
  const res = await rounds(candidates, ROUNDS);
  await current.resign();
  await guard.release();
  const rows = rowsFrom(engine, res, 'floor: deadbolt lock hand-off');
  results[1].push(...rows);
}

async function etcd3Resign(server, closers) {
  const { Etcd3 } = await import('etcd3');
  const clients = [new Etcd3({ hosts: server.hosts }), new Etcd3({ hosts: server.hosts })];
  closers.push(() => clients.forEach((c) => c.close()));
  const elections = clients.map((c) => c.election('bench-r1-etcd3', 15));
  const count = etcdCounter(clients[0], 'election/bench-r1-etcd3/');
  let side = 0;
  let current = elections[0].campaign('a');
  await current.wait();
  return async () => {
    const values = [];
    for (let i = 0; i < HANDOFFS; i++) {
      const next = elections[1 - side].campaign(`v${i}`);
      next.on('error', () => {});
      const elected = next.wait().then(() => now());
      await until(async () => (await count()) >= 2, 'etcd3 candidate queued');
      await sleep(SETTLE_MS);
      const start = now();
      await current.resign();
      values.push(((await within(elected, 30_000, 'etcd3 campaign after resign')) - start) * 1000);
      current = next;
      side = 1 - side;
    }
    return values;
  };
}

/** Keys under `prefix` on etcd, counted. */
function etcdCounter(client, prefix) {
  const key = Buffer.from(prefix);
  const end = Buffer.from(prefix);
  end[end.length - 1] += 1;
  return async () => Number((await client.kv.range({ key, range_end: end, count_only: true })).count);
}

// ------------------------------------------------------------------ (2)
/** Fork this script as the leader; resolves once it leads, with the child. */
async function spawnLeader(kind, url, name) {
  const c = fork(new URL(import.meta.url).pathname, [`--child=${kind}`, `--url=${url}`, `--name=${name}`], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.add(c);
  const gone = new Promise((resolve) => c.once('exit', resolve));
  c.gone = gone;
  await within(
    new Promise((resolve, reject) => {
      c.once('message', (m) => (m === 'leading' ? resolve() : reject(new Error(`child: ${m}`))));
      c.once('exit', (code) => reject(new Error(`leader child exited (${code}) before leading`)));
    }),
    30_000,
    `${kind} leader child`,
  );
  return c;
}

async function failoverKill(engine, server, closers) {
  const b = await connect(server.url, { ttl: KILL_TTL_MS, namespace: 'bench-r2' });
  closers.push(() => b.close());
  const deadbolt = async (round) => {
    const name = `k${round}`;
    const leaderChild = await spawnLeader('deadbolt', server.url, name);
    const campaign = b.campaign(name, { value: 'b' }).then((l) => ({ l, at: now() }));
    await until(candidatesQueued(b, name), 'kill: candidate queued');
    await sleep(20);
    const start = now();
    leaderChild.kill('SIGKILL');
    const { l, at } = await within(campaign, 60_000, 'campaign after kill');
    await leaderChild.gone;
    children.delete(leaderChild);
    await l.resign();
    return [at - start];
  };
  const candidates = [{ name: 'deadbolt campaign (kill → elected)', sample: deadbolt }];
  if (engine === 'etcd') {
    const { Etcd3 } = await import('etcd3');
    const client = new Etcd3({ hosts: server.hosts });
    closers.push(() => client.close());
    const etcd3 = async (round) => {
      const name = `bench-r2-etcd3-${round}`;
      const leaderChild = await spawnLeader('etcd3', server.hosts.join(','), name);
      const campaign = client.election(name, KILL_TTL_MS / 1000).campaign('b');
      campaign.on('error', () => {});
      const elected = campaign.wait().then(() => now());
      const count = etcdCounter(client, `election/${name}/`);
      await until(async () => (await count()) >= 2, 'etcd3 kill: candidate queued');
      await sleep(20);
      const start = now();
      leaderChild.kill('SIGKILL');
      const at = await within(elected, 60_000, 'etcd3 campaign after kill');
      await leaderChild.gone;
      children.delete(leaderChild);
      await campaign.resign();
      return [at - start];
    };
    candidates.push({ name: `etcd3 Election, ${KILL_TTL_MS / 1000} s lease (kill → elected)`, sample: etcd3 });
  }
  const res = await rounds(candidates, KILL_ROUNDS, false);
  for (const [name, r] of res) {
    results[2].push({ engine, name, median: median(r.all), p90: percentile(r.all, 90), max: Math.max(...r.all), n: r.all.length, ratio: median(r.all) / KILL_TTL_MS });
  }
}

/** The child side of (2): lead, say so, then wait to be killed. */
async function child({ child: kind, url, name }) {
  const hold = setInterval(() => {}, 1 << 30);
  try {
    if (kind === 'deadbolt') {
      const { connect: connectChild } = await import('deadbolt');
      const c = await connectChild(url, { ttl: KILL_TTL_MS, namespace: 'bench-r2' });
      await c.campaign(name, { value: 'child' });
    } else {
      const { Etcd3 } = await import('etcd3');
      const client = new Etcd3({ hosts: url.split(',') });
      const campaign = client.election(name, KILL_TTL_MS / 1000).campaign('child');
      campaign.on('error', () => {});
      await campaign.wait();
    }
    process.send('leading');
  } catch (error) {
    process.send?.(String(error?.message ?? error));
    clearInterval(hold);
    process.exit(1);
  }
  await new Promise(() => {}); // killed by the parent
}

// ------------------------------------------------------------------ (3)
async function observeLatency(engine, server, closers) {
  const leaderC = await connect(server.url, { ttl: TTL, namespace: 'bench-r3' });
  const observerC = await connect(server.url, { ttl: TTL, namespace: 'bench-r3' });
  const stop = new AbortController();
  closers.push(() => leaderC.close(), () => observerC.close(), () => stop.abort());
  const leadership = await leaderC.campaign('o', { value: 'start' });
  const waiter = valueWaiter();
  const iterating = (async () => {
    for await (const state of observerC.observe('o', { signal: stop.signal })) waiter.seen(state.leader?.value);
  })().catch(() => {});
  let seq = 0;
  const timed = async (publish, w) => {
    const values = [];
    for (let i = 0; i < PROCLAIMS; i++) {
      const value = `v${++seq}`;
      const seen = w.expect(value);
      const start = now();
      await publish(value);
      values.push(((await within(seen, 30_000, 'observed value')) - start) * 1000);
    }
    return values;
  };
  const candidates = [{ name: 'deadbolt observe (proclaim → yielded)', sample: () => timed((v) => leadership.proclaim(v), waiter) }];
  let floor;
  if (engine === 'etcd') {
    const { Etcd3 } = await import('etcd3');
    const [a, b] = [new Etcd3({ hosts: server.hosts }), new Etcd3({ hosts: server.hosts })];
    closers.push(() => a.close(), () => b.close());
    const campaign = a.election('bench-r3-etcd3', 15).campaign('start');
    campaign.on('error', () => {});
    await campaign.wait();
    const observer = await b.election('bench-r3-etcd3', 15).observe();
    observer.on('error', () => {});
    closers.push(() => observer.cancel());
    const w3 = valueWaiter();
    observer.on('change', (v) => w3.seen(v));
    candidates.push({ name: 'etcd3 Election observe() change', sample: () => timed((v) => campaign.proclaim(v), w3) });
    const watcher = await b.watch().key('bench-r3-raw').create();
    closers.push(() => watcher.cancel());
    const wf = valueWaiter();
    watcher.on('put', (kv) => wf.seen(kv.value.toString()));
    floor = 'floor: raw etcd put → watch event';
    candidates.push({ name: floor, sample: () => timed((v) => a.put('bench-r3-raw').value(v), wf) });
  } else if (engine === 'redis') {
    const { default: Redis } = await import('ioredis');
    const [pub, sub] = [new Redis(server.url), new Redis(server.url)];
    closers.push(() => pub.disconnect(), () => sub.disconnect());
    await sub.subscribe('bench-r3-raw');
    const wf = valueWaiter();
    sub.on('message', (_, message) => wf.seen(message));
    floor = 'floor: raw PUBLISH → message';
    candidates.push({ name: floor, sample: () => timed((v) => pub.publish('bench-r3-raw', v), wf) });
  }
  const res = await rounds(candidates, ROUNDS);
  stop.abort();
  await iterating;
  await leadership.resign();
  results[3].push(...rowsFrom(engine, res, floor));
}

// ------------------------------------------------------------------ (4)
async function semaphoreUncontended(engine, server, closers) {
  const c = await connect(server.url, { ttl: TTL, namespace: 'bench-r4' });
  closers.push(() => c.close());
  const semaphore = c.semaphore('s', 4);
  const cycles = (cycle) => async () => {
    const values = [];
    for (let i = 0; i < CYCLES; i++) {
      const start = now();
      await cycle();
      values.push((now() - start) * 1000);
    }
    return values;
  };
  const floor = 'floor: deadbolt lock acquire+release';
  const candidates = [
    { name: 'deadbolt semaphore(4) acquire+release', sample: cycles(async () => (await semaphore.acquire({ weight: 1 })).release()) },
    { name: floor, sample: cycles(async () => (await c.acquire('l')).release()) },
  ];
  if (engine === 'redis') {
    const { default: Redis } = await import('ioredis');
    const { Semaphore } = await import('redis-semaphore');
    const redis = new Redis(server.url);
    closers.push(() => redis.disconnect());
    await redis.ping();
    candidates.push({
      name: 'redis-semaphore Semaphore(4)',
      sample: cycles(async () => {
        const s = new Semaphore(redis, 'bench-r4-rs', 4, { lockTimeout: TTL });
        await s.acquire();
        await s.release();
      }),
    });
    const m = await import('@sesamecare-oss/redlock');
    const Redlock = m.Redlock ?? m.default?.Redlock;
    const redis2 = new Redis(server.url);
    closers.push(() => redis2.disconnect());
    await redis2.ping();
    const redlock = new Redlock([redis2], { retryCount: 0, automaticExtensionThreshold: 0 });
    redlock.on('error', () => {});
    candidates.push({
      name: '@sesamecare-oss/redlock lock (1 instance)',
      sample: cycles(async () => (await redlock.acquire(['bench-r4-redlock'], TTL)).release()),
    });
  }
  const res = await rounds(candidates, ROUNDS);
  results[4].push(...rowsFrom(engine, res, floor));
}

// ------------------------------------------------------------------ output
function printTables() {
  const base = [
    { key: 'engine', title: 'engine', align: 'left' },
    { key: 'name', title: 'candidate', align: 'left' },
  ];
  const specs = [
    [1, 'failoverResign', '(1) failover after resign: resign() → candidate elected (µs)', [
      { key: 'median', title: 'median', format: us },
      { key: 'p90', title: 'p90', format: us },
      { key: 'ratio', title: 'vs lock hand-off', format: formatRatio },
      { key: 'n', title: 'n' },
    ]],
    [2, 'failoverKill', `(2) failover after SIGKILL of the leader's process, ttl ${KILL_TTL_MS} ms: kill → candidate elected (ms)`, [
      { key: 'median', title: 'median', format: msf },
      { key: 'p90', title: 'p90', format: msf },
      { key: 'max', title: 'max', format: msf },
      { key: 'ratio', title: 'vs TTL', format: formatRatio },
      { key: 'n', title: 'n' },
    ]],
    [3, 'observe', '(3) observe latency: proclaim() → observer yields the value (µs)', [
      { key: 'median', title: 'median', format: us },
      { key: 'p90', title: 'p90', format: us },
      { key: 'ratio', title: 'vs raw notification', format: formatRatio },
      { key: 'n', title: 'n' },
    ]],
    [4, 'semaphore', '(4) semaphore uncontended acquire+release, permits 4, weight 1 (µs per cycle)', [
      { key: 'median', title: 'median', format: us },
      { key: 'p90', title: 'p90', format: us },
      { key: 'ratio', title: 'vs lock cycle', format: formatRatio },
      { key: 'n', title: 'n' },
    ]],
  ];
  for (const [id, key, title, columns] of specs) {
    const rows = results[id];
    if (rows.length === 0) continue;
    log(title);
    log(renderTable([...base, ...columns], rows));
    if (parsed.markdown) log(`\n${renderMarkdownTable([...base, ...columns], rows)}`);
    log('');
    report.scenarios[key] = {
      title,
      rows: Object.fromEntries(
        rows.map((r) => [`${r.engine}: ${r.name}`, Object.fromEntries(Object.entries(r).filter(([k, v]) => typeof v === 'number' && (k !== 'ratio' || Number.isFinite(v))))]),
      ),
    };
  }
  if (engines.includes('memory')) log('(2) is not run on memory://: in-process, no process boundary to kill across.\n');
}
