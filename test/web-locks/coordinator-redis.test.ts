/** Web Locks over coordinators on a real Redis, started by the harness. */
import { after, before, test } from 'node:test';
import { requireServer, startRedis, type RedisHandle } from '../harness/index.js';
import { coordinatorConformance } from './coordinator-target.js';
import { STEADY_TTL_MS } from '../harness/bounds.js';

const requirement = requireServer('redis', { suite: 'web locks on redis' });

if (requirement.available) {
  let redis: RedisHandle | undefined;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());
  coordinatorConformance('redis', () => redis!.url, STEADY_TTL_MS, true);
} else {
  test('web locks on redis', { skip: requirement.reason }, () => {});
}
