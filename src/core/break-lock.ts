/**
 * Breaking a lock (the operator's tool), on every engine: read the holders,
 * compare them with the expected tokens, then let the engine's one atomic step
 * (`Engine.breakHolders`) delete exactly those claims, each only if it is still
 * that claim, and store the break record. If the holders changed between the
 * read and that step (released, next one granted), the step changes nothing
 * and the core reads again. Together: a holder granted after the read, or one
 * the operator did not expect, is never displaced.
 *
 * Holders' sessions are left alone on every engine, so a displaced process
 * loses only this lock. The record is the name's last break: a later break
 * replaces it.
 *
 * @internal
 * @module
 */
import { BackendError } from '../errors.js';
import type { LockInfo } from '../contracts/lock-info.js';
import { assertExpectedHolders } from '../distributed/break-options.js';
import type { BreakRecord, DriverSession } from '../distributed/driver.js';
import type { ClaimsRead, EngineClaim, Engine } from './engine.js';
import { describe, heldClaims } from './listing.js';
import type { ScannedClaim } from './scan.js';

/** How many times the holders may change under us before we give up. */
const ATTEMPTS = 10;

/**
 * Displace the holders of `name`, store `record`, return who was displaced
 * (empty when nobody held it: then nothing is written). With `expect`, only if
 * the holders are exactly those tokens (HolderChangedError otherwise).
 *
 * @example
 * ```ts
 * const displaced = await breakLock(engine, 'jobs', { reason: 'stuck', by: 'ops@host', at: new Date() }, [7n]);
 * ```
 */
export async function breakLock<P extends ScannedClaim>(
  engine: Pick<Engine<DriverSession, EngineClaim, ClaimsRead<EngineClaim>, P>, 'backend' | 'scan' | 'leaseState' | 'breakHolders'>,
  name: string,
  record: BreakRecord,
  expect?: readonly bigint[],
): Promise<LockInfo[]> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const holders = await heldClaims(engine, name);
    if (holders.length === 0 && expect === undefined) return [];
    // the engine's step is conditional on these very claims: comparing them here compares what it deletes
    assertExpectedHolders(name, expect, holders.map((h) => h.token));
    const displaced = await describe(engine, holders);
    if (await engine.breakHolders(name, holders, { ...record, displaced })) return displaced;
  }
  throw new BackendError(`could not break "${name}": its holders changed ${ATTEMPTS} times while breaking it`);
}
