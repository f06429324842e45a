#!/usr/bin/env node
/**
 * What the metrics bridges cost a lock's acquire + release, in one process run:
 * each scenario with no bridge, with the prom-client bridge, with the
 * OpenTelemetry bridge on the API alone (no SDK: no-op instruments), and with
 * the OpenTelemetry SDK recording (a MeterProvider and a reader).
 *
 *   (a) in-process Mutex: publishes nothing by design, so every row should be ~1.00x
 *   (b) memory:// Coordinator: publishes acquired + released, i.e. one counter
 *       increment and two histogram observations per cycle
 *   (c) LockDirectory on tmpfs (/dev/shm): the same events, over kernel locks
 *   (d) the bridge alone: one lock:acquired and one lock:released message
 *       published straight on the channels, i.e. what one cycle costs the
 *       bridge without a lock's own (noisier) work around it
 *
 * Rounds interleave the rows (rotated), each row installing its bridge before
 * its timed loop and closing it after; medians of rounds and ratios against
 * "no bridge" are printed, and one `BENCH_JSON {...}` line with everything.
 *
 * Usage: npm run metrics [-- --rounds=N] [-- --only=a,b,c,d] [-- --quick] [-- --markdown]
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { ensureNodeFlags, environment, runInterleaved } from './lib/harness.mjs';
import { median, relativeIqr } from './lib/stats.mjs';
import { formatOps, formatRatio, formatSpread, printJsonLine, renderMarkdownTable, renderTable } from './lib/format.mjs';

await ensureNodeFlags(['--expose-gc']);

let deadbolt, prometheus, opentelemetry;
try {
  deadbolt = await import('deadbolt');
  prometheus = await import('deadbolt/metrics/prometheus');
  opentelemetry = await import('deadbolt/metrics/opentelemetry');
} catch (error) {
  console.error(`Cannot load deadbolt (${error.message}).\nBuild it first: (cd .. && npm install && npm run build), then npm install here.`);
  process.exit(1);
}
const { Mutex, LockDirectory, connect } = deadbolt;

// ---------------------------------------------------------------- arguments
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? true];
  }),
);
const KNOWN = ['quick', 'only', 'rounds', 'markdown', 'help'];
const unknown = Object.keys(args).filter((k) => !KNOWN.includes(k));
if (args.help || unknown.length > 0) {
  if (unknown.length > 0) console.error(`unknown option(s): ${unknown.map((k) => `--${k}`).join(' ')}`);
  console.error(`usage: npm run metrics [-- ${KNOWN.filter((k) => k !== 'help').map((k) => `--${k}`).join(' ')}]  (see bench/README.md)`);
  process.exit(args.help && unknown.length === 0 ? 0 : 2);
}
const quick = Boolean(args.quick);
const only = new Set(String(args.only ?? 'a,b,c,d').split(','));
const ROUNDS = Number(args.rounds ?? (quick ? 3 : 15));
const OPS = {
  a: quick ? 50_000 : 200_000,
  b: quick ? 5_000 : 20_000,
  c: quick ? 2_000 : 10_000,
  d: quick ? 50_000 : 200_000,
};

// ---------------------------------------------------------------- bridges
/** A reader collected only at the end: the SDK aggregates every measurement in memory meanwhile. */
class ManualReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}
const reader = new ManualReader();
const sdkProvider = new MeterProvider({ readers: [reader] });

const bridges = [
  { name: 'no bridge', reference: true, install: () => ({ close() {} }) },
  { name: 'prom-client bridge', install: () => prometheus.installPrometheusMetrics() },
  { name: 'OpenTelemetry bridge, API only (no-op)', install: () => opentelemetry.installOpenTelemetryMetrics() },
  { name: 'OpenTelemetry bridge, SDK recording', install: () => opentelemetry.installOpenTelemetryMetrics({ meterProvider: sdkProvider }) },
];

