/**
 * Breaking a lock on etcd (the operator's tool).
 *
 * One transaction, guarded by every current holder's `create_revision`:
 * write the break record to `<ns>/broken/<name>` and delete the holders' claim
 * keys. The holders' leases are left alone, so a displaced process loses only
 * this lock, not its session and its other locks. Because record and deletion
 * share one revision, a displaced holder that sees its key's DELETE finds its
 * token in the record ("broken"), and so does the next holder when it reports
 * on its predecessor. If the holders changed between the read and the
 * transaction (released, next one granted), it is read again. A conditional
 * break (`expect`) compares the holders read with the expected tokens before
 * the transaction, which then deletes only those keys if still unchanged:
 * together, only the expected holders can ever be displaced.
 *
 * The record is the last break of that name: a later break replaces it; it is
 * not attached to a lease, so it stays until overwritten or deleted by hand.
 *
 * @internal
 * @module
 */
import { BackendError } from '../../errors.js';
import { assertExpectedHolders } from '../../distributed/break-options.js';
import type { BreakRecord } from '../../distributed/driver.js';
import type { LockInfo } from '../../contracts/fenced-guard.js';
import { describe, readQueues } from './holders.js';
import type { LockContext } from './context.js';
import { mapError } from './map-error.js';
import { holdersOf } from './queue.js';
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
export async function breakLock(ctx: LockContext, name: string, record: BreakRecord, expect?: readonly bigint[]): Promise<LockInfo[]> {
  const brokenKey = Buffer.from(ctx.keys.broken(name));
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const holders = holdersOf((await readQueues(ctx, ctx.keys.queue(name))).get(name) ?? []);
    if (holders.length === 0 && expect === undefined) return [];
    // The txn below is guarded by these very keys' create revisions (the tokens): a holder granted after this read is never deleted.
    assertExpectedHolders(name, expect, holders.map((h) => h.revision));
    const displaced = await describe(ctx, holders);
    let succeeded: boolean;
    try {
      ({ succeeded } = await ctx.client.etcd.kv.txn({
        compare: holders.map((h) => ({ key: h.key, target: 'Create' as const, result: 'Equal' as const, create_revision: h.revision.toString() })),
        success: [
          { request_put: { key: brokenKey, value: encodeBreak(record, displaced) } },
          ...holders.map((h) => ({ request_delete_range: { key: h.key } })),
        ],
        failure: [],
      }));
    } catch (error) {
      throw mapError(error, `breaking "${name}"`);
    }
    if (succeeded) return displaced;
  }
  throw new BackendError(`could not break "${name}": its holders changed ${ATTEMPTS} times while breaking it`);
}
