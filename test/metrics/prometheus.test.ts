/**
 * The prom-client bridge, with the real prom-client: real locks (in-process,
 * a lock directory, memory:// coordinators) acquired, released, timed out,
 * aborted, lost and broken, then the registry's text exposition parsed and
 * every count checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { ConfigurationError, isInvalidArgument } from '../../src/errors.js';
import { connect } from '../../src/distributed/connect.js';
import { DEFAULT_HOLD_BUCKETS, DEFAULT_WAIT_BUCKETS, installPrometheusMetrics, instruments } from '../../src/metrics/prometheus.js';
import { parsePrometheus, readPrometheus, subset } from './readings.js';
import { expected, runScenario, seriesKey, whileSuspended } from './scenario.js';

test('prometheus: every measurement of the scenario, read back from the scrape text', async (t) => {
  const registry = new Registry();
  const metrics = installPrometheusMetrics({ registry });
  t.after(() => metrics.close());
  const { suspended } = await runScenario(async () => readPrometheus(await registry.metrics()));
  assert.deepEqual(subset(suspended, whileSuspended), whileSuspended);
  const reading = readPrometheus(await registry.metrics());
  assert.deepEqual(reading, expected);
});

test('prometheus: families, types, help, and the documented default buckets', async (t) => {
  const registry = new Registry();
  const metrics = installPrometheusMetrics({ registry });
  t.after(() => metrics.close());
  const families = parsePrometheus(await registry.metrics());
  assert.deepEqual(
    families.map((f) => [f.name, f.type]),
    Object.values(instruments).map((spec) => [spec.prometheus, { histogram: 'HISTOGRAM', counter: 'COUNTER', updown: 'GAUGE' }[spec.kind]]),
  );
  assert.ok(families.every((f) => f.help.length > 0));

  const a = await connect('memory://prometheus-buckets');
  t.after(() => a.close());
  await (await a.acquire('x')).release();
  const text = await registry.metrics();
  const bounds = (name: string) => [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"`, 'gm'))].map((m) => m[1]);
  assert.deepEqual(bounds('deadbolt_lock_wait_seconds'), [...DEFAULT_WAIT_BUCKETS.map(String), '+Inf']);
  assert.deepEqual(bounds('deadbolt_lock_hold_seconds'), [...DEFAULT_HOLD_BUCKETS.map(String), '+Inf']);
});

test('prometheus: no lock-name label by default; lockName: true or a mapper adds one', async (t) => {
  const session = await connect('memory://prometheus-names');
  t.after(() => session.close());
  const acquireUsers = async () => {
    for (const name of ['user:1', 'user:2', 'report']) await (await session.acquire(name)).release();
  };
  const scrape = async (options: Parameters<typeof installPrometheusMetrics>[0]) => {
    const registry = new Registry();
    const metrics = installPrometheusMetrics({ registry, ...options });
    try {
      await acquireUsers();
      return readPrometheus(await registry.metrics());
    } finally {
      metrics.close();
    }
  };
  const memory = { backend: 'memory', mode: 'exclusive' };
  assert.equal((await scrape({})).get(seriesKey('acquisitions', memory)), 3);
  const raw = await scrape({ lockName: true });
  assert.deepEqual(
    ['user:1', 'user:2', 'report'].map((lock) => raw.get(seriesKey('acquisitions', { ...memory, lock }))),
    [1, 1, 1],
  );
  const grouped = await scrape({ lockName: (name) => name.split(':')[0]! });
  assert.equal(grouped.get(seriesKey('acquisitions', { ...memory, lock: 'user' })), 2);
  assert.equal(grouped.get(seriesKey('holdSeconds', { ...memory, lock: 'report' })), 1);
  assert.equal(grouped.get(seriesKey('sessions', { backend: 'memory', state: 'connected' })), undefined, 'sessions opened before install are not counted');
});

test('prometheus: close() stops measuring and removes the metrics; the registry can take a new bridge', async (t) => {
  const registry = new Registry();
  const other = new Counter({ name: 'app_requests_total', help: 'the application\'s own', registers: [registry] });
  other.inc();
  const first = installPrometheusMetrics({ registry });
  assert.throws(() => installPrometheusMetrics({ registry }), (e: unknown) => {
    assert.ok(e instanceof ConfigurationError);
    assert.match(e.message, /already has a metric named deadbolt_lock_wait_seconds.*close\(\) that bridge first/);
    return true;
  });
  first.close();
  first.close();
  assert.equal(first.closed, true);
  assert.deepEqual(parsePrometheus(await registry.metrics()).map((f) => f.name), ['app_requests_total']);

  const a = await connect('memory://prometheus-close');
  t.after(() => a.close());
  await (await a.acquire('x')).release(); // nobody measures this
  {
    using second = installPrometheusMetrics({ registry });
    assert.equal(second.closed, false);
    await (await a.acquire('x')).release();
    assert.equal(readPrometheus(await registry.metrics()).get(seriesKey('acquisitions', { backend: 'memory', mode: 'exclusive' })), 1);
  }
  assert.deepEqual(parsePrometheus(await registry.metrics()).map((f) => f.name), ['app_requests_total'], '`using` closed it');
});

test('prometheus: the default registry is prom-client\'s global one', async () => {
  const { register } = await import('prom-client');
  const metrics = installPrometheusMetrics();
  try {
    assert.ok(register.getSingleMetric('deadbolt_lock_acquisitions_total'));
  } finally {
    metrics.close();
  }
  assert.equal(register.getSingleMetric('deadbolt_lock_acquisitions_total'), undefined);
});

test('prometheus: bad options are refused synchronously, naming the option', () => {
  const bad: [unknown, RegExp][] = [
    ['yes', /^options must be an object/],
    [{ lockName: 'name' }, /^options\.lockName must be a boolean or a function/],
    [{ buckets: [1, 2] }, /^options\.buckets must be an object/],
    [{ buckets: { wait: [] } }, /^options\.buckets\.wait must be a non-empty array of seconds/],
    [{ buckets: { hold: [1, 1] } }, /^options\.buckets\.hold\[1\] must be greater than the bound before it \(1\)/],
    [{ buckets: { wait: [0, 1] } }, /^options\.buckets\.wait\[0\] must be a finite number of seconds above 0; got 0/],
    [{ registry: {} }, /^options\.registry must be a prom-client Registry/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => installPrometheusMetrics(options as never), (e: unknown) => isInvalidArgument(e) && message.test((e as Error).message), String(message));
  }
});

test('prometheus: a lockName function that throws drops the measurement with one warning, never breaks the lock', async (t) => {
  const registry = new Registry();
  const metrics = installPrometheusMetrics({
    registry,
    lockName: () => {
      throw new Error('mapper bug');
    },
  });
  t.after(() => metrics.close());
  const warnings: Error[] = [];
  const onWarning = (w: Error) => void warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const a = await connect('memory://prometheus-throwing');
  t.after(() => a.close());
  await (await a.acquire('x')).release();
  await (await a.acquire('x')).release();
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  assert.deepEqual(warnings.map((w) => [(w as { code?: string }).code, /mapper bug/.test(w.message)]), [['DEADBOLT_METRICS', true]]);
  assert.deepEqual(
    readPrometheus(await registry.metrics()),
    new Map([[seriesKey('sessions', { backend: 'memory', state: 'connected' }), 1]]),
    'only the session (no lock name) was measured',
  );
});
