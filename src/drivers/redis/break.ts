/**
 * Breaking a lock on Redis (the operator's tool).
 *
 * Read the holders, then one script that, only if the holders are still
 * exactly those tokens, deletes their records, stores the break record as the
 * name's last outcome (`broken|<token>|<record>`), publishes `b|<claim>` to each
 * holder's session, and wakes the next waiter. The holders' sessions are left
 * alone: a displaced process loses this lock, not its other locks. A
 * conditional break (`expect`) refuses when the holders read differ from the
 * expected tokens; the script's own compare then covers the gap until it runs. A holder
 * that missed the message learns it from its next keepalive, which finds its
 * token in the break record. If the holders changed in between, read again.
 *
 * @internal
 * @module
 */
import { BackendError } from '../../errors.js';
import { assertExpectedHolders } from '../../distributed/break-options.js';
import type { BreakRecord } from '../../distributed/driver.js';
import type { LockInfo } from '../../contracts/fenced-guard.js';
import type { RedisContext } from './context.js';
import { nameHolders } from './holders.js';
import { mapError } from './map-error.js';
import { encodeBreak } from './record.js';

/** How many times the holders may change under us before we give up. */
const ATTEMPTS = 10;

/**
 * Displace the holders of `name`, store `record`, return who was displaced
 * (empty when nobody held it: then nothing is written).
 *
 * @example
 * ```ts
 * const displaced = await breakLock(ctx, 'jobs', { reason: 'stuck', by: 'ops@host', at: new Date() });
 * ```
 */
export async function breakLock(ctx: RedisContext, name: string, record: BreakRecord, expect?: readonly bigint[]): Promise<LockInfo[]> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const holders = await nameHolders(ctx, name);
    if (holders.length === 0 && expect === undefined) return [];
    // The script deletes only if the holders are still exactly these tokens.
    assertExpectedHolders(name, expect, holders.map((h) => h.token));
    let done: unknown;
    try {
      const tokens = holders.map((holder) => holder.token.toString());
      done = await ctx.client.run('break', [ctx.prefix, name, encodeBreak(record, holders), ...tokens]);
    } catch (error) {
      throw mapError(error, `breaking "${name}"`);
    }
    if (done === 1) return holders;
  }
  throw new BackendError(`could not break "${name}": its holders changed ${ATTEMPTS} times while breaking it`);
}
