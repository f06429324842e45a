/**
 * deadbolt and foreign Redis lock clients on the same key: redis-py's Lock (what tooz's Redis
 * driver wraps: `SET <key> <uuid hex> NX PX <ttl>`, a Lua compare-and-delete to release, i.e.
 * redlock's single-instance protocol) and plain `SET NX` from redis-cli. The foreign client
 * locks deadbolt's key for a name, `<namespace>:lock:<name>` (docs/drivers/redis.md); tooz's own
 * `get_lock(name)` key can never be one of deadbolt's (the last test shows why), so redis-py's
 * Lock stands in for it on deadbolt's key.
 *
 * @module
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import { LockTimeoutError } from '../../src/errors.js';
import { isCI, python, requireClient, requireServer, startRedis, type RedisHandle } from '../harness/index.js';
import { spawnWorker, tempDir, type Worker } from '../file/helpers.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';

const SUITE = 'interop: redis-py Lock / SET NX PX';
const server = requireServer('redis', { suite: SUITE });
// redis-py comes with python3-tooz (its dependency): tooz's requirement covers it, checked below too
const client = server.available ? requireClient('tooz', { suite: SUITE }) : server;
const skip = !client.available ? client.reason : redisPyMissing();

/** The Python helper, from the source tree (tsc does not copy it next to the compiled test). */
const HELPER = fileURLToPath(new URL('../../../test/interop/fixtures/redis_py_lock.py', import.meta.url));
const WORKER = fileURLToPath(new URL('../distributed/fixtures/redis-worker.js', import.meta.url));
/** deadbolt's TTL where a test waits on a foreign holder: its re-check bound for one is TTL/2. */
const TTL = 2_000;
let namespaces = 0;

function redisPyMissing(): string | false {
  const probe = spawnSync(python(), ['-c', 'import redis'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.status === 0) return false;
  const reason = `${python()} cannot import redis (python3-redis)`;
  if (isCI()) throw new Error(`${SUITE} needs python3-redis and CI is set: ${reason}`);
  process.stderr.write(`\nSKIPPED: ${SUITE} — ${reason}\n\n`);
  return reason;
}

type Cleanup = { after(fn: () => unknown): void };

/** The helper running `args`; killed when the test ends. */
function foreign(t: Cleanup, ...args: (string | number)[]): Worker {
  const w = spawnWorker(HELPER, [HELPER, ...args.map(String)], python());
  t.after(async () => {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
  });
  return w;
}

/** A deadbolt coordinator in a child process (test/distributed/fixtures/redis-worker.ts). */
async function deadboltWorker(t: Cleanup, url: string, namespace: string): Promise<Worker> {
  const w = spawnWorker(WORKER, [url, String(STEADY_TTL_MS), namespace]);
  t.after(async () => {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.stdin!.end();
      await Promise.race([w.exited, new Promise((resolve) => setTimeout(resolve, EVENT_BOUND_MS))]);
      w.child.kill('SIGKILL');
    }
  });
  await w.line(/^ready$/);
  return w;
}

function send(w: Worker, line: string): void {
  w.child.stdin!.write(`${line}\n`);
}

async function coordinatorOn(t: Cleanup, url: string, namespace: string, ttl = TTL): Promise<Coordinator> {
  const c = await connect(url, { ttl, namespace, connectTimeout: CONNECT_TIMEOUT_MS });
  t.after(() => c.close());
  return c;
}

