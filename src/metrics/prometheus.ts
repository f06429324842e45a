/**
 * `deadbolt/metrics/prometheus`: deadbolt's lock and session metrics in a
 * prom-client registry (prom-client is an optional peer dependency, loaded
 * only when this bridge is installed).
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import { register } from 'prom-client';
 * import { installPrometheusMetrics } from 'deadbolt/metrics/prometheus';
 *
 * const metrics = installPrometheusMetrics();            // into prom-client's default registry
 * http.createServer(async (req, res) => {
 *   res.setHeader('Content-Type', register.contentType);
 *   res.end(await register.metrics());                    // deadbolt_lock_wait_seconds_bucket{…} …
 * }).listen(9464);
 * ```
 *
 * @module
 */
import type * as PromClient from 'prom-client';
import { ConfigurationError, invalidType } from '../errors.js';
import { bridgeChannels, type Labels, type MeasurementSink, type MetricsBridge } from './bridge.js';
import { instruments, labelNames, type InstrumentKey, type InstrumentSpec } from './instruments.js';
import { checkMetricsOptions, type CheckedMetricsOptions, type MetricsOptions } from './options.js';
import { loadPeer } from './peer.js';

export type { MetricsBridge } from './bridge.js';
export type { MetricsOptions } from './options.js';
export { DEFAULT_HOLD_BUCKETS, DEFAULT_WAIT_BUCKETS, instruments, type InstrumentSpec, type LabelName } from './instruments.js';

/**
 * Options of {@link installPrometheusMetrics}.
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * installPrometheusMetrics({ registry: new Registry(), lockName: (name) => name.split(':')[0]! });
 * ```
 */
export interface PrometheusMetricsOptions extends MetricsOptions {
  /** The registry to register the metrics in (default: prom-client's global `register`). */
  registry?: PromClient.Registry;
}

type PromMetric = PromClient.Histogram | PromClient.Counter | PromClient.Gauge;

/**
 * Register deadbolt's metrics in a prom-client registry and keep them up to
 * date from the diagnostics channels, until `close()`, which also removes
 * them from the registry. The metrics and their labels are in docs/metrics.md.
 *
 * @throws ConfigurationError when prom-client is not installed, or when the
 *   registry already has deadbolt's metrics (close the other bridge first).
 * @example
 * ```ts
 * import { installPrometheusMetrics } from 'deadbolt/metrics/prometheus';
 * const metrics = installPrometheusMetrics({ buckets: { hold: [0.1, 1, 10, 60, 600] } });
 * // … later, at shutdown or in a test:
 * metrics.close();
 * ```
 */
export function installPrometheusMetrics(options?: PrometheusMetricsOptions): MetricsBridge {
  const checked = checkMetricsOptions(options);
  const client = loadPeer<typeof PromClient>('prom-client', 'deadbolt/metrics/prometheus');
  const registry = options?.registry ?? client.register;
  if (registry === null || typeof registry !== 'object' || typeof (registry as { getSingleMetric?: unknown }).getSingleMetric !== 'function') {
    throw invalidType('options.registry', 'a prom-client Registry', registry);
  }
  const taken = Object.values(instruments).find((spec) => registry.getSingleMetric(spec.prometheus) !== undefined);
  if (taken !== undefined) {
    throw new ConfigurationError(
      `the registry already has a metric named ${taken.prometheus}: deadbolt's metrics are installed there already; ` +
        'close() that bridge first, or pass another registry',
    );
  }
  const metrics = new Map<InstrumentKey, PromMetric>();
  for (const [key, spec] of Object.entries(instruments) as [InstrumentKey, InstrumentSpec][]) {
    metrics.set(key, createMetric(client, registry, spec, checked));
  }
  const sink: MeasurementSink = {
    record(key: InstrumentKey, value: number, labels: Labels): void {
      const metric = metrics.get(key)!;
      if (instruments[key].kind === 'histogram') (metric as PromClient.Histogram).observe(labels, value);
      else (metric as PromClient.Counter | PromClient.Gauge).inc(labels, value);
    },
    close(): void {
      for (const spec of Object.values(instruments)) registry.removeSingleMetric(spec.prometheus);
    },
  };
  return bridgeChannels(sink, checked);
}

function createMetric(client: typeof PromClient, registry: PromClient.Registry, spec: InstrumentSpec, options: CheckedMetricsOptions): PromMetric {
  const common = {
    name: spec.prometheus,
    help: spec.description,
    labelNames: labelNames(spec, options.lockLabel !== undefined),
    registers: [registry],
  };
  switch (spec.kind) {
    case 'histogram':
      return new client.Histogram({ ...common, buckets: options.buckets[spec.buckets!] });
    case 'counter':
      return new client.Counter(common);
    case 'updown':
      return new client.Gauge(common);
  }
}
