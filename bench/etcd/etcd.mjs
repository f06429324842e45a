#!/usr/bin/env node
/**
 * etcd benchmark: deadbolt's etcd:// driver (through the public connect()) against
 * the floor (the fewest raw etcd3 requests giving the same guarantees: raw.mjs)
 * and against the etcd3 package's own Lock, on a single-member etcd this script
 * starts (fast raft timing, data on $TMPDIR) and kills.
 *
 *   (a) uncontended acquire + release: latency per cycle (median, p99), and the
 *       requests etcd received per cycle
 *   (b) hand-off with 10 waiters queued: from the holder's release() call to the
 *       next waiter's grant (median, p99). etcd3's Lock cannot wait: its row
 *       retries every 10 ms, as an application using it must
 *   (c) requests etcd received per hand-off, with 10 and with 100 waiters (must not
 *       grow with the number of waiters: one waiter woken per release)
 *   (d) lease expiry: how long after a lease's TTL etcd deletes its key (the
 *       driver's recoveryBoundMs)
 *
 * Usage: npm run etcd [-- --quick] [-- --only=a,b,c,d] [-- --rounds=N] [-- --markdown] [-- --alt=DIR]
 * --alt=DIR adds a second deadbolt (another checkout's built dist/, e.g. main
 * before issue 13) to (a), (b) and (c), in the same run: before/after ratios.
 * Needs an etcd binary (PATH or DEADBOLT_ETCD_BIN).
 * Prints one table per scenario, ratios against the floor, and a BENCH_JSON line.
 */
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { environment } from '../lib/harness.mjs';
import { median, percentile } from '../lib/stats.mjs';
import { formatRatio, printJsonLine, renderMarkdownTable, renderTable } from '../lib/format.mjs';
import { rawCycle, rawLease, rawRelease, rawWaiter } from './raw.mjs';
import { diffCounts, receivedByMethod, startEtcd } from './server.mjs';

// ---------------------------------------------------------------- arguments
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? true];
  }),
);
const KNOWN = ['quick', 'only', 'rounds', 'cycles', 'markdown', 'alt', 'help'];
const unknown = Object.keys(args).filter((k) => !KNOWN.includes(k));
if (args.help || unknown.length > 0) {
  if (unknown.length > 0) console.error(`unknown option(s): ${unknown.map((k) => `--${k}`).join(' ')}`);
  console.error(`usage: npm run etcd [-- ${KNOWN.filter((k) => k !== 'help').map((k) => `--${k}`).join(' ')}]`);
  process.exit(args.help && unknown.length === 0 ? 0 : 2);
}
const quick = Boolean(args.quick);
const only = new Set(String(args.only ?? 'a,b,c,d').split(','));
const ROUNDS = Number(args.rounds ?? (quick ? 3 : 9));
const CYCLES = Number(args.cycles ?? (quick ? 30 : 100));

// ---------------------------------------------------------------- loading
const { connect } = await import('deadbolt').catch((error) => {
  console.error(`Cannot load deadbolt (${error.message}).\nBuild it first: (cd .. && npm install && npm run build), then npm install here.`);
  process.exit(1);
});
/** `--alt=DIR`: the same public API from another build, measured side by side. */
const alt = typeof args.alt === 'string'
  ? { label: `alt (${args.alt.split('/').filter(Boolean).pop()}) connect()`, connect: (await import(new URL(`file://${args.alt.replace(/\/$/, '')}/dist/index.js`).href)).connect }
  : undefined;
const { Etcd3 } = await import('etcd3').catch(() => {
  // not yet a dependency of bench/: fall back to the root's devDependency
  return createRequire(new URL('../../package.json', import.meta.url))('etcd3');
});

const etcd = await startEtcd();
const hosts = [`http://${etcd.endpoint}`];
const env = await environment();
const report = { benchmark: 'etcd', env, params: { rounds: ROUNDS, cycles: CYCLES, quick }, scenarios: {} };
const ms = (n) => `${n.toFixed(2)} ms`;
/** The claim-key prefix deadbolt uses for `name` in `namespace` (see src/drivers/etcd/keys.ts). */
const queuePrefix = (namespace, name) => `${namespace}/locks/${encodeURIComponent(name)}/`;

