/**
 * The conformance suite on postgres://, against a throwaway PostgreSQL 15.
 *
 * Coordinators connect through a TCP proxy so that the suite's `pause` hook can
 * cut one off silently (a partition: its keepalives stop arriving, the
 * server's notifications stop reaching it), every connection of it at once.
 */
import { after, before, test } from 'node:test';
import { requireServer, startPostgres, type PostgresHandle } from '../harness/index.js';
import { PostgresProxy } from '../distributed/fixtures/postgres-proxy.js';
import { conformance } from './suite.js';
import { STEADY_TTL_MS } from '../harness/bounds.js';

const requirement = requireServer('postgres', { suite: 'postgres conformance' });

if (requirement.available) {
  let server: PostgresHandle;
  let proxy: PostgresProxy;
  before(async () => {
    server = await startPostgres();
    proxy = await PostgresProxy.start(server.members[0]!.port);
  });
  after(async () => {
    await proxy?.close();
    await server?.stop();
  });
  conformance('postgres', {
    connectUrl: () => proxy.url(server.url),
    ttl: STEADY_TTL_MS,
    // Every connection of a coordinator carries application_name "deadbolt <owner id>".
    pause: (coordinator) => proxy.pause(`deadbolt ${coordinator.owner.id}`),
    resume: (coordinator) => proxy.resume(`deadbolt ${coordinator.owner.id}`),
    handoffMs: 50,
    claimSettleMs: 250, // a claim reaching the engine on a starved machine
  });
} else {
  test('conformance: postgres', { skip: requirement.reason }, () => {});
}
