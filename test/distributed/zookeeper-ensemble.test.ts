/**
 * The ZooKeeper driver on a real three-member ensemble (tickTime 500 ms):
 * a member that stops answering is left for another without losing the
 * session, and killing the leader keeps locks working with never two live
 * holders at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { channels } from '../../src/diagnostics.js';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import { Fence } from '../../src/distributed/fence.js';
import type { DistributedGuard } from '../../src/distributed/guard.js';
import { record } from '../conformance/harness.js';
import { requireServer, startZooKeeper, type ZooKeeperHandle } from '../harness/index.js';
import { ZkProxy } from './fixtures/zookeeper-proxy.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, HANG_GUARD_MS, STEADY_TTL_MS } from '../harness/bounds.js';

const TTL = STEADY_TTL_MS; // the largest session the harness allows: a starved client still renews it
const server = requireServer('zookeeper', { suite: 'zookeeper ensemble' });

describe('zookeeper ensemble', { skip: server.available ? false : server.reason, timeout: HANG_GUARD_MS }, () => {
  let zookeeper: ZooKeeperHandle;
  const opened: Coordinator[] = [];
  const proxies: ZkProxy[] = [];
  const open = async (url: string, namespace: string): Promise<Coordinator> => {
    const c = await connect(url, { ttl: TTL, namespace, connectTimeout: CONNECT_TIMEOUT_MS });
    opened.push(c);
    return c;
  };

  before(async () => {
    zookeeper = await startZooKeeper({ members: 3 });
  });
  after(async () => {
    await Promise.allSettled(opened.map((c) => c.close()));
    for (const proxy of proxies) await proxy.close();
    await zookeeper?.stop();
  });

  test('a follower that stops answering is left for another member; the session and its locks survive', async (t) => {
    const lost = record(t, channels.sessionLost);
    const reconnected = record(t, channels.sessionReconnected);
    const leader = await zookeeper.leader();
    const followers = zookeeper.members.filter((m) => m !== leader);
    // Only the followers are reachable through this proxy: pausing one must not need an election.
    const proxy = await ZkProxy.start(followers.map((m) => m.endpoint));
    proxies.push(proxy);
    const c = await open(proxy.url, `hung-${process.pid}`);
    const guard = await c.acquire('survives');
    const [index] = proxy.membersOf(c.session.id);
    assert.ok(index !== undefined, 'connected through the proxy');
    const paused = followers[index]!;
    paused.pause();
    t.after(() => paused.resume());
    const pausedAt = performance.now();
    while (proxy.membersOf(c.session.id).every((i) => i === index) || c.session.state !== 'connected') {
      assert.ok(performance.now() - pausedAt < TTL, `moved to another member within the TTL (state ${c.session.state})`);
      await delay(20);
    }
    t.diagnostic(`moved to the other follower ${(performance.now() - pausedAt).toFixed(0)} ms after pausing its member`);
    assert.equal(lost.length, 0, 'the session was never lost');
    assert.equal(guard.signal.aborted, false);
    assert.ok(reconnected.length <= 1);
    const other = await c.acquire('still-works', { timeout: EVENT_BOUND_MS });
    await other.release();
    await guard.release();
    paused.resume();
  });

  test('leader kill: locks keep working, tokens keep increasing, never two live holders', async (t) => {
    const namespace = `leader-${process.pid}`;
    const fence = new Fence();
    let current: DistributedGuard | undefined;
    let violations = 0;
    let sections = 0;
    let counter = 0;
    let afterKill = 0;
    let killed = false;
    let failures = 0;
    const stop = { at: Number.POSITIVE_INFINITY };
    const worker = async (): Promise<void> => {
      let c = await open(zookeeper.url, namespace);
      while (performance.now() < stop.at) {
        try {
          await c.run(
            'counter',
            async (guard) => {
              if (current !== undefined && !current.signal.aborted && !current.released) violations++;
              current = guard;
              try {
                fence.check('counter', guard.token);
              } catch {
                violations++; // a token lower than one already admitted
              }
              const seen = counter;
              await delay(1);
              if (!guard.signal.aborted) {
                counter = seen + 1;
                sections++;
                if (killed) afterKill++;
              }
              if (current === guard) current = undefined;
            },
            { timeout: 2 * TTL },
          );
        } catch (error) {
          failures++;
          t.diagnostic(`worker: ${(error as Error).message}`);
          if (c.signal.aborted) c = await open(zookeeper.url, namespace); // session lost: a new one
          else await delay(50);
        }
      }
    };
    const workers = Array.from({ length: 4 }, () => worker());
    while (sections < 40) await delay(10);
    const leader = await zookeeper.leader();
    await leader.kill();
    killed = true;
    const killedAt = performance.now();
    const before = sections;
    while (afterKill < 1) {
      assert.ok(performance.now() - killedAt < 4 * TTL, 'a lock was granted again after the leader died');
      await delay(10);
    }
    t.diagnostic(`first grant ${(performance.now() - killedAt).toFixed(0)} ms after the leader kill; ${before} sections before`);
    while (afterKill < 40) await delay(10);
    stop.at = performance.now();
    await Promise.all(workers);
    t.diagnostic(`${sections} sections, ${afterKill} after the kill, ${failures} failed acquisitions`);
    assert.equal(violations, 0, 'never two live holders');
    assert.equal(counter, sections, 'no lost update');
  });
});