/** Whether `promise` settles within `ms`: used only to show that something does NOT happen meanwhile. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}

describe(SUITE, { skip }, () => {
  let redis: RedisHandle;
  let port: number;
  before(async () => {
    redis = await startRedis();
    port = Number(redis.endpoints[0]!.split(':').pop());
  });
  after(() => redis?.stop());

  test('a foreign holder (redis-py Lock): deadbolt times out, waits, and is granted only after the foreign release', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `interop-${process.pid}-${++namespaces}`;
    const key = `${ns}:lock:jobs`;
    const c = await coordinatorOn(t, redis.url, ns);
    const py = foreign(t, 'hold', port, key, 60_000);
    await py.line(/^held$/);

    assert.equal(await c.tryAcquire('jobs'), undefined, 'tryAcquire: busy');
    await assert.rejects(c.acquire('jobs', { timeout: 300 }), LockTimeoutError);
    const waiting = c.acquire('jobs');
    // two foreign re-check bounds (TTL/2 each) pass: still waiting, the foreign value untouched
    assert.equal(await settlesWithin(waiting, TTL + 200), false, 'not granted while the foreign client holds');
    assert.doesNotMatch(String(await redis.command(['GET', key])), /\|/, 'the foreign value is still there');

    const releasing = performance.now();
    send(py, 'release');
    // the foreign compare-and-delete finds its own value: deadbolt never overwrote it
    assert.equal(await py.line(/^(released|error)/), 'released');
    const guard = await waiting;
    const waited = performance.now() - releasing;
    assert.ok(waited < TTL / 2 + 1_000, `granted within the re-check bound after the DEL (${waited.toFixed(0)} ms)`);
    assert.match(String(await redis.command(['GET', key])), new RegExp(`^${guard.token}\\|`), 'deadbolt holds the key now');
    await guard.release();
  });

  test('a plain SET NX client: a digit-first value and one without expiry are foreign holders too', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `interop-${process.pid}-${++namespaces}`;
    const c = await coordinatorOn(t, redis.url, ns);
    // starts with a digit: older versions took this for their own record
    assert.equal(await redis.command(['SET', `${ns}:lock:digits`, '7f3a9c0e1b2d4f6a', 'NX', 'PX', 60_000]), 'OK');
    assert.equal(await c.tryAcquire('digits'), undefined);
    // no expiry: deadbolt learns of the DEL by its bounded re-check (TTL/2), never before it
    assert.equal(await redis.command(['SET', `${ns}:lock:forever`, 'held-by-someone-else', 'NX']), 'OK');
    const waiting = c.acquire('forever');
    assert.equal(await settlesWithin(waiting, TTL), false, 'not granted while the key exists');
    assert.equal(await redis.command(['GET', `${ns}:lock:forever`]), 'held-by-someone-else');
    const deleting = performance.now();
    assert.equal(await redis.command(['DEL', `${ns}:lock:forever`]), 1);
    const guard = await waiting;
    assert.ok(performance.now() - deleting < TTL / 2 + 1_000, 'granted within TTL/2 of the DEL');
    // an operator's break is the one thing that deletes a foreign holder's key
    const broken = await c.break('digits', { reason: 'interop test', expect: [0n] });
    assert.deepEqual(broken.map((h) => h.token), [0n]);
    assert.equal(await redis.command(['EXISTS', `${ns}:lock:digits`]), 0);
    await redis.command(['SET', `${ns}:lock:digits`, '7f3a9c0e1b2d4f6a', 'NX', 'PX', 60_000]);
    // listings show the foreign holder, with placeholders and its expiry
    const [holder] = await c.holders('digits');
    assert.equal(holder?.token, 0n);
    assert.equal(holder?.owner.id, '?');
    assert.ok(holder?.expiresAt !== undefined && holder.expiresAt.getTime() > Date.now());
    await guard.release();
  });

  test('deadbolt holds: the foreign client is refused and times out; after the release (exclusive, shared, broken) it acquires', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `interop-${process.pid}-${++namespaces}`;
    const key = `${ns}:lock:jobs`;
    const c = await coordinatorOn(t, redis.url, ns, STEADY_TTL_MS);
    for (const mode of ['exclusive', 'shared'] as const) {
      const guard = await c.acquire('jobs', { mode });
      assert.equal(await foreign(t, 'hold', port, key, 10_000).line(/^(held|busy)$/), 'busy', `${mode}: SET NX refused`);
      assert.equal(await foreign(t, 'wait', port, key, 10_000, 300).line(/^(held|timeout)$/), 'timeout', `${mode}: blocking acquire times out`);
      assert.equal(await redis.command(['SET', key, 'x', 'NX', 'PX', 10_000]), null, `${mode}: redis-cli's SET NX refused`);
      await guard.release();
      assert.equal(await redis.command(['EXISTS', key]), 0, `${mode}: nothing left on the key`);
      const py = foreign(t, 'hold', port, key, 10_000);
      assert.equal(await py.line(/^(held|busy)$/), 'held', `${mode}: the foreign client acquires after the release`);
      send(py, 'release');
      assert.equal(await py.line(/^(released|error)/), 'released');
    }
    // a break leaves its record off the key too
    const guard = await c.acquire('jobs');
    await c.break('jobs', { reason: 'interop test' });
    if (!guard.signal.aborted) await new Promise((resolve) => guard.signal.addEventListener('abort', resolve, { once: true }));
    const py = foreign(t, 'hold', port, key, 10_000);
    assert.equal(await py.line(/^(held|busy)$/), 'held', 'the foreign client acquires after a break');
    send(py, 'release');
    await py.line(/^released$/);
    // and the next deadbolt grant still reads how its predecessor left
    const next = await c.acquire('jobs');
    assert.equal(next.predecessor?.outcome, 'broken');
    await next.release();
  });

  test('an older version\'s tombstone on the key is moved off it by the next script', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `interop-${process.pid}-${++namespaces}`;
    const key = `${ns}:lock:old`;
    const c = await coordinatorOn(t, redis.url, ns, STEADY_TTL_MS);
    await redis.command(['SET', `${ns}:token:old`, '41']);
    await redis.command(['SET', key, 'released|41']); // what a previous version's release leaves, without expiry
    assert.deepEqual(await c.holders('old'), [], 'not a holder');
    assert.equal(await redis.command(['EXISTS', key]), 0, 'moved off the lock key');
    assert.equal(await redis.command(['GET', `${ns}:last:old`]), 'released|41');
    const guard = await c.acquire('old');
    assert.deepEqual([guard.token, guard.predecessor?.outcome, guard.predecessor?.token], [42n, 'released', 41n]);
    await guard.release();
  });

  test('a mixed counter: 3 deadbolt processes and 3 redis-py processes, 20 increments each, is exact', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `interop-${process.pid}-${++namespaces}`;
    const key = `${ns}:lock:counter`;
    const dir = tempDir('redis-interop-counter');
    t.after(() => dir.remove());
    const file = `${dir.path}/counter`;
    writeFileSync(file, '0');
    writeFileSync(`${file}.log`, '');
    const n = 20;
    const deadbolts = await Promise.all([1, 2, 3].map(() => deadboltWorker(t, redis.url, ns)));
    const pys = [1, 2, 3].map(() => foreign(t, 'count', port, key, 10_000, file, n));
    await Promise.all(pys.map((py) => py.line(/^ready$/)));
    // the shared start: every process gets its go in the same turn
    for (const w of deadbolts) send(w, `count counter ${file} ${n}`);
    for (const py of pys) send(py, 'go');
    await Promise.all([...deadbolts, ...pys].map((w) => w.line(/^counted$/)));

    assert.equal(readFileSync(file, 'utf8'), String(6 * n), 'no increment lost');
    const log = readFileSync(`${file}.log`, 'utf8').trim().split('\n');
    assert.deepEqual(log.map((line) => Number(line.split(' ')[0])), Array.from({ length: 6 * n }, (_, i) => i + 1), 'one writer at a time');
    const tokens = log.filter((line) => !line.endsWith(' foreign')).map((line) => BigInt(line.split(' ')[1]!));
    assert.equal(tokens.length, 3 * n);
    for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `deadbolt's tokens increase (${tokens[i - 1]} then ${tokens[i]})`);
    const interleaved = log.some((line, i) => i > 0 && line.endsWith(' foreign') !== log[i - 1]!.endsWith(' foreign'));
    assert.ok(interleaved, 'both kinds of client took turns');
  });

  test('a foreign holder SIGKILLed: deadbolt is granted after its PX expiry, never before', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `interop-${process.pid}-${++namespaces}`;
    const key = `${ns}:lock:killed`;
    const c = await coordinatorOn(t, redis.url, ns);
    const pxMs = 1_500;
    const py = foreign(t, 'hold', port, key, pxMs);
    await py.line(/^held$/);
    const asked = performance.now();
    const pttl = Number(await redis.command(['PTTL', key]));
    assert.ok(pttl > 0 && pttl <= pxMs);
    const expiresAt = asked + pttl; // no later than the key's real expiry
    py.child.kill('SIGKILL');
    await py.exited;
    const waiting = c.acquire('killed');
    const guard = await waiting;
    const grantedAt = performance.now();
    assert.ok(grantedAt >= expiresAt, `granted ${(expiresAt - grantedAt).toFixed(0)} ms before the foreign PX expiry`);
    assert.ok(grantedAt - expiresAt < 1_000, `granted ${(grantedAt - expiresAt).toFixed(0)} ms after the expiry`);
    await guard.release();
  });

  test("tooz's get_lock(name) key: b'<namespace>'_<name>_lock, never a deadbolt key", { timeout: HANG_GUARD_MS }, async (t) => {
    // tooz formats its namespace, which it keeps as bytes, with %s: Python 3 writes b'…' into the
    // key. deadbolt's keys start with its namespace, which has no quote: the two never meet.
    const probe = foreign(t, 'tooz-key', port, 'deadbolt', 'jobs');
    assert.equal(await probe.line(/^(key|busy|error)/), `key "b'deadbolt'_jobs_lock"`);
  });
});