const admin = new Etcd3({ hosts });
async function countKeys(prefix) {
  const key = Buffer.from(prefix);
  const end = Buffer.from(prefix);
  end[end.length - 1] += 1;
  return Number((await admin.kv.range({ key, range_end: end, count_only: true })).count);
}
async function waitForKeys(prefix, count) {
  for (let i = 0; i < 2000 && (await countKeys(prefix)) < count; i++) await sleep(2);
}

const log = (text) => console.log(text);
log(`etcd benchmark — ${env.date}, node ${env.node}, ${env.cpu}, load ${env.loadavg.join(' ')}`);
log(`etcd ${etcd.endpoint} (single member, --heartbeat-interval 10 --election-timeout 100, data in ${etcd.dir})\n`);

try {
  if (only.has('a')) await uncontended();
  if (only.has('b')) await handoff();
  if (only.has('c')) await requestsPerHandoff();
  if (only.has('d')) await leaseExpiry();
} finally {
  admin.close();
  await etcd.stop();
}
printJsonLine('BENCH_JSON', report);

// ---------------------------------------------------------------- (a)
async function uncontended() {
  const coordinator = await connect(etcd.url, { ttl: 15_000, namespace: 'bench-a' });
  const altCoordinator = alt && (await alt.connect(etcd.url, { ttl: 15_000, namespace: 'bench-a-alt' }));
  const raw = new Etcd3({ hosts });
  const lease = await rawLease(raw, 600); // no keepalives in the floor: long enough for the whole scenario
  const rawKey = Buffer.from('bench-a-raw/locks/a/1');
  const lockClient = new Etcd3({ hosts });
  const candidates = [
    { name: 'deadbolt connect()', cycle: async () => (await coordinator.acquire('a')).release() },
    ...(alt ? [{ name: alt.label, cycle: async () => (await altCoordinator.acquire('a')).release() }] : []),
    { name: 'floor: raw txn + txn', cycle: () => rawCycle(raw, lease, rawKey) },
    {
      name: 'etcd3 Lock',
      cycle: async () => {
        const lock = lockClient.lock('bench-a-etcd3/a').ttl(15);
        await lock.acquire();
        await lock.release();
      },
    },
  ];
  const latencies = new Map(candidates.map((c) => [c.name, []]));
  const requests = new Map();
  for (let round = 0; round < ROUNDS + 1; round++) {
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[(i + round) % candidates.length];
      const before = round === 1 ? await receivedByMethod(etcd.endpoint) : undefined;
      for (let n = 0; n < CYCLES; n++) {
        const start = process.hrtime.bigint();
        await candidate.cycle();
        if (round > 0) latencies.get(candidate.name).push(Number(process.hrtime.bigint() - start) / 1e6); // round 0 warms up
      }
      if (before !== undefined) requests.set(candidate.name, perOp(diffCounts(before, await receivedByMethod(etcd.endpoint)), CYCLES));
    }
  }
  await coordinator.close();
  await altCoordinator?.close();
  await raw.leaseClient.leaseRevoke({ ID: lease });
  raw.close();
  lockClient.close();
  const floor = median(latencies.get('floor: raw txn + txn'));
  const rows = candidates.map(({ name }) => {
    const values = latencies.get(name);
    const req = requests.get(name);
    return { name, median: median(values), p99: percentile(values, 99), ratio: median(values) / floor, requests: req.total, detail: req.detail };
  });
  print('(a) uncontended acquire + release', rows, [
    { key: 'name', title: 'candidate', align: 'left' },
    { key: 'median', title: 'median', format: ms },
    { key: 'p99', title: 'p99', format: ms },
    { key: 'ratio', title: 'vs floor', format: formatRatio },
    { key: 'requests', title: 'requests/cycle', format: (v) => v.toFixed(2) },
    { key: 'detail', title: 'by method (LeaseKeepAlive left out)', align: 'left' },
  ]);
  log(`target: deadbolt ≤ 1.3× the floor: ${rows[0].ratio <= 1.3 ? 'met' : 'MISSED'} (${formatRatio(rows[0].ratio)})`);
  if (alt) log(`before/after: ${alt.label} ${ms(rows[1].median)} → deadbolt ${ms(rows[0].median)} (${formatRatio(rows[0].median / rows[1].median)} of before)`);
  log('');
  report.scenarios.a = { title: 'uncontended acquire + release (ms, requests per cycle)', rows: toRows(rows, ['median', 'p99', 'ratio', 'requests']) };
}

