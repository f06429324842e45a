/**
 * The conformance suite on etcd:// against a real etcd started by the harness.
 * Session loss is covered by test/distributed/etcd.test.ts with a frozen
 * (SIGSTOP) holder process: an in-process coordinator cannot be cut off from
 * etcd on its own, so there is no pause hook here.
 *
 * Skipped, loudly, without an etcd binary; a failure instead when CI is set.
 */
import { after, test } from 'node:test';
import { requireServer, startEtcd } from '../harness/index.js';
import { conformance } from './suite.js';
import { STEADY_TTL_MS } from '../harness/bounds.js';

const server = requireServer('etcd', { suite: 'conformance: etcd' });

if (server.available) {
  const etcd = await startEtcd();
  after(() => etcd.stop());
  conformance('etcd', {
    connectUrl: () => etcd.url,
    ttl: STEADY_TTL_MS,
    handoffMs: 50,
    claimSettleMs: 250, // a claim reaching the engine on a starved machine
  });
} else {
  test('conformance: etcd', { skip: server.reason }, () => {});
}
