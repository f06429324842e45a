#!/usr/bin/env node
/**
 * `deadbolt ls --json` over 10 000 held locks, on each engine.
 *
 * For each engine (its own throwaway server, as the other benchmarks start
 * them): one coordinator takes N locks (default 10 000, in its own
 * namespace), then the real CLI (`node ../dist/cli/main.js ls --json
 * --backend URL --namespace NS`) is run R times (default 7) as an operator
 * would run it; the wall time of each run is taken (Node's start-up, connect,
 * the listing, JSON out, exit) and the output checked (N locks listed). Rows:
 * the CLI's median, and, to tell start-up from the engine's work, the median
 * of `survey()` (what ls reads) on an open coordinator in this process.
 *
 * The CLI's fixed cost is measured beside it, on the same engine: the same
 * command over an empty namespace (start-up, loading the driver, connect,
 * session, close), and, once per run of the benchmark, `node -e 0` (Node's own
 * start-up) and `deadbolt --version` (Node plus loading the CLI's modules).
 *
 * With GNU time installed, the CLI's CPU time (user + system) is shown too:
 * on a machine shared with other work, wall time grows with the load, CPU
 * time much less. Targets (issue 12, judged on the wall-time median): ≤ 1 s
 * on etcd, Redis and PostgreSQL, ≤ 3 s on ZooKeeper.
 *
 *   node ls.mjs [--only=etcd,redis,postgres,zookeeper] [--locks=10000] [--runs=7] [--markdown]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { connect } from 'deadbolt';
import { startEtcd } from './etcd/server.mjs';
import { formatRatio, printJsonLine, renderMarkdownTable, renderTable } from './lib/format.mjs';
import { median } from './lib/stats.mjs';
import { startServer as startPostgres } from './postgres/server.mjs';
import { startServer as startRedis } from './redis/server.mjs';
import { startZooKeeper } from './zookeeper/lib/server.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? true];
  }),
);
const LOCKS = Number(args.locks ?? 10_000);
const RUNS = Number(args.runs ?? 7);
const ONLY = String(args.only ?? 'etcd,redis,postgres,zookeeper').split(',');
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

const ENGINES = {
  etcd: { target: 1_000, ttl: 30_000, start: async () => startEtcd() },
  redis: { target: 1_000, ttl: 30_000, start: async () => startRedis() },
  postgres: { target: 1_000, ttl: 30_000, start: async () => startPostgres() },
  // The benchmark's ZooKeeper runs with tickTime=500: sessions of at most 10 s.
  zookeeper: { target: 3_000, ttl: 10_000, start: async () => {
    const zk = await startZooKeeper();
    return { ...zk, url: `zookeeper://${zk.endpoint}` };
  } },
};

/** Take `count` locks on `coordinator`, `parallel` at a time. */
async function holdMany(coordinator, count, parallel = 8) {
  const guards = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        guards.push(await coordinator.acquire(`bench/lock-${String(i).padStart(6, '0')}`));
      }
    }),
  );
  return guards;
}

/**
 * GNU time, when installed: it reports the CLI's own CPU time (user + system), which a
 * machine shared with other work does not inflate the way it inflates wall time.
 */
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const CPU_LINE = /^DEADBOLT_BENCH_CPU (\S+) (\S+)$/m;

/** One `deadbolt ls --json` run: its wall time and CPU time in ms and the number of locks it listed. */
function runLs(url, namespace) {
  return runNode([CLI, 'ls', '--json', '--backend', url, '--namespace', namespace, '--connect-timeout', '30s'], (out) => JSON.parse(out).locks.length);
}

/** Wall and CPU time of `node ...args`; `listed` is `parse(stdout)`. */
function runNode(nodeArgs, parse = () => null) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const argv = [process.execPath, ...nodeArgs];
    const [command, ...rest] = GNU_TIME ? [GNU_TIME, '-f', 'DEADBOLT_BENCH_CPU %U %S', ...argv] : argv;
    const child = spawn(command, rest, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const out = [];
    let err = '';
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code !== 0) return reject(new Error(`${nodeArgs.join(' ')} exited ${code}: ${err}`));
      const cpu = CPU_LINE.exec(err);
      resolve({ ms, cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : null, listed: parse(Buffer.concat(out).toString()) });
    });
  });
}