// ---------------------------------------------------------------- (b)
async function handoff() {
  const WAITERS = 10;
  const candidates = [
    { name: 'deadbolt connect()', run: () => deadboltChain(WAITERS, 'bench-b', 15_000) },
    ...(alt ? [{ name: alt.label, run: () => deadboltChain(WAITERS, 'bench-b-alt', 15_000, false, alt.connect) }] : []),
    { name: 'floor: raw watch', run: () => rawChain(WAITERS, 'bench-b-raw') },
    { name: 'etcd3 Lock, retry every 10 ms', run: () => etcd3PollChain(WAITERS, 'bench-b-etcd3', 10) },
  ];
  const samples = new Map(candidates.map((c) => [c.name, []]));
  for (let round = 0; round < ROUNDS + 1; round++) {
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[(i + round) % candidates.length];
      const { handoffs } = await candidate.run();
      if (round > 0) samples.get(candidate.name).push(...handoffs);
    }
  }
  const floor = median(samples.get('floor: raw watch'));
  const rows = candidates.map(({ name }) => {
    const values = samples.get(name);
    return { name, median: median(values), p99: percentile(values, 99), ratio: median(values) / floor, n: values.length };
  });
  print(`(b) hand-off, ${WAITERS} waiters queued: release() → next grant`, rows, [
    { key: 'name', title: 'candidate', align: 'left' },
    { key: 'median', title: 'median', format: ms },
    { key: 'p99', title: 'p99', format: ms },
    { key: 'ratio', title: 'vs floor', format: formatRatio },
    { key: 'n', title: 'hand-offs' },
  ]);
  const target = rows[0].median <= 10;
  log(`target: deadbolt hand-off p50 ≤ 10 ms: ${target ? 'met' : 'MISSED'} (${ms(rows[0].median)})`);
  if (alt) log(`before/after: ${alt.label} ${ms(rows[1].median)} → deadbolt ${ms(rows[0].median)} (${formatRatio(rows[0].median / rows[1].median)} of before)`);
  log('');
  report.scenarios.b = { title: `hand-off with ${WAITERS} waiters (ms)`, rows: toRows(rows, ['median', 'p99', 'ratio']) };
}

// ---------------------------------------------------------------- (c)
async function requestsPerHandoff() {
  const rows = [];
  for (const waiters of [10, 100]) {
    for (const [name, run] of [
      ['deadbolt connect()', () => deadboltChain(waiters, `bench-c${waiters}`, 30_000, true)],
      ...(alt ? [[alt.label, () => deadboltChain(waiters, `bench-c${waiters}-alt`, 30_000, true, alt.connect)]] : []),
      ['floor: raw watch', () => rawChain(waiters, `bench-c${waiters}-raw`, true)],
    ]) {
      const { counts, setup } = await run();
      const per = perOp(counts, waiters);
      rows.push({ name, waiters, requests: per.total, detail: per.detail, setup: perOp(setup, waiters + 1).total });
    }
  }
  print('(c) requests etcd received per hand-off', rows, [
    { key: 'name', title: 'candidate', align: 'left' },
    { key: 'waiters', title: 'waiters' },
    { key: 'requests', title: 'per hand-off', format: (v) => v.toFixed(2) },
    { key: 'detail', title: 'by method (LeaseKeepAlive left out)', align: 'left' },
    { key: 'setup', title: 'per claim queued', format: (v) => v.toFixed(2) },
  ]);
  const d10 = rows.find((r) => r.name.startsWith('deadbolt') && r.waiters === 10).requests;
  const d100 = rows.find((r) => r.name.startsWith('deadbolt') && r.waiters === 100).requests;
  log(`target: requests per hand-off do not grow with waiters: ${d100 <= d10 + 0.5 ? 'met' : 'MISSED'} (10: ${d10.toFixed(2)}, 100: ${d100.toFixed(2)})\n`);
  report.scenarios.c = {
    title: 'requests per hand-off',
    rows: Object.fromEntries(rows.map((r) => [`${r.name} (${r.waiters} waiters)`, { requests: r.requests, setup: r.setup }])),
  };
}