// ---------------------------------------------------------------- scenarios
// Each loop owns its call sites (one closure per row), so rows don't share megamorphic ICs.
const scenarios = {
  a: {
    title: 'in-process Mutex: await acquire(), release()',
    setup: async () => ({ mutex: new Mutex() }),
    loop: () => async ({ mutex }, n) => {
      for (let i = 0; i < n; i++) {
        const g = await mutex.acquire();
        g.release();
      }
    },
  },
  b: {
    title: 'memory:// Coordinator: await acquire(name), await release()',
    setup: async () => ({ coordinator: await connect('memory://bench-metrics', { ttl: 60_000 }) }),
    teardown: ({ coordinator }) => coordinator.close(),
    loop: () => async ({ coordinator }, n) => {
      for (let i = 0; i < n; i++) {
        const g = await coordinator.acquire('bench');
        await g.release();
      }
    },
  },
  c: {
    title: 'LockDirectory on tmpfs: await acquire(name), await release()',
    setup: async () => {
      const dir = mkdtempSync(join(process.platform === 'linux' ? '/dev/shm' : tmpdir(), 'deadbolt-bench-metrics-'));
      return { dir, locks: new LockDirectory(dir).open() };
    },
    teardown: ({ dir, locks }) => {
      locks.close();
      rmSync(dir, { recursive: true, force: true });
    },
    loop: () => async ({ locks }, n) => {
      for (let i = 0; i < n; i++) {
        const g = await locks.acquire('bench');
        await g.release();
      }
    },
  },
  d: {
    title: 'the bridge alone: publish one lock:acquired and one lock:released message',
    setup: async () => ({ acquired: diagnosticsChannel.channel(deadbolt.channels.lockAcquired), released: diagnosticsChannel.channel(deadbolt.channels.lockReleased) }),
    loop: () => async ({ acquired, released }, n) => {
      for (let i = 0; i < n; i++) {
        // The messages a memory:// guard publishes, built the same way (a fresh object each).
        if (acquired.hasSubscribers) acquired.publish({ name: 'bench', mode: 'exclusive', backend: 'memory', token: 1n, waitedMs: 0.02 });
        if (released.hasSubscribers) released.publish({ name: 'bench', mode: 'exclusive', backend: 'memory', token: 1n, heldMs: 0.01 });
      }
    },
  },
};

function candidatesFor(scenario, context, ops) {
  return bridges.map((bridge) => {
    const loop = scenario.loop();
    return {
      name: bridge.name,
      bridge,
      sample: async () => {
        const installed = bridge.install();
        try {
          const start = process.hrtime.bigint();
          await loop(context, ops);
          const ns = Number(process.hrtime.bigint() - start);
          return { opsPerSec: (ops / ns) * 1e9, nsPerOp: ns / ops };
        } finally {
          installed.close();
        }
      },
    };
  });
}

// ---------------------------------------------------------------- run
const columns = [
  { key: 'name', title: 'bridge', align: 'left' },
  { key: 'ops', title: 'ops/s', format: formatOps },
  { key: 'ns', title: 'ns/op', format: (v) => v.toFixed(0) },
  { key: 'spread', title: 'IQR', format: formatSpread },
  { key: 'ratio', title: 'time ÷ no bridge', format: formatRatio },
  { key: 'extra', title: 'extra ns/op', format: (v) => (v === 0 ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(0)}`) },
];
const env = await environment();
console.log(`deadbolt metrics bridges: ${env.node}, ${env.cpu}, load ${env.loadavg.join(' ')}, ${ROUNDS} rounds${quick ? ' (--quick: figures mean little)' : ''}\n`);
const report = { env, rounds: ROUNDS, ops: OPS, scenarios: {} };

for (const [id, scenario] of Object.entries(scenarios)) {
  if (!only.has(id)) continue;
  const context = await scenario.setup();
  try {
    const candidates = candidatesFor(scenario, context, OPS[id]);
    const results = await runInterleaved({ candidates, rounds: ROUNDS, warmup: 2 });
    const rows = candidates.map((c) => {
      const { metrics } = results.get(c.name);
      return { name: c.name, reference: c.bridge.reference === true, ops: median(metrics.opsPerSec), ns: median(metrics.nsPerOp), spread: relativeIqr(metrics.opsPerSec) };
    });
    const ref = rows.find((r) => r.reference);
    for (const row of rows) {
      row.ratio = row.ns / ref.ns;
      row.extra = row.reference ? 0 : row.ns - ref.ns;
    }
    console.log(`(${id}) ${scenario.title}, ${OPS[id].toLocaleString('en')} ops per round`);
    console.log(renderTable(columns, rows));
    if (args.markdown) console.log(`\n${renderMarkdownTable(columns, rows)}`);
    console.log();
    report.scenarios[id] = { title: scenario.title, rows };
  } finally {
    await scenario.teardown?.(context);
  }
}
// The SDK really aggregated what it was given (a sanity check, not a measurement).
const { resourceMetrics } = await reader.collect();
const recorded = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'deadbolt.lock.acquisitions');
report.sdkAcquisitionsRecorded = recorded?.dataPoints.reduce((sum, p) => sum + p.value, 0) ?? 0;
console.log(`OpenTelemetry SDK rows recorded ${report.sdkAcquisitionsRecorded.toLocaleString('en')} acquisitions in all.`);
await sdkProvider.shutdown();
printJsonLine('BENCH_JSON', report);
