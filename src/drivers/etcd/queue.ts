/**
 * The queue of one lock name, as the wait path reads it from etcd (keys only): every claim key under
 * `<namespace>/locks/<name>/`, ordered by `create_revision` (the order in which
 * etcd accepted the claims, which is also their fencing token).
 *
 * Who holds and who blocks whom is the recipe core's rule (src/core/blocker.ts),
 * on these entries' `order`.
 *
 * @internal
 * @module
 */
import type { IKeyValue } from 'etcd3';
import type { EngineClaim } from '../../core/engine.js';
import type { ClaimKeys } from './keys.js';

/** One claim in the queue (the core's EngineClaim: order and token are its `create_revision`). */
export interface QueueEntry extends EngineClaim {
  readonly key: Buffer;
  readonly name: string;
  readonly mode: 'exclusive' | 'shared';
  /** The claim's `create_revision`: its place in the queue and its fencing token. */
  readonly revision: bigint;
  readonly lease: bigint;
}

/**
 * Parse etcd's key-values of the range of `name` into queue entries, oldest
 * first. Every key of the range is a claim: one deadbolt did not write is an
 * exclusive one (keys.ts `classify`), so a foreign client's claim is waited
 * for, never ignored.
 *
 * @example
 * ```ts
 * const queue = toQueue(keys, 'jobs', response.kvs);
 * ```
 */
export function toQueue(keys: ClaimKeys, name: string, kvs: readonly IKeyValue[]): QueueEntry[] {
  const entries: QueueEntry[] = [];
  for (const kv of kvs) {
    const lease = BigInt(kv.lease);
    const { mode } = keys.classify(kv.key.toString('utf8'), lease, name)!; // with a name: always a claim
    const revision = BigInt(kv.create_revision);
    entries.push({
      order: revision,
      token: revision,
      key: kv.key,
      name,
      mode,
      revision,
      lease,
    });
  }
  return entries.sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
}

