/**
 * `deadbolt serve`'s JSON API and /metrics on every engine the harness starts
 * (Redis, etcd, PostgreSQL, ZooKeeper): a lock held by another process is
 * listed, a break with a stale token is refused, a break with the right one
 * displaces the holder (its guard.signal fires in its own process) and is
 * recorded in --audit-log and in the history; /metrics is parsed by a
 * Prometheus text-format parser. On Redis also: a paused holder is shown
 * expiring, then its expiry is recorded as a loss.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { requireServer, startEtcd, startPostgres, startRedis, startZooKeeper, type ServerHandle, type ServerName } from '../harness/index.js';
import { killEngineHolders, listedToken, startEngineHolder, startServe, stopServers, tempDir, tokenFile, type Serve } from './helpers.js';

const ENGINES: Array<[ServerName, () => Promise<ServerHandle>, number]> = [
  ['redis', () => startRedis(), 3000],
  ['etcd', () => startEtcd(), 3000],
  ['postgres', () => startPostgres(), 3000],
  ['zookeeper', () => startZooKeeper(), 4000],
];

interface Family {
  name: string;
  metrics: Array<{ value: string; labels?: Record<string, string> }>;
}

/** The value of metric `name` with `labels`, from a parsed scrape. */
function metric(families: Family[], name: string, labels: Record<string, string>): number | undefined {
  const sample = families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample === undefined ? undefined : Number(sample.value);
}

async function scrape(serve: Serve): Promise<Family[]> {
  const response = await fetch(`${serve.url}metrics`);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheusTextFormat(await response.text()) as Family[];
}

function breakRequest(serve: Serve, token: string, body: Record<string, string | string[]>): Promise<Response> {
  return fetch(`${serve.url}api/break`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
}

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const [name, start, ttl] of ENGINES) {
  const server = requireServer(name, { suite: `serve API on ${name}` });
  describe(`deadbolt serve API on ${name}`, { skip: server.available ? false : server.reason }, () => {
    const tmp = tempDir(name);
    const token = tokenFile(tmp.path);
    const auditLog = join(tmp.path, 'breaks.log');
    let engine: ServerHandle | undefined;
    after(async () => {
      await stopServers();
      killEngineHolders();
      await engine?.stop();
      tmp.remove();
    });

    test('lists, refuses a stale token, breaks, records, and counts in /metrics', async () => {
      engine = await start();
      const holder = await startEngineHolder(engine.url, 'billing/<b>invoices</b>', ttl);
      const serve = await startServe(['--backend', engine.url, '--allow-break', '--token-file', token.path, '--audit-log', auditLog]);
      const shown = await listedToken(serve, 'billing/<b>invoices</b>');
      assert.equal(shown, holder.token);

      const one = (await (await fetch(`${serve.url}api/locks/${name}/${encodeURIComponent('billing/<b>invoices</b>')}?fresh=1`)).json()) as { lock: { holders: Array<{ token: string; expiresAt: number | null }> } };
      assert.equal(one.lock.holders[0]?.token, holder.token);
      assert.equal(typeof one.lock.holders[0]?.expiresAt, 'number');

      let families = await scrape(serve);
      assert.equal(metric(families, 'deadbolt_serve_locks_held', { backend: name }), 1);
      assert.equal(metric(families, 'deadbolt_serve_backend_up', { backend: name }), 1);
      assert.equal(metric(families, 'deadbolt_serve_breaks_total', { backend: name }), 0);

      const request = { backend: name, name: 'billing/<b>invoices</b>', confirm: 'billing/<b>invoices</b>', reason: 'holder hung' };
      const stale = await breakRequest(serve, token.token, { ...request, token: String(BigInt(holder.token) + 1n) });
      assert.equal(stale.status, 409);
      assert.equal(holder.child.exitCode, null);
      // The page sends every holder token it showed: a set that is not exactly the holders is refused by the engine.
      const extra = await breakRequest(serve, token.token, { ...request, token: holder.token, tokens: [holder.token, String(BigInt(holder.token) + 1n)] });
      assert.equal(extra.status, 409, await extra.clone().text());
      assert.match(((await extra.json()) as { error: string }).error, /changed hands/);
      assert.equal(holder.child.exitCode, null);
      const malformed = await breakRequest(serve, token.token, { ...request, token: holder.token, tokens: ['not-a-token'] });
      assert.equal(malformed.status, 400);

      const broken = await breakRequest(serve, token.token, { ...request, token: holder.token, tokens: [holder.token] });
      const outcome = (await broken.json()) as { broken: boolean; displaced: Array<{ token: string }> };
      assert.equal(broken.status, 200, JSON.stringify(outcome));
      assert.equal(outcome.broken, true);
      assert.deepEqual(outcome.displaced.map((d) => d.token), [holder.token]);
      assert.match(await holder.lost, /^lost DEADBOLT_LOCK_LOST/);

      const record = JSON.parse(readFileSync(auditLog, 'utf8').trim().split('\n').at(-1)!) as { lock: { name: string }; reason: string; displaced: Array<{ token: string }> };
      assert.equal(record.lock.name, 'billing/<b>invoices</b>');
      assert.equal(record.reason, 'holder hung');
      assert.equal(record.displaced[0]?.token, holder.token);

      const history = (await (await fetch(`${serve.url}api/history?backend=${name}`)).json()) as { entries: Array<{ kind: string; token: string }> };
      assert.ok(history.entries.some((e) => e.kind === 'break' && e.token === holder.token));
      families = await until('the break in /metrics', async () => {
        const f = await scrape(serve);
        return metric(f, 'deadbolt_serve_breaks_total', { backend: name }) === 1 && metric(f, 'deadbolt_serve_locks_held', { backend: name }) === 0 ? f : undefined;
      });
      assert.equal(metric(families, 'deadbolt_serve_losses_total', { backend: name, cause: 'expired' }), 0);
    });

    if (name === 'redis') {
      test('a paused holder is shown expiring, then its expiry is recorded as a loss', async () => {
        const serve = await startServe(['--backend', engine!.url]);
        const holder = await startEngineHolder(engine!.url, 'paused', 2000);
        await listedToken(serve, 'paused');
        holder.child.kill('SIGSTOP');
        try {
          await until('the holder shown expiring', async () => {
            const data = (await (await fetch(`${serve.url}api/locks?q=paused`)).json()) as { locks: Array<{ holders: Array<{ state: string }> }> };
            return data.locks[0]?.holders[0]?.state === 'expiring' ? true : undefined;
          });
          const entry = await until('the expiry in the history', async () => {
            const data = (await (await fetch(`${serve.url}api/history?name=paused`)).json()) as { entries: Array<{ kind: string; token: string }> };
            return data.entries.find((e) => e.kind === 'expired');
          });
          assert.equal(entry.token, holder.token);
          assert.equal(metric(await scrape(serve), 'deadbolt_serve_losses_total', { backend: 'redis', cause: 'expired' }), 1);
        } finally {
          holder.child.kill('SIGCONT');
        }
      });
    }
  });
}
