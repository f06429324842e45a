/**
 * The memory driver: the recipe core (src/core/) over a memory space's
 * primitives (engine.ts).
 *
 * @internal
 * @module
 */
import { RecipeDriver } from '../../core/recipe-driver.js';
import type { DriverSession } from '../../distributed/driver.js';
import type { MemoryClaim } from './claim.js';
import { MemoryEngine, type MemoryRead } from './engine.js';
import type { MemorySpace } from './space.js';

export { memoryCapabilities } from './capabilities.js';

/**
 * The Driver over one memory space and namespace.
 *
 * @example
 * ```ts
 * const driver = new MemoryDriver(memorySpace('tests'), 'deadbolt');
 * const session = await driver.openSession(1_000, owner);
 * const lock = await driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, signal);
 * ```
 */
export class MemoryDriver extends RecipeDriver<DriverSession, MemoryClaim, MemoryRead> {
  constructor(space: MemorySpace, namespace: string) {
    super(new MemoryEngine(space, namespace));
  }
}
