/**
 * The redis driver with real processes and a real server: mutual exclusion
 * across processes, a holder frozen (SIGSTOP) past its TTL, a holder killed
 * (SIGKILL), and what a server restart does to sessions and tokens, with and
 * without `appendfsync always`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import { LockLostError, SessionLostError } from '../../src/errors.js';
import { RECOVERY_BOUND_MS } from '../../src/drivers/redis/index.js';
import { SCRIPTS } from '../../src/drivers/redis/protocol.js';
import { requireServer, startRedis, type RedisHandle } from '../harness/index.js';
import { spawnWorker, tempDir, type Worker } from '../file/helpers.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';
import { watchEventLoop } from '../harness/event-loop-lag.js';

const requirement = requireServer('redis', { suite: 'redis processes' });
const WORKER = fileURLToPath(new URL('./fixtures/redis-worker.js', import.meta.url));
// Holders the tests freeze or kill: short, since those tests wait one out (SIGSTOP/SIGKILL make the
// expiry deterministic). Every other session is steady: a starved process still renews it.
const TTL = 2_000;
let namespaces = 0;

/** A worker coordinator on `url`; closed (stdin ended) or killed when the test ends. */
async function worker(t: { after(fn: () => unknown): void }, url: string, namespace: string, ttl = STEADY_TTL_MS): Promise<Worker> {
  const w = spawnWorker(WORKER, [url, String(ttl), namespace]);
  t.after(async () => {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill('SIGCONT');
      w.child.stdin!.end();
      await Promise.race([w.exited, new Promise((resolve) => setTimeout(resolve, EVENT_BOUND_MS))]);
      w.child.kill('SIGKILL');
    }
  });
  await w.line(/^ready$/);
  return w;
}

/** Send one command; resolve with the first answer line matching `pattern`. */
function ask(w: Worker, command: string, pattern: RegExp): Promise<string> {
  const answer = w.line(pattern);
  w.child.stdin!.write(`${command}\n`);
  return answer;
}

async function coordinatorOn(t: { after(fn: () => unknown): void }, url: string, namespace: string, ttl = STEADY_TTL_MS): Promise<Coordinator> {
  const c = await connect(url, { ttl, namespace, connectTimeout: CONNECT_TIMEOUT_MS });
  t.after(() => c.close());
  return c;
}

