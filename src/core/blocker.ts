/**
 * The queue rules of every recipe (etcd's RWMutex recipe, ZooKeeper's
 * shared-lock recipe), on the engine's order keys:
 * - an exclusive claim is granted when no claim is older than it;
 * - a shared claim is granted when no *exclusive* claim is older than it.
 * So the holders are the oldest claim if it is exclusive, else the run of
 * shared claims before the oldest exclusive one. A waiter waits for the one
 * claim that blocks it most recently (its blocker): the only claim it watches,
 * so a release wakes only the waiters it unblocks (no herd).
 *
 * @internal
 * @module
 */
import type { ClaimMode, EngineClaim } from './engine.js';

/**
 * The claim that keeps `own` waiting: the youngest claim older than it
 * (exclusive), or the youngest older exclusive claim (shared). `undefined`
 * means granted. `claims` may be in any order and may include `own`.
 *
 * @example
 * ```ts
 * const pred = blocker(read.ahead, own);
 * if (pred === undefined) return grant(own);
 * ```
 */
export function blocker<C extends EngineClaim>(claims: readonly C[], own: { readonly order: bigint; readonly mode: ClaimMode }): C | undefined {
  let found: C | undefined;
  for (const claim of claims) {
    if (claim.order >= own.order) continue;
    if (own.mode === 'shared' && claim.mode !== 'exclusive') continue;
    if (found === undefined || claim.order > found.order) found = claim;
  }
  return found;
}

/**
 * The claims that hold the name now, oldest first.
 *
 * @example
 * ```ts
 * const holders = holdersOf(allClaims).map(toLockInfo);
 * ```
 */
export function holdersOf<C extends EngineClaim>(claims: readonly C[]): C[] {
  const queue = [...claims].sort(byOrder);
  const first = queue[0];
  if (first === undefined) return [];
  if (first.mode === 'exclusive') return [first];
  const holders: C[] = [];
  for (const claim of queue) {
    if (claim.mode === 'exclusive') break;
    holders.push(claim);
  }
  return holders;
}

/**
 * Whether a new claim of `mode` would be granted at once behind `claims`.
 *
 * @example
 * ```ts
 * if (!wouldGrant(current, 'exclusive')) return undefined; // tryAcquire writes nothing
 * ```
 */
export function wouldGrant(claims: readonly EngineClaim[], mode: ClaimMode): boolean {
  return mode === 'exclusive' ? claims.length === 0 : claims.every((claim) => claim.mode === 'shared');
}

/**
 * Sort comparator on engine order, oldest first.
 *
 * @example
 * ```ts
 * claims.sort(byOrder);
 * ```
 */
export function byOrder(a: EngineClaim, b: EngineClaim): number {
  return a.order < b.order ? -1 : a.order > b.order ? 1 : 0;
}
