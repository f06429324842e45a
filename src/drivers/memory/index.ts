/**
 * `memory://<space>`: the reference driver. An in-process coordination engine
 * with everything a real one has (TTL leases, FIFO notification-driven waiting,
 * shared mode, fencing tokens, conditional release, break records, predecessor
 * reports), plus hooks for tests: pause a session, expire a lease, drive time
 * with a ManualClock.
 *
 * Every coordinator of this process connected to the same `memory://<space>`
 * shares that space's locks; `memory://` alone is the space `default`. A space
 * lives as long as the process, so tokens keep increasing across reconnects.
 *
 * @example
 * ```ts
 * import { connect } from 'deadbolt';
 * const a = await connect('memory://tests', { ttl: 1_000 });
 * const b = await connect('memory://tests', { ttl: 1_000 });
 * const guard = await a.acquire('jobs');
 * await b.tryAcquire('jobs'); // undefined: a holds it
 * ```
 *
 * @module
 */
import { ConfigurationError } from '../../errors.js';
import { systemClock, type Clock } from '../../distributed/clock.js';
import type { DriverFactory } from '../../distributed/driver.js';
import { MemoryDriver } from './driver.js';
import { MemorySpace } from './space.js';

export { ManualClock } from './manual-clock.js';
export { memoryCapabilities } from './driver.js';
export type { MemorySpace } from './space.js';
export type { Clock, ClockTimer } from '../../distributed/clock.js';

const spaces = new Map<string, MemorySpace>();

/**
 * The memory engine of `memory://<name>`, created on first use. Pass a `clock`
 * (before anything connects to it) to drive lease expiry by hand.
 *
 * @example
 * ```ts
 * import { ManualClock, memorySpace } from 'deadbolt/drivers/memory';
 * const clock = new ManualClock();
 * const space = memorySpace('expiry', { clock });
 * space.pause(coordinator.session.id);
 * await clock.advance(5_000);
 * ```
 */
export function memorySpace(name = 'default', options?: { clock?: Clock }): MemorySpace {
  let space = spaces.get(name);
  if (space === undefined) {
    space = new MemorySpace(name, options?.clock ?? systemClock);
    spaces.set(name, space);
  } else if (options?.clock !== undefined && options.clock !== space.clock) {
    throw new ConfigurationError(`memory space "${name}" already exists with another clock; give the clock before the first connect`);
  }
  return space;
}

/**
 * The space a `memory:` URL names: `memory://name`, `memory:name`, or `default`.
 *
 * @example
 * ```ts
 * spaceName(new URL('memory://tests')); // 'tests'
 * ```
 */
export function spaceName(url: URL): string {
  const raw = url.host !== '' ? url.host : url.pathname.replace(/^\/+/, '');
  return raw === '' ? 'default' : decodeURIComponent(raw);
}

/**
 * The factory `connect()` calls for `memory:` URLs.
 *
 * @internal
 * @example
 * ```ts
 * const coordinator = await connect('memory://tests');
 * ```
 */
export const createDriver: DriverFactory = async (url, options) => new MemoryDriver(memorySpace(spaceName(url)), options.namespace);
