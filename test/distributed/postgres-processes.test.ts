/**
 * postgres:// across real processes: mutual exclusion with an exact shared
 * counter, a holder frozen (SIGSTOP) past its TTL, a holder killed (SIGKILL).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import { RECOVERY_BOUND_MS } from '../../src/drivers/postgres/index.js';
import { spawnWorker, tempDir, type Worker } from '../file/helpers.js';
import { requireServer, startPostgres, type PostgresHandle } from '../harness/index.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';
import { watchEventLoop } from '../harness/event-loop-lag.js';

const WORKER = fileURLToPath(new URL('./fixtures/postgres-worker.js', import.meta.url));
const requirement = requireServer('postgres', { suite: 'postgres processes' });
let namespaces = 0;

// Holders the tests freeze or kill: short, since those tests wait one out (SIGSTOP/SIGKILL make the expiry
// deterministic); the waiting coordinators are steady, so that a starved test process keeps its own session.
const HOLDER_TTL_MS = 2_000;

describe('postgres: processes', { skip: requirement.available ? false : requirement.reason, timeout: HANG_GUARD_MS }, () => {
  let server: PostgresHandle;
  const workers: Worker[] = [];
  const coordinators: Coordinator[] = [];
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.allSettled(coordinators.map((c) => c.close()));
    await server?.stop();
  });
  const namespace = (): string => `processes-${process.pid}-${++namespaces}`;
  const worker = (args: string[]): Worker => {
    const w = spawnWorker(WORKER, args);
    workers.push(w);
    return w;
  };
  const coordinator = async (ns: string, ttl: number): Promise<Coordinator> => {
    const c = await connect(server.url, { namespace: ns, ttl, connectTimeout: CONNECT_TIMEOUT_MS });
    coordinators.push(c);
    return c;
  };

  test('mutual exclusion across 4 processes: an exact shared counter, tokens strictly increasing', async () => {
    const dir = tempDir('pg-counter');
    try {
      const file = `${dir.path}/counter`;
      writeFileSync(file, '0');
      writeFileSync(`${file}.tokens`, '');
      const ns = namespace();
      const rounds = 25;
      const all = Array.from({ length: 4 }, () => worker(['counter', server.url, ns, file, String(rounds)]));
      const codes = await Promise.all(all.map((w) => w.exited));
      assert.deepEqual(codes, [0, 0, 0, 0], all.map((w) => w.stderr()).join('\n'));
      assert.equal(Number(readFileSync(file, 'utf8')), 4 * rounds);
      const tokens = readFileSync(`${file}.tokens`, 'utf8').trim().split('\n').map(BigInt);
      assert.equal(tokens.length, 4 * rounds);
      for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `token ${tokens[i]} after ${tokens[i - 1]}`);
    } finally {
      dir.remove();
    }
  });

  test('SIGSTOP past the TTL: the next holder gets a higher token; the frozen one learns on resume, its release deletes nothing', async (t) => {
    const ns = namespace();
    const ttl = HOLDER_TTL_MS;
    const frozen = worker(['holder', server.url, ns, String(ttl)]);
    const first = BigInt((await frozen.line(/^held /)).split(' ')[1]!);
    const b = await coordinator(ns, STEADY_TTL_MS);
    const waiting = b.acquire('held', { timeout: EVENT_BOUND_MS });
    await new Promise((resolve) => setTimeout(resolve, 250)); // the claim reaches the server
    const lag = watchEventLoop();
    frozen.child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    const next = await waiting;
    const took = performance.now() - stoppedAt;
    lag.stop();
    t.diagnostic(`granted ${took.toFixed(0)} ms after SIGSTOP (TTL ${ttl} ms, event loop up to ${lag.maxLagMs} ms late)`);
    assert.ok(took <= ttl + RECOVERY_BOUND_MS + lag.slackMs(), `granted ${took.toFixed(0)} ms after the freeze: not within TTL + bound`);
    assert.ok(next.token > first, `${next.token} > ${first}`);
    assert.equal(next.predecessor?.outcome, 'expired');
    assert.equal(next.predecessor?.token, first);
    frozen.child.kill('SIGCONT');
    frozen.child.stdin!.write('check\n');
    assert.equal(await frozen.line(/^signal /), 'signal true session', 'the resumed holder sees its guard aborted');
    await frozen.line(/^released$/);
    assert.equal(await frozen.exited, 0, frozen.stderr());
    assert.deepEqual((await b.holders('held')).map((h) => h.token), [next.token], 'the late release deleted nothing');
    assert.equal(next.signal.aborted, false);
    await next.release();
  });

  test('SIGKILL of a holder: re-acquired within TTL + recoveryBoundMs', async (t) => {
    const ns = namespace();
    const ttl = HOLDER_TTL_MS;
    const victim = worker(['holder', server.url, ns, String(ttl)]);
    const first = BigInt((await victim.line(/^held /)).split(' ')[1]!);
    const b = await coordinator(ns, STEADY_TTL_MS);
    assert.equal(b.capabilities.recoveryBoundMs, RECOVERY_BOUND_MS);
    const waiting = b.acquire('held');
    await new Promise((resolve) => setTimeout(resolve, 250)); // the claim reaches the server
    const lag = watchEventLoop();
    const killedAt = performance.now();
    victim.child.kill('SIGKILL');
    const next = await waiting;
    const took = performance.now() - killedAt;
    lag.stop();
    t.diagnostic(`re-acquired ${took.toFixed(0)} ms after SIGKILL (TTL ${ttl} ms, event loop up to ${lag.maxLagMs} ms late)`);
    assert.ok(took <= ttl + RECOVERY_BOUND_MS + lag.slackMs(), `re-acquired ${took.toFixed(0)} ms after the kill (TTL ${ttl} + bound ${RECOVERY_BOUND_MS} + ${lag.slackMs()} for event-loop lag)`);
    assert.ok(next.token > first);
    assert.equal(next.predecessor?.outcome, 'expired');
    await next.release();
  });
});
