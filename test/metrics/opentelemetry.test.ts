/**
 * The OpenTelemetry bridge, with the real API and SDK: a MeterProvider with a
 * manual reader collects what the same scenario as the Prometheus test
 * produced, and the same counts are checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metrics as otelMetrics } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { connect } from '../../src/distributed/connect.js';
import { isInvalidArgument } from '../../src/errors.js';
import { DEFAULT_WAIT_BUCKETS, installOpenTelemetryMetrics, instruments } from '../../src/metrics/opentelemetry.js';
import { readOpenTelemetry, subset } from './readings.js';
import { expected, runScenario, seriesKey, whileSuspended } from './scenario.js';

/** A reader that collects only when asked (the SDK's readers are all periodic or push-based otherwise). */
class ManualReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

function sdk(t: { after: (fn: () => Promise<void>) => void }) {
  const reader = new ManualReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  const provider = new MeterProvider({ readers: [reader] });
  t.after(() => provider.shutdown());
  const collect = async () => {
    const { resourceMetrics, errors } = await reader.collect();
    assert.deepEqual(errors, []);
    return resourceMetrics;
  };
  return { provider, collect };
}

test('opentelemetry: every measurement of the scenario, collected through the SDK', async (t) => {
  const { provider, collect } = sdk(t);
  const bridge = installOpenTelemetryMetrics({ meterProvider: provider });
  t.after(() => bridge.close());
  const { suspended } = await runScenario(async () => readOpenTelemetry(await collect()));
  assert.deepEqual(subset(suspended, whileSuspended), whileSuspended);
  assert.deepEqual(readOpenTelemetry(await collect()), expected);
});

test('opentelemetry: names, units, descriptions, kinds, and the buckets passed as advice', async (t) => {
  const { provider, collect } = sdk(t);
  const bridge = installOpenTelemetryMetrics({ meter: provider.getMeter('deadbolt'), buckets: { hold: [1, 60] } });
  t.after(() => bridge.close());
  const a = await connect('memory://otel-descriptors');
  const b = await connect('memory://otel-descriptors');
  const held = await a.acquire('x');
  await assert.rejects(b.acquire('x', { timeout: 0 }));
  await b.break('x', { reason: 'descriptor test' });
  await held.release();
  await Promise.all([a.close(), b.close()]);
  const collected = await collect();
  const [scope] = collected.scopeMetrics;
  assert.equal(scope!.scope.name, 'deadbolt');
  const seen = new Map(scope!.metrics.map((m) => [m.descriptor.name, m]));
  const kinds = { histogram: DataPointType.HISTOGRAM, counter: DataPointType.SUM, updown: DataPointType.SUM } as const;
  for (const spec of Object.values(instruments)) {
    if (spec.opentelemetry === 'deadbolt.session.losses') continue; // no session was lost here
    const metric = seen.get(spec.opentelemetry);
    assert.ok(metric, spec.opentelemetry);
    assert.equal(metric.descriptor.unit, spec.unit);
    assert.equal(metric.descriptor.description, spec.description);
    assert.equal(metric.dataPointType, kinds[spec.kind]);
    if (metric.dataPointType === DataPointType.SUM) assert.equal(metric.isMonotonic, spec.kind === 'counter', spec.opentelemetry);
  }
  const boundaries = (name: string) => (seen.get(name)!.dataPoints[0]!.value as { buckets: { boundaries: number[] } }).buckets.boundaries;
  assert.deepEqual(boundaries('deadbolt.lock.wait.duration'), [...DEFAULT_WAIT_BUCKETS]);
  assert.deepEqual(boundaries('deadbolt.lock.hold.duration'), [1, 60]);
});

test('opentelemetry: the global provider by default; with only the API (no SDK) it records into no-ops', async (t) => {
  const a = await connect('memory://otel-global');
  t.after(() => a.close());
  {
    using bridge = installOpenTelemetryMetrics(); // no SDK registered: the API's no-op meter
    await (await a.acquire('x')).release();
    assert.equal(bridge.closed, false);
  }
  const { provider, collect } = sdk(t);
  assert.equal(otelMetrics.setGlobalMeterProvider(provider), true);
  t.after(() => otelMetrics.disable());
  const bridge = installOpenTelemetryMetrics({ lockName: true });
  await (await a.acquire('x')).release();
  bridge.close();
  await (await a.acquire('x')).release(); // after close: not measured
  const reading = readOpenTelemetry(await collect());
  assert.equal(reading.get(seriesKey('acquisitions', { backend: 'memory', mode: 'exclusive', lock: 'x' })), 1);
});

test('opentelemetry: bad options are refused synchronously, naming the option', () => {
  const bad: [unknown, RegExp][] = [
    [{ meter: {} }, /^options\.meter must be an OpenTelemetry Meter/],
    [{ meterProvider: 'global' }, /^options\.meterProvider must be an OpenTelemetry MeterProvider/],
    [{ lockName: 1 }, /^options\.lockName must be a boolean or a function/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => installOpenTelemetryMetrics(options as never), (e: unknown) => isInvalidArgument(e) && message.test((e as Error).message), String(message));
  }
});
