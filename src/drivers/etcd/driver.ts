/**
 * The etcd driver: the recipe core (src/core/) over etcd's primitives
 * (engine.ts). Sessions are leases, locks are claim keys ordered by revision,
 * waiters are woken by one shared DELETE feed.
 *
 * @internal
 * @module
 */
import { RecipeDriver } from '../../core/recipe-driver.js';
import type { EtcdClient } from './client.js';
import { EtcdEngine, type EtcdRead } from './engine.js';
import type { EtcdLayout } from './layout.js';
import type { EtcdListed } from './listing.js';
import type { QueueEntry } from './queue.js';
import type { EtcdSession } from './session.js';

export { ETCD_CAPABILITIES, RECOVERY_BOUND_MS } from './capabilities.js';

/**
 * The Driver for `etcd://` URLs.
 *
 * @example
 * ```ts
 * const driver = new EtcdDriver(client, 'deadbolt');
 * const session = await driver.openSession(10_000, owner);
 * const lock = await driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, signal);
 * new EtcdDriver(client, 'deadbolt', 'concurrency'); // claims as Go's concurrency.Mutex (etcdctl lock) writes them
 * ```
 */
export class EtcdDriver extends RecipeDriver<EtcdSession, QueueEntry, EtcdRead, EtcdListed> {
  constructor(client: EtcdClient, namespace: string, layout: EtcdLayout = 'deadbolt') {
    super(new EtcdEngine(client, namespace, layout));
  }
}