async function benchEngine(name) {
  const engine = ENGINES[name];
  const server = await engine.start();
  const namespace = `bench-ls-${process.pid}`;
  const coordinator = await connect(server.url, { ttl: engine.ttl, namespace, connectTimeout: 30_000 });
  const reader = await connect(server.url, { ttl: engine.ttl, namespace, connectTimeout: 30_000 });
  try {
    const t0 = performance.now();
    await holdMany(coordinator, LOCKS);
    const holdMs = performance.now() - t0;
    const cli = [];
    const cpu = [];
    const inProcess = [];
    const empty = [];
    for (let r = 0; r < RUNS; r++) {
      const none = await runLs(server.url, `${namespace}-empty`);
      if (none.listed !== 0) throw new Error(`${name}: ls of an empty namespace listed ${none.listed} locks`);
      empty.push(none.ms);
      const { ms, cpuMs, listed } = await runLs(server.url, namespace);
      if (listed !== LOCKS) throw new Error(`${name}: ls listed ${listed} locks, expected ${LOCKS}`);
      cli.push(ms);
      if (cpuMs !== null) cpu.push(cpuMs);
      const s = performance.now();
      const survey = await reader.survey();
      inProcess.push(performance.now() - s);
      if (survey.length !== LOCKS) throw new Error(`${name}: survey() gave ${survey.length} locks, expected ${LOCKS}`);
    }
    const cliMedian = median(cli);
    return {
      engine: name,
      locks: LOCKS,
      cliMedianMs: cliMedian,
      cliMaxMs: Math.max(...cli),
      cliCpuMedianMs: cpu.length > 0 ? median(cpu) : null,
      emptyMedianMs: median(empty),
      listMedianMs: median(inProcess),
      targetMs: engine.target,
      ratio: cliMedian / engine.target,
      met: cliMedian <= engine.target,
      holdMs,
    };
  } finally {
    await reader.close().catch(() => {});
    await coordinator.close().catch(() => {});
    await server.stop();
  }
}

/** Node's start-up, and Node plus the CLI's own modules, before any engine. */
async function fixedCosts() {
  const node = [];
  const version = [];
  for (let r = 0; r < RUNS; r++) {
    node.push((await runNode(['-e', '0'])).ms);
    version.push((await runNode([CLI, '--version'])).ms);
  }
  return { nodeMedianMs: median(node), versionMedianMs: median(version) };
}

const fixed = await fixedCosts();
process.stderr.write(`node -e 0: median ${Math.round(fixed.nodeMedianMs)} ms; deadbolt --version: median ${Math.round(fixed.versionMedianMs)} ms\n`);
const rows = [];
for (const name of ONLY) {
  if (!(name in ENGINES)) throw new Error(`unknown engine ${name}; known: ${Object.keys(ENGINES).join(', ')}`);
  process.stderr.write(`${name}: holding ${LOCKS} locks, then ${RUNS} × deadbolt ls --json …\n`);
  const row = await benchEngine(name);
  process.stderr.write(`${name}: median ${Math.round(row.cliMedianMs)} ms (target ${row.targetMs} ms)\n`);
  rows.push(row);
}

const ms = (v) => `${Math.round(v)} ms`;
const columns = [
  { key: 'engine', title: 'engine', align: 'left' },
  { key: 'locks', title: 'locks' },
  { key: 'cliMedianMs', title: 'deadbolt ls --json (median)', format: ms },
  { key: 'cliMaxMs', title: 'slowest run', format: ms },
  { key: 'cliCpuMedianMs', title: 'its CPU time (median)', format: (v) => (v === null ? 'n/a' : ms(v)) },
  { key: 'emptyMedianMs', title: 'ls of an empty namespace (median)', format: ms },
  { key: 'listMedianMs', title: 'survey() in-process (median)', format: ms },
  { key: 'targetMs', title: 'target', format: ms },
  { key: 'ratio', title: 'median / target', format: formatRatio },
  { key: 'met', title: 'met', format: (v) => (v ? 'met' : 'MISSED') },
];
console.log(`deadbolt ls --json over ${LOCKS} held locks, ${RUNS} runs each (wall time of the whole command; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})\n`);
console.log(renderTable(columns, rows));
console.log(`\nfixed costs: node -e 0 ${ms(fixed.nodeMedianMs)} (Node's start-up), deadbolt --version ${ms(fixed.versionMedianMs)} (Node + the CLI's modules); the empty-namespace column adds the driver, connect and close`);
for (const r of rows) console.log(`${r.engine}: ${ms(r.cliMedianMs)} vs target ${ms(r.targetMs)} — ${r.met ? 'met' : 'MISSED'} (ratio ${formatRatio(r.ratio)})`);
if (args.markdown) console.log(`\n${renderMarkdownTable(columns, rows)}`);
printJsonLine('BENCH_JSON', {
  benchmark: 'ls',
  env: { date: new Date().toISOString(), node: process.version, loadavg: loadavg() },
  params: { locks: LOCKS, runs: RUNS },
  fixed,
  scenarios: { ls: { title: `deadbolt ls --json over ${LOCKS} held locks`, rows: Object.fromEntries(rows.map((r) => [r.engine, r])) } },
});
