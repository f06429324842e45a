/**
 * The conformance suite on zookeeper://, against a real standalone ZooKeeper
 * (tickTime 500 ms, so 2 s sessions are allowed), through a proxy that can cut
 * one coordinator's session off: `pause` freezes its connection both ways, as a
 * partition would, so its keepalives stop arriving and the ensemble expires it.
 */
import { after, before, test } from 'node:test';
import { requireServer, startZooKeeper, type ZooKeeperHandle } from '../harness/index.js';
import { ZkProxy } from '../distributed/fixtures/zookeeper-proxy.js';
import { conformance } from './suite.js';
import { STEADY_TTL_MS } from '../harness/bounds.js';

const server = requireServer('zookeeper', { suite: 'conformance: zookeeper' });

if (server.available) {
  let zookeeper: ZooKeeperHandle | undefined;
  let proxy: ZkProxy | undefined;
  before(async () => {
    zookeeper = await startZooKeeper();
    proxy = await ZkProxy.start(zookeeper.endpoints);
  });
  after(async () => {
    await proxy?.close();
    await zookeeper?.stop();
  });
  conformance('zookeeper', {
    connectUrl: () => proxy!.url,
    ttl: STEADY_TTL_MS,
    pause: (coordinator) => proxy!.hold(coordinator.session.id),
    resume: (coordinator) => proxy!.restore(coordinator.session.id),
    handoffMs: 50,
    claimSettleMs: 250, // a claim reaching the engine on a starved machine
  });
} else {
  test('conformance: zookeeper', { skip: server.reason }, () => {});
}
