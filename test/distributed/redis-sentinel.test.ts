/**
 * The redis driver through Sentinel (a master, two replicas, three sentinels,
 * from the harness): it finds the master, locks work, capabilities say what a
 * failover can cost, and after the master is killed the driver follows the
 * promoted replica and tokens keep increasing.
 *
 * `redis+sentinel://` is connected through `connectWith` with the scheme row
 * added here, until connect-url.ts's table has it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectWith, type DriverSource } from '../../src/distributed/connect.js';
import { SCHEMES, type SchemeEntry } from '../../src/distributed/connect-url.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import type { ConnectOptions } from '../../src/distributed/driver.js';
import { requireServer, startRedis, type RedisHandle } from '../harness/index.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';

const requirement = requireServer('redis', { suite: 'redis sentinel' });

const SENTINEL_ROW: SchemeEntry = {
  driver: 'redis',
  authority: 'hosts',
  defaultPort: 26_379,
  example: 'redis+sentinel://:password@10.0.0.1:26379,10.0.0.2:26379/mymaster',
};

const source: DriverSource = {
  schemes: { 'redis+sentinel': SENTINEL_ROW, ...SCHEMES },
  load: (driver) => import(new URL(`../../src/drivers/${driver}/index.js`, import.meta.url).href),
};

describe('redis: Sentinel', { skip: requirement.available ? false : requirement.reason }, () => {
  let redis: RedisHandle;
  const opened: Coordinator[] = [];
  const open = async (options: ConnectOptions = {}): Promise<Coordinator> => {
    const c = await connectWith(source, redis.url, { ttl: STEADY_TTL_MS, namespace: 'sentinel', connectTimeout: CONNECT_TIMEOUT_MS, ...options });
    opened.push(c);
    return c;
  };
  before(async () => {
    redis = await startRedis({ sentinel: true, password: 'data-pass' });
  });
  after(async () => {
    await Promise.allSettled(opened.map((c) => c.close()));
    await redis?.stop();
  });

  test('connects through the Sentinels, says what failover costs, and locks work', async () => {
    assert.match(redis.url, /^redis\+sentinel:\/\//);
    const a = await open();
    const b = await open();
    assert.equal(a.capabilities.durableTokens, false);
    assert.ok(a.capabilities.notes.some((n) => /through Sentinel/.test(n)));
    assert.ok(a.capabilities.notes.some((n) => /replicates asynchronously/.test(n) && /two holders/.test(n)), a.capabilities.notes.join('\n'));
    const held = await a.acquire('shared-work');
    const waiting = b.acquire('shared-work');
    await new Promise((resolve) => setTimeout(resolve, 250)); // the claim reaching the master
    await held.release();
    const next = await waiting;
    assert.ok(next.token > held.token);
    assert.equal(next.predecessor?.outcome, 'released');
    await next.release();
  });

  test('after the master is killed, the driver follows the promoted replica and tokens keep increasing', { timeout: HANG_GUARD_MS }, async () => {
    const a = await open();
    const before = await a.acquire('failover');
    await before.release();
    const old = await redis.master();
    await old.kill('SIGKILL');
    const killedAt = performance.now();
    // Sentinels need down-after-milliseconds (1 s) plus an election to promote a replica.
    let promoted = old;
    while (promoted === old) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      promoted = await redis.master().catch(() => old);
      assert.ok(performance.now() - killedAt < 2 * EVENT_BOUND_MS, `a replica was promoted within ${2 * EVENT_BOUND_MS} ms`); // a hang guard
    }
    // A fresh coordinator finds the new master through the Sentinels; `a` lost its session or reconnected.
    const b = await open();
    const after = await b.acquire('failover', { timeout: EVENT_BOUND_MS });
    assert.ok(after.token > before.token, `token ${after.token} after the failover, ${before.token} before`);
    await after.release();
  });
});