describe('redis: processes', { skip: requirement.available ? false : requirement.reason }, () => {
  let redis: RedisHandle;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  test('mutual exclusion across 4 processes: exact shared counter, tokens increase in grant order', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `procs-${process.pid}-${++namespaces}`;
    const dir = tempDir('redis-counter');
    t.after(dir.remove);
    const file = `${dir.path}/counter`;
    writeFileSync(file, '0');
    writeFileSync(`${file}.log`, '');
    const workers = await Promise.all([0, 1, 2, 3].map(() => worker(t, redis.url, ns)));
    const per = 40;
    await Promise.all(workers.map((w) => ask(w, `count counter ${file} ${per}`, /^(counted|error)/).then((l) => assert.equal(l, 'counted'))));
    assert.equal(Number(readFileSync(file, 'utf8')), 4 * per, 'no increment was lost');
    const rows = readFileSync(`${file}.log`, 'utf8').trim().split('\n').map((line) => line.split(' ').map(BigInt) as [bigint, bigint]);
    assert.deepEqual(rows.map(([value]) => value), Array.from({ length: 4 * per }, (_, i) => BigInt(i + 1)));
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i]![1] > rows[i - 1]![1], `token of increment ${i + 1} is not above the previous one`);
  });

  test('SIGSTOP a holder past its TTL: the next holder gets a higher token; on resume the frozen guard is aborted and its release deletes nothing', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `procs-${process.pid}-${++namespaces}`;
    const frozen = await worker(t, redis.url, ns, TTL);
    const first = BigInt((await ask(frozen, 'acquire frozen', /^(granted|error)/)).split(' ')[1]!);
    const c = await coordinatorOn(t, redis.url, ns);
    const waiting = c.acquire('frozen');
    await new Promise((resolve) => setTimeout(resolve, 250)); // the claim reaching the server
    const lag = watchEventLoop();
    const stoppedAt = performance.now();
    frozen.child.kill('SIGSTOP');
    const next = await waiting;
    const took = performance.now() - stoppedAt;
    lag.stop();
    assert.ok(next.token > first, `token ${next.token} after ${first}`);
    assert.equal(next.predecessor?.outcome, 'expired');
    assert.equal(next.predecessor?.token, first);
    assert.ok(took < TTL + RECOVERY_BOUND_MS + lag.slackMs(), `granted ${took.toFixed(0)} ms after the holder froze (event loop up to ${lag.maxLagMs} ms late)`);
    frozen.child.kill('SIGCONT');
    assert.equal(await frozen.line(/^lost /), 'lost session', 'the frozen guard signal aborts on resume');
    assert.equal(await ask(frozen, 'release frozen', /^(released|error)/), 'released');
    assert.deepEqual((await c.holders('frozen')).map((h) => h.token), [next.token], 'the stale release deleted nothing');
    assert.equal(next.signal.aborted, false);
    await next.release();
  });

  test('SIGKILL a holder: the lock is re-acquired within TTL + recoveryBoundMs', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `procs-${process.pid}-${++namespaces}`;
    const doomed = await worker(t, redis.url, ns, TTL);
    const first = BigInt((await ask(doomed, 'acquire killed', /^(granted|error)/)).split(' ')[1]!);
    const c = await coordinatorOn(t, redis.url, ns);
    assert.equal(c.capabilities.recoveryBoundMs, RECOVERY_BOUND_MS);
    const waiting = c.acquire('killed');
    await new Promise((resolve) => setTimeout(resolve, 250)); // the claim reaching the server
    const lag = watchEventLoop();
    const killedAt = performance.now();
    doomed.child.kill('SIGKILL');
    const expiresAt = killedAt + Number(await redis.command(['PTTL', `${ns}:lock:killed`]));
    const next = await waiting;
    const grantedAt = performance.now();
    assert.ok(next.token > first);
    assert.equal(next.predecessor?.outcome, 'expired');
    const took = grantedAt - killedAt;
    lag.stop();
    const bound = TTL + RECOVERY_BOUND_MS + lag.slackMs();
    assert.ok(took <= bound, `re-acquired ${took.toFixed(0)} ms after the kill (bound ${bound}: TTL + recoveryBoundMs + event loop up to ${lag.maxLagMs} ms late)`);
    t.diagnostic(`re-acquired ${took.toFixed(0)} ms after the SIGKILL, ${(grantedAt - expiresAt).toFixed(1)} ms after the lock's PX deadline`);
    await next.release();
  });
});

describe('redis: protocol details', { skip: requirement.available ? false : requirement.reason }, () => {
  let redis: RedisHandle;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  test('writers are not starved: a reader arriving while a writer waits queues behind it', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `details-${process.pid}-${++namespaces}`;
    const [a, b, c] = await Promise.all([coordinatorOn(t, redis.url, ns), coordinatorOn(t, redis.url, ns), coordinatorOn(t, redis.url, ns)]);
    const reader = await a.acquire('rw', { mode: 'shared' });
    const writer = b.acquire('rw');
    await new Promise((resolve) => setTimeout(resolve, 250)); // the writer's claim reaching the server
    assert.equal(await c.tryAcquire('rw', { mode: 'shared' }), undefined, 'a new reader does not overtake the waiting writer');
    const late = c.acquire('rw', { mode: 'shared' });
    await reader.release();
    const w = await writer;
    await w.release();
    const r = await late;
    assert.ok(r.token > w.token);
    assert.equal(r.predecessor?.outcome, 'released');
    assert.equal(r.predecessor?.token, w.token);
    await r.release();
  });

  test('a wake-up lost with the pub/sub connection: the waiter is granted once it reconnects', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `details-${process.pid}-${++namespaces}`;
    const ttl = 30_000; // a bound no loaded machine reaches, far from the TTL that would otherwise free the lock
    const a = await coordinatorOn(t, redis.url, ns, ttl);
    const b = await coordinatorOn(t, redis.url, ns, ttl);
    const held = await a.acquire('lost-wake');
    const waiting = b.acquire('lost-wake');
    await new Promise((resolve) => setTimeout(resolve, 250)); // the claim reaching the server
    // Every pub/sub connection drops; the release's message goes nowhere.
    await redis.command(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await held.release();
    const started = performance.now();
    const next = await waiting;
    assert.ok(performance.now() - started < ttl / 2, 'granted after the reconnection, not after a TTL');
    assert.equal(next.predecessor?.outcome, 'released');
    await next.release();
  });

  test('a waiting claim whose answer was lost is withdrawn by the next keepalive', { timeout: HANG_GUARD_MS }, async (t) => {
    const ns = `details-${process.pid}-${++namespaces}`;
    const a = await coordinatorOn(t, redis.url, ns);
    const b = await coordinatorOn(t, redis.url, ns);
    const held = await a.acquire('ghost');
    // What a lost 'first' request leaves behind: b's session queued for the name, unknown to b.
    const owner = JSON.stringify(b.owner);
    const queued = await redis.command(['EVAL', SCRIPTS.acquire, 0, `${ns}:`, b.session.id, 'lost-1', 'x', 'ghost', owner, Date.now(), 'first']);
    assert.equal((queued as unknown[])[0], 'waiting');
    assert.equal(await redis.command(['ZCARD', `${ns}:queue:ghost`]), 1);
    await held.release();
    // Behind the ghost until b's keepalive (every ttl/3) withdraws it; b stays alive, so nothing else could.
    const next = await a.acquire('ghost');
    await next.release();
  });
});

