/**
 * The redis driver: sessions are keys renewed by one keepalive script, locks
 * are holder records granted by Lua scripts (protocol.ts), waiters are woken
 * by pub/sub. This file wires the pieces to the Driver contract.
 *
 * @internal
 * @module
 */
import type {
  BreakRecord,
  Capabilities,
  Driver,
  DriverLock,
  DriverSession,
  LockRequest,
  LockSurvey,
} from '../../distributed/driver.js';
import type { LockInfo, LockOwner } from '../../contracts/lock-info.js';
import { breakLock } from './break.js';
import { acquireClaim } from './claim.js';
import type { RedisClient } from './client.js';
import { keyPrefix, type RedisContext } from './context.js';
import { listHolders, nameHolders, surveyLocks } from './holders.js';
import { Notifications } from './notifications.js';
import { RedisSession } from './session.js';

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
export class RedisDriver implements Driver {
  readonly backend = 'redis';
  readonly capabilities: Capabilities;
  readonly #ctx: RedisContext;

  constructor(client: RedisClient, namespace: string, capabilities: Capabilities) {
    this.capabilities = capabilities;
    this.#ctx = { client, prefix: keyPrefix(namespace), notifications: new Notifications(client.subscriber) };
  }

  openSession(ttlMs: number, owner: LockOwner): Promise<DriverSession> {
    return RedisSession.open(this.#ctx, ttlMs, owner);
  }

  async acquire(request: LockRequest, signal: AbortSignal): Promise<DriverLock> {
    return (await acquireClaim(this.#ctx, request, signal, true))!;
  }

  tryAcquire(request: LockRequest): Promise<DriverLock | undefined> {
    return acquireClaim(this.#ctx, request, undefined, false);
  }

  list(prefix: string): Promise<LockInfo[]> {
    return listHolders(this.#ctx, prefix);
  }

  holders(name: string): Promise<LockInfo[]> {
    return nameHolders(this.#ctx, name);
  }

  survey(prefix: string): Promise<LockSurvey[]> {
    return surveyLocks(this.#ctx, prefix);
  }

  break(name: string, record: BreakRecord, expect?: readonly bigint[]): Promise<LockInfo[]> {
    return breakLock(this.#ctx, name, record, expect);
  }

  close(): Promise<void> {
    return this.#ctx.client.close();
  }
}