// ---------------------------------------------------------------- (d)
async function leaseExpiry() {
  const LEASES = quick ? 6 : 20;
  const TTL_S = 2;
  const client = new Etcd3({ hosts });
  const delays = await Promise.all(
    Array.from({ length: LEASES }, async (_, i) => {
      await sleep(i * 53); // spread over etcd's 500 ms expiry loop
      const lease = await rawLease(client, TTL_S);
      const key = Buffer.from(`bench-d/${i}`);
      const put = await client.kv.put({ key, value: Buffer.alloc(0), lease });
      const deleted = new Promise((resolve) => {
        const watcher = client.watch().key(key).only('delete').startRevision(String(BigInt(put.header.revision) + 1n)).watcher();
        watcher.once('delete', () => resolve(performance.now()));
        watcher.once('error', () => {});
      });
      // one keepalive, then silence: the lease is good for TTL from (at latest) its send time
      const sent = performance.now();
      const stream = await client.leaseClient.leaseKeepAlive();
      await new Promise((resolve) => {
        stream.once('data', resolve);
        stream.write({ ID: lease });
      });
      stream.end();
      return (await deleted) - sent - TTL_S * 1000;
    }),
  );
  client.close();
  const rows = [{ name: `key deleted after TTL (${LEASES} leases, TTL ${TTL_S} s)`, median: median(delays), p90: percentile(delays, 90), max: Math.max(...delays) }];
  print('(d) lease expiry: deletion later than send time of the last keepalive + TTL', rows, [
    { key: 'name', title: 'what', align: 'left' },
    { key: 'median', title: 'median', format: ms },
    { key: 'p90', title: 'p90', format: ms },
    { key: 'max', title: 'max', format: ms },
  ]);
  log('(a waiter is granted a few ms after the deletion: see (b); the driver states recoveryBoundMs = 1000)\n');
  report.scenarios.d = { title: 'lease expiry delay beyond TTL (ms)', rows: toRows(rows, ['median', 'p90', 'max']) };
}

// ---------------------------------------------------------------- chains
/**
 * A holder and `waiters` coordinators queued behind it, then the chain: each
 * waiter releases as soon as it is granted. Hand-off = release() call → next grant.
 */
async function deadboltChain(waiters, namespace, ttl, count = false, connectFn = connect) {
  const coordinators = await Promise.all(Array.from({ length: waiters + 1 }, () => connectFn(etcd.url, { ttl, namespace })));
  try {
    const before = count ? await receivedByMethod(etcd.endpoint) : undefined;
    const holder = await coordinators[0].acquire('h');
    const releasedAt = [];
    const grantedAt = [];
    const chain = coordinators.slice(1).map(async (c, i) => {
      await sleep(i); // queue in order, roughly
      const guard = await c.acquire('h');
      grantedAt.push(performance.now());
      releasedAt.push(performance.now());
      await guard.release();
    });
    await waitForKeys(queuePrefix(namespace, 'h'), waiters + 1);
    // waiters queued together re-read and re-watch while each other's claims arrive: let that end
    const queued = count ? await quiet() : (await sleep(20), undefined);
    releasedAt.push(performance.now());
    await holder.release();
    await Promise.all(chain);
    const after = count ? await receivedByMethod(etcd.endpoint) : undefined;
    return {
      handoffs: grantedAt.map((g, i) => g - releasedAt[i]),
      counts: count ? diffCounts(queued, after) : undefined,
      setup: count ? diffCounts(before, queued) : undefined,
    };
  } finally {
    await Promise.all(coordinators.map((c) => c.close()));
  }
}

