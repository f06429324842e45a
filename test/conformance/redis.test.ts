/**
 * The conformance suite on a real Redis (no persistence), started by the harness.
 * The pause hook cuts a coordinator's session off in-process (its keepalives,
 * revocation and messages are held back), as a partition would; the SIGSTOP of
 * a real process is in test/distributed/redis.test.ts.
 */
import { after, before, test } from 'node:test';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import type { RedisSession } from '../../src/drivers/redis/session.js';
import { requireServer, startRedis, type RedisHandle } from '../harness/index.js';
import { conformance } from './suite.js';
import { STEADY_TTL_MS } from '../harness/bounds.js';

const requirement = requireServer('redis', { suite: 'redis conformance' });

const redisSession = (coordinator: Coordinator): RedisSession => coordinator.session.driverSession as RedisSession;

if (requirement.available) {
  let redis: RedisHandle | undefined;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  conformance('redis', {
    connectUrl: () => redis!.url,
    ttl: STEADY_TTL_MS,
    pause: (coordinator) => redisSession(coordinator).pause(),
    resume: (coordinator) => redisSession(coordinator).resume(),
    handoffMs: 50,
    claimSettleMs: 250, // a claim reaching the engine on a starved machine
  });
} else {
  test('conformance: redis', { skip: requirement.reason }, () => {});
}
