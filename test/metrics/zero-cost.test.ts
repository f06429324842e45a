/**
 * Zero cost when not enabled: deadbolt's main entry never loads prom-client
 * or @opentelemetry/api, importing a bridge's subpath subscribes to nothing,
 * and a bridge's close() leaves no subscriber behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { channels } from '../../src/diagnostics.js';
import { ConfigurationError } from '../../src/errors.js';
import { loadPeer } from '../../src/metrics/peer.js';
import { repoRoot } from '../file/helpers.js';

const compiled = (path: string) => new URL(`../../src/${path}`, import.meta.url).href;
const fromMetricsLibraries = (file: string) => file.startsWith('prom-client/') || file.startsWith('@opentelemetry/');

test('the main entry loads neither prom-client nor @opentelemetry/api; installing the bridges does (control)', () => {
  const probe = fileURLToPath(new URL('./fixtures/load-probe.js', import.meta.url));
  const child = spawnSync(
    process.execPath,
    [probe, compiled('index.js'), compiled('metrics/prometheus.js'), compiled('metrics/opentelemetry.js')],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(child.status, 0, child.stderr);
  const { main, bridges } = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { main: string[]; bridges: string[] };
  assert.deepEqual(main.filter(fromMetricsLibraries), [], 'loaded by the main entry');
  // The control: the same probe does see the libraries once a bridge is installed.
  assert.ok(bridges.some((file) => file.startsWith('prom-client/')), `prom-client not seen: ${bridges.join(', ')}`);
  assert.ok(bridges.some((file) => file.startsWith('@opentelemetry/api/')), `@opentelemetry/api not seen: ${bridges.join(', ')}`);
});

/** Channels the bridges do not turn into metrics: lock-directory housekeeping, waits (measured at acquire), refused Web Locks steals (diagnostics only). */
const notMeasured = (name: string): boolean =>
  name.startsWith('deadbolt:file:') || name.startsWith('deadbolt:web-locks:') || name === channels.lockWaiting;

test('importing a bridge subscribes to nothing; install subscribes, close() unsubscribes everything', async () => {
  const all = Object.values(channels);
  const listened = () => all.filter((name) => diagnosticsChannel.hasSubscribers(name));
  const { installPrometheusMetrics } = await import('../../src/metrics/prometheus.js');
  const { installOpenTelemetryMetrics } = await import('../../src/metrics/opentelemetry.js');
  assert.deepEqual(listened(), []);
  const { Registry } = await import('prom-client');
  const prometheus = installPrometheusMetrics({ registry: new Registry() });
  const opentelemetry = installOpenTelemetryMetrics();
  assert.deepEqual(listened().sort(), all.filter((name) => !notMeasured(name)).sort());
  prometheus.close();
  opentelemetry.close();
  assert.deepEqual(listened(), []);
});

test('package.json: both subpaths exported, both libraries optional peers and devDependencies', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    exports: Record<string, { types: string; default: string }>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
    devDependencies: Record<string, string>;
  };
  for (const name of ['prometheus', 'opentelemetry']) {
    assert.deepEqual(pkg.exports[`./metrics/${name}`], { types: `./dist/metrics/${name}.d.ts`, default: `./dist/metrics/${name}.js` });
    assert.ok(existsSync(join(repoRoot, `src/metrics/${name}.ts`)));
  }
  for (const name of ['prom-client', '@opentelemetry/api']) {
    assert.ok(pkg.peerDependencies[name], name);
    assert.equal(pkg.peerDependenciesMeta[name]?.optional, true, name);
    assert.ok(pkg.devDependencies[name], name);
  }
  const main = readFileSync(join(repoRoot, 'src/index.ts'), 'utf8');
  assert.doesNotMatch(main, /metrics\//, 'the main entry re-exports no bridge');
});

test('a metrics library that is not installed: ConfigurationError naming the package to install', () => {
  assert.throws(() => loadPeer('deadbolt-test-no-such-package', 'deadbolt/metrics/prometheus'), (e: unknown) => {
    assert.ok(e instanceof ConfigurationError);
    assert.equal(
      e.message,
      'deadbolt/metrics/prometheus needs the "deadbolt-test-no-such-package" package, an optional peer dependency of deadbolt: ' +
        'run `npm install deadbolt-test-no-such-package`',
    );
    return true;
  });
});