/** Clean-ups run last-in first-out (node:test runs `after` hooks in the order they were added). */
function lifo(t: { after(fn: () => unknown): void }): { after(fn: () => unknown): void } {
  const steps: (() => unknown)[] = [];
  t.after(async () => {
    for (const step of steps.reverse()) await step();
  });
  return { after: (fn) => void steps.push(fn) };
}

describe('redis: server restarts', { skip: requirement.available ? false : requirement.reason }, () => {
  test('without persistence: sessions are lost, counters reset, and the clock floor keeps new tokens above old ones', { timeout: HANG_GUARD_MS }, async (context) => {
    const t = lifo(context);
    const redis = await startRedis();
    t.after(() => redis.stop());
    const ns = `restart-${process.pid}`;
    const a = await coordinatorOn(t, redis.url, ns);
    assert.equal(a.capabilities.durableTokens, false);
    assert.ok(a.capabilities.notes.some((n) => /appendonly no/.test(n) && /durableTokens false/.test(n)), a.capabilities.notes.join('\n'));
    const held = await a.acquire('x');
    await redis.members[0]!.restart();
    assert.equal(await redis.command(['GET', `${ns}:token:x`]), null, 'the counter is gone with the data');
    const reason = await new Promise<unknown>((resolve) => held.signal.addEventListener('abort', () => resolve(held.signal.reason), { once: true }));
    assert.ok(reason instanceof LockLostError && reason.reason === 'session', String(reason));
    assert.ok(a.signal.reason instanceof SessionLostError);
    const b = await coordinatorOn(t, redis.url, ns);
    const next = await b.acquire('x');
    assert.ok(next.token > held.token, `token ${next.token} after the restart, ${held.token} before`);
    await held.release(); // after loss: no error, deletes nothing
    assert.deepEqual((await b.holders('x')).map((h) => h.token), [next.token]);
    await next.release();
  });

  test('with appendfsync always: durableTokens, and the counter itself survives a crash', { timeout: HANG_GUARD_MS }, async (context) => {
    const t = lifo(context);
    const redis = await startRedis({ appendfsync: 'always' });
    t.after(() => redis.stop());
    const ns = `durable-${process.pid}`;
    const a = await coordinatorOn(t, redis.url, ns);
    assert.equal(a.capabilities.durableTokens, true);
    assert.ok(a.capabilities.notes.some((n) => /appendfsync always/.test(n)), a.capabilities.notes.join('\n'));
    const held = await a.acquire('x');
    await held.release();
    await redis.members[0]!.restart(); // SIGKILL: a crash, not a clean shutdown
    assert.equal(await redis.command(['GET', `${ns}:token:x`]), held.token.toString());
    const b = await coordinatorOn(t, redis.url, ns);
    const next = await b.acquire('x');
    assert.ok(next.token > held.token);
    await next.release();
  });
});
