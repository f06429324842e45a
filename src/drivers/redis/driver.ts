/**
 * The redis driver: the recipe core (src/core/) over Redis's primitives
 * (engine.ts). Sessions are keys renewed by one keepalive script, locks are
 * holder records granted by Lua scripts (protocol.ts), waiters are woken by
 * pub/sub.
 *
 * @internal
 * @module
 */
import type { Capabilities } from '../../distributed/driver.js';
import { RecipeDriver } from '../../core/recipe-driver.js';
import type { RedisClaim } from './claim.js';
import type { RedisClient } from './client.js';
import { RedisEngine, type RedisRead } from './engine.js';
import type { RedisSession } from './session.js';

/**
 * The Driver for `redis://` and `redis+sentinel://` URLs.
 *
 * @example
 * ```ts
 * const driver = new RedisDriver(client, 'deadbolt', redisCapabilities(info, { sentinel: false }));
 * const session = await driver.openSession(10_000, owner);
 * const lock = await driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, signal);
 * ```
 */
export class RedisDriver extends RecipeDriver<RedisSession, RedisClaim, RedisRead> {
  constructor(client: RedisClient, namespace: string, capabilities: Capabilities) {
    super(new RedisEngine(client, namespace, capabilities));
  }
}