/** The same chain on the floor protocol (raw.mjs). */
async function rawChain(waiters, namespace, count = false) {
  const clients = Array.from({ length: waiters + 1 }, () => new Etcd3({ hosts }));
  try {
    const leases = await Promise.all(clients.map((c) => rawLease(c, 600)));
    const prefix = Buffer.from(`${namespace}/locks/h/`);
    const keyOf = (i) => Buffer.from(`${namespace}/locks/h/${i}`);
    const before = count ? await receivedByMethod(etcd.endpoint) : undefined;
    const claims = [];
    for (let i = 0; i <= waiters; i++) claims.push(await rawWaiter(clients[i], leases[i], prefix, keyOf(i)));
    const queued = count ? await receivedByMethod(etcd.endpoint) : undefined;
    const releasedAt = [];
    const grantedAt = [];
    const chain = claims.slice(1).map(async (claim, j) => {
      await claim.granted;
      grantedAt.push(performance.now());
      releasedAt.push(performance.now());
      await rawRelease(clients[j + 1], keyOf(j + 1), claim.token);
    });
    releasedAt.push(performance.now());
    await rawRelease(clients[0], keyOf(0), claims[0].token);
    await Promise.all(chain);
    const after = count ? await receivedByMethod(etcd.endpoint) : undefined;
    await Promise.all(clients.map((c, i) => c.leaseClient.leaseRevoke({ ID: leases[i] })));
    return {
      handoffs: grantedAt.map((g, i) => g - releasedAt[i]),
      counts: count ? diffCounts(queued, after) : undefined,
      setup: count ? diffCounts(before, queued) : undefined,
    };
  } finally {
    for (const c of clients) c.close();
  }
}

/** etcd3's Lock has no waiting: every waiter retries every `pollMs`. */
async function etcd3PollChain(waiters, namespace, pollMs) {
  const clients = Array.from({ length: waiters + 1 }, () => new Etcd3({ hosts }));
  const name = `${namespace}/h`;
  try {
    const holder = clients[0].lock(name).ttl(15);
    await holder.acquire();
    const releasedAt = [];
    const grantedAt = [];
    const chain = clients.slice(1).map(async (client) => {
      for (;;) {
        const lock = client.lock(name).ttl(15);
        try {
          await lock.acquire();
        } catch {
          await sleep(pollMs);
          continue;
        }
        grantedAt.push(performance.now());
        releasedAt.push(performance.now());
        await lock.release();
        return;
      }
    });
    await sleep(50);
    releasedAt.push(performance.now());
    await holder.release();
    await Promise.all(chain);
    return { handoffs: grantedAt.map((g, i) => g - releasedAt[i]) };
  } finally {
    for (const c of clients) c.close();
  }
}

/** The request counts once etcd has received nothing new (keepalives aside) for 100 ms. */
async function quiet() {
  let last = await receivedByMethod(etcd.endpoint);
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    const now = await receivedByMethod(etcd.endpoint);
    if (perOp(diffCounts(last, now), 1).total === 0) return now;
    last = now;
  }
  return last;
}

// ---------------------------------------------------------------- output
/** Requests per operation, total and by method, keepalives left out. */
function perOp(counts, ops) {
  const entries = [...counts].filter(([method]) => method !== 'LeaseKeepAlive').sort(([a], [b]) => a.localeCompare(b));
  const total = entries.reduce((sum, [, v]) => sum + v, 0) / ops;
  const detail = entries.map(([m, v]) => `${m} ${(v / ops).toFixed(2)}`).join(', ');
  return { total, detail };
}

function toRows(rows, keys) {
  return Object.fromEntries(rows.map((r) => [r.name, Object.fromEntries(keys.map((k) => [k, r[k]]))]));
}

function print(title, rows, columns) {
  log(`${title}\n${renderTable(columns, rows)}\n`);
  if (args.markdown) log(`${renderMarkdownTable(columns, rows)}\n`);
}
