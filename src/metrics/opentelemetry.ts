/**
 * `deadbolt/metrics/opentelemetry`: deadbolt's lock and session metrics as
 * OpenTelemetry instruments (@opentelemetry/api is an optional peer
 * dependency, loaded only when this bridge is installed without a `meter`).
 *
 * With no SDK registered, the global API hands out no-op instruments: the
 * bridge then costs a few calls per event and records nothing.
 *
 * @example
 * ```ts
 * import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
 * import { metrics } from '@opentelemetry/api';
 * import { installOpenTelemetryMetrics } from 'deadbolt/metrics/opentelemetry';
 *
 * metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter })] }));
 * installOpenTelemetryMetrics();                       // meter 'deadbolt' of the global provider
 * ```
 *
 * @module
 */
import type * as OtelApi from '@opentelemetry/api';
import { invalidType } from '../errors.js';
import { bridgeChannels, type Labels, type MeasurementSink, type MetricsBridge } from './bridge.js';
import { instruments, type InstrumentKey, type InstrumentSpec } from './instruments.js';
import { checkMetricsOptions, type CheckedMetricsOptions, type MetricsOptions } from './options.js';
import { loadPeer } from './peer.js';

export type { MetricsBridge } from './bridge.js';
export type { MetricsOptions } from './options.js';
export { DEFAULT_HOLD_BUCKETS, DEFAULT_WAIT_BUCKETS, instruments, type InstrumentSpec, type LabelName } from './instruments.js';

/** The instrumentation scope deadbolt's instruments belong to. */
const METER_NAME = 'deadbolt';

/**
 * Options of {@link installOpenTelemetryMetrics}.
 *
 * @example
 * ```ts
 * installOpenTelemetryMetrics({ meterProvider: myProvider, lockName: (name) => name.split('/')[0]! });
 * ```
 */
export interface OpenTelemetryMetricsOptions extends MetricsOptions {
  /** The meter to create the instruments on (then @opentelemetry/api is not even loaded). */
  meter?: OtelApi.Meter;
  /** The provider to take the `deadbolt` meter from (default: the global one, `metrics.getMeterProvider()`). */
  meterProvider?: OtelApi.MeterProvider;
}

type Instrument = OtelApi.Histogram | OtelApi.Counter | OtelApi.UpDownCounter;

/**
 * Create deadbolt's instruments on a meter and feed them from the diagnostics
 * channels until `close()`. Names, units and attributes are in docs/metrics.md;
 * histogram buckets are passed as advice (`explicitBucketBoundaries`), which
 * the SDK follows unless a View says otherwise.
 *
 * @throws ConfigurationError when neither `meter` nor `meterProvider` is given
 *   and @opentelemetry/api is not installed.
 * @example
 * ```ts
 * import { installOpenTelemetryMetrics } from 'deadbolt/metrics/opentelemetry';
 * await using coordinator = await connect('etcd://10.0.0.1:2379');
 * using metrics = installOpenTelemetryMetrics();
 * ```
 */
export function installOpenTelemetryMetrics(options?: OpenTelemetryMetricsOptions): MetricsBridge {
  const checked = checkMetricsOptions(options);
  const meter = options?.meter ?? meterOf(options?.meterProvider);
  if (meter === null || typeof meter !== 'object' || typeof meter.createHistogram !== 'function') {
    throw invalidType('options.meter', 'an OpenTelemetry Meter', meter);
  }
  const created = new Map<InstrumentKey, Instrument>();
  for (const [key, spec] of Object.entries(instruments) as [InstrumentKey, InstrumentSpec][]) {
    created.set(key, createInstrument(meter, spec, checked));
  }
  const sink: MeasurementSink = {
    record(key: InstrumentKey, value: number, labels: Labels): void {
      const instrument = created.get(key)!;
      if (instruments[key].kind === 'histogram') (instrument as OtelApi.Histogram).record(value, labels);
      else (instrument as OtelApi.Counter).add(value, labels);
    },
  };
  return bridgeChannels(sink, checked);
}

function meterOf(provider: OtelApi.MeterProvider | undefined): OtelApi.Meter {
  if (provider === undefined) return loadPeer<typeof OtelApi>('@opentelemetry/api', 'deadbolt/metrics/opentelemetry').metrics.getMeter(METER_NAME);
  if (provider === null || typeof provider !== 'object' || typeof provider.getMeter !== 'function') {
    throw invalidType('options.meterProvider', 'an OpenTelemetry MeterProvider', provider);
  }
  return provider.getMeter(METER_NAME);
}

function createInstrument(meter: OtelApi.Meter, spec: InstrumentSpec, options: CheckedMetricsOptions): Instrument {
  const common = { description: spec.description, unit: spec.unit };
  switch (spec.kind) {
    case 'histogram':
      return meter.createHistogram(spec.opentelemetry, { ...common, advice: { explicitBucketBoundaries: options.buckets[spec.buckets!] } });
    case 'counter':
      return meter.createCounter(spec.opentelemetry, common);
    case 'updown':
      return meter.createUpDownCounter(spec.opentelemetry, common);
  }
}
