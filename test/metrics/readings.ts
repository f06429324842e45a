/**
 * Turning what each metrics library exposes into a Reading (scenario.ts), so
 * that both bridges are checked against the same expectations: Prometheus
 * through its text exposition format, parsed; OpenTelemetry through the
 * SDK's collected ResourceMetrics.
 */
import assert from 'node:assert/strict';
import parsePrometheus from 'parse-prometheus-text-format';

export { parsePrometheus };
import { DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { instruments, type InstrumentKey } from '../../src/metrics/instruments.js';
import { seriesKey, type Reading } from './scenario.js';

const keyOf = (field: 'prometheus' | 'opentelemetry', name: string): InstrumentKey | undefined =>
  (Object.keys(instruments) as InstrumentKey[]).find((key) => instruments[key][field] === name);

/**
 * The Reading in a scrape. The parser keeps the labels of counter and gauge
 * samples but folds a labelled histogram's series into one, so histogram
 * sample lines are read a second time with their `# TYPE` lines removed: each
 * `_count` line is then a series of its own, labels intact. Also checks that
 * each histogram's buckets are cumulative and end at `_count`.
 */
export function readPrometheus(text: string): Reading {
  const reading: Reading = new Map();
  const families = parsePrometheus(text);
  const histograms = new Set(families.filter((f) => f.type === 'HISTOGRAM').map((f) => f.name));
  for (const family of families) {
    const key = keyOf('prometheus', family.name);
    if (key === undefined || family.type === 'HISTOGRAM') continue;
    for (const sample of family.metrics) reading.set(seriesKey(key, sample.labels ?? {}), Number(sample.value));
  }
  const untyped = text
    .split('\n')
    .filter((line) => !line.startsWith('# TYPE '))
    .join('\n');
  const buckets = new Map<string, number[]>();
  for (const family of parsePrometheus(untyped)) {
    const [, base, suffix] = /^(.*)_(count|bucket|sum)$/.exec(family.name) ?? [];
    if (base === undefined || !histograms.has(base)) continue;
    const key = keyOf('prometheus', base)!;
    for (const { labels = {}, value } of family.metrics) {
      if (suffix === 'count') reading.set(seriesKey(key, labels), Number(value));
      if (suffix === 'bucket') {
        const { le: _le, ...series } = labels;
        const id = seriesKey(key, series);
        buckets.set(id, [...(buckets.get(id) ?? []), Number(value)]);
      }
    }
  }
  for (const [id, counts] of buckets) {
    assert.deepEqual(counts, [...counts].sort((x, y) => x - y), `${id}: buckets are cumulative`);
    assert.equal(counts.at(-1), reading.get(id), `${id}: the +Inf bucket equals _count`);
  }
  return reading;
}

/** The Reading in one collection of the OpenTelemetry SDK, for the `deadbolt` meter only. */
export function readOpenTelemetry(collected: ResourceMetrics): Reading {
  const reading: Reading = new Map();
  for (const scope of collected.scopeMetrics) {
    if (scope.scope.name !== 'deadbolt') continue;
    for (const metric of scope.metrics) {
      const key = keyOf('opentelemetry', metric.descriptor.name);
      if (key === undefined) continue;
      for (const point of metric.dataPoints) {
        const labels = point.attributes as Record<string, string>;
        if (metric.dataPointType === DataPointType.HISTOGRAM) {
          const value = point.value as { count: number; buckets: { counts: number[] } };
          assert.equal(value.buckets.counts.reduce((x, y) => x + y, 0), value.count, `${metric.descriptor.name}: bucket counts add up to count`);
          reading.set(seriesKey(key, labels), value.count);
        } else {
          reading.set(seriesKey(key, labels), point.value as number);
        }
      }
    }
  }
  return reading;
}

/** Only the series of `reading` whose keys `like` has. */
export function subset(reading: Reading, like: Reading): Reading {
  return new Map([...like.keys()].map((key) => [key, reading.get(key) ?? Number.NaN]));
}
