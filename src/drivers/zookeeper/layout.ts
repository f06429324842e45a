/**
 * The node-name layouts of the ZooKeeper driver: which children of a lock node
 * are claims of which mode, in which order, and what a claim of ours is named.
 *
 * - `deadbolt` (the default, unchanged on the wire): `<guid>-<read|write>-<seq>`.
 * - `kazoo` (opt-in, `?layout=kazoo`): kazoo's Lock / WriteLock / ReadLock,
 *   which tooz's ZooKeeper driver uses: `<32 hex>__lock__<seq>` (exclusive)
 *   and `<32 hex>__rlock__<seq>` (shared). kazoo orders both kinds by the
 *   10-digit sequence suffix; an exclusive node waits for every lower one, a
 *   shared one for lower `__lock__` ones: the core's blocker rule.
 *
 * Whatever the layout, a child deadbolt cannot read as a claim of its layout
 * (kazoo's, Curator's, anyone's) is a FOREIGN claim: exclusive, ordered by its
 * 10-digit sequence suffix when it has one (ZooKeeper's sequence counter is
 * the parent's, so every sequential child of one lock node is comparable), and
 * otherwise older than everything, so that it blocks every claim until it is
 * deleted (a plain, non-sequential child cannot be placed in the queue, and
 * guessing a place would grant beside it). The rest of a foreign node
 * (its name before the suffix, its data) is never interpreted.
 *
 * Both layouts also read the other's own names with their modes (a deadbolt
 * `…-read-…` node is shared under `kazoo` too): deadbolt clients of one lock
 * node exclude each other whichever layout each uses.
 *
 * @internal
 * @module
 */
import { randomUUID } from 'node:crypto';

/**
 * A layout's name, as `?layout=` and `driverOptions.layout` take it.
 *
 * @example
 * ```ts
 * const layout: ZkLayout = 'kazoo';
 * ```
 */
export type ZkLayout = 'deadbolt' | 'kazoo';

/** The accepted values of `layout`, in the order an error message lists them. */
export const LAYOUTS: readonly ZkLayout[] = ['deadbolt', 'kazoo'];

/**
 * One child of a lock node, read as a claim.
 *
 * @example
 * ```ts
 * const entry: QueueEntry = parseChild('3f2a…__lock__0000000004', 'kazoo');
 * // { node, guid: '3f2a…', mode: 'exclusive', seq: 4 }
 * ```
 */
export interface QueueEntry {
  /** The node's name (no path). */
  readonly node: string;
  /** The claim's identity in its name; `''` for a foreign node. */
  readonly guid: string;
  readonly mode: 'exclusive' | 'shared';
  /**
   * Its place in the queue: the sequence suffix ZooKeeper appended (a signed
   * 32-bit counter of the parent), or, for a foreign node without one, a
   * number below every such suffix ({@link UNSEQUENCED}).
   */
  readonly seq: number;
  /** A node deadbolt cannot read as a claim of its layout: exclusive, untrusted. */
  readonly foreign?: true;
}

/**
 * Where foreign nodes without a sequence suffix go: below the smallest 32-bit
 * sequence number, so they are older than every sequential claim.
 */
export const UNSEQUENCED = -(2 ** 40);

const DEADBOLT = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-(read|write)-(-?\d+)$/;
/** kazoo's names: `uuid4().hex` then `__lock__` or `__rlock__`, then ZooKeeper's `%010d`. */
const KAZOO = /^([0-9a-f]{32})__(lock|rlock)__(\d{10}|-\d{9})$/;
/** ZooKeeper's sequence suffix (`%010d`) at the end of anyone's node name. */
const SEQUENCE = /(\d{10})$/;

/**
 * A fresh claim identity for `layout`: a UUID (`deadbolt`), or one without
 * dashes (`kazoo`, which names its nodes after `uuid4().hex`).
 *
 * @example
 * ```ts
 * newClaimId('kazoo'); // '3f2a9c…' (32 hex digits)
 * ```
 */
export function newClaimId(layout: ZkLayout): string {
  const id = randomUUID();
  return layout === 'kazoo' ? id.replace(/-/g, '') : id;
}

/**
 * The path to create for a claim under `lockDir` (ZooKeeper appends the sequence number).
 *
 * @example
 * ```ts
 * claimPrefix('/tooz/locks/jobs', id, 'exclusive', 'kazoo'); // '/tooz/locks/jobs/<id>__lock__'
 * ```
 */
export function claimPrefix(lockDir: string, guid: string, mode: 'exclusive' | 'shared', layout: ZkLayout): string {
  if (layout === 'kazoo') return `${lockDir}/${guid}${mode === 'exclusive' ? '__lock__' : '__rlock__'}`;
  return `${lockDir}/${guid}-${mode === 'exclusive' ? 'write' : 'read'}-`;
}

/**
 * Parse a deadbolt-named claim node; `undefined` if it is not one.
 *
 * @example
 * ```ts
 * parseClaim('0f8e…-write-0000000007'); // { guid: '0f8e…', mode: 'exclusive', seq: 7 }
 * ```
 */
export function parseClaim(node: string): QueueEntry | undefined {
  const match = DEADBOLT.exec(node);
  if (match === null) return undefined;
  return { node, guid: match[1]!, mode: match[2] === 'write' ? 'exclusive' : 'shared', seq: Number(match[3]) };
}

/**
 * Parse a kazoo-named claim node; `undefined` if it is not one.
 *
 * @example
 * ```ts
 * parseKazoo('3f2a…__rlock__0000000003'); // { guid: '3f2a…', mode: 'shared', seq: 3 }
 * ```
 */
export function parseKazoo(node: string): QueueEntry | undefined {
  const match = KAZOO.exec(node);
  if (match === null) return undefined;
  return { node, guid: match[1]!, mode: match[2] === 'lock' ? 'exclusive' : 'shared', seq: Number(match[3]) };
}

/**
 * Any child of a lock node as a claim under `layout`; a node of neither
 * deadbolt's names nor the layout's is foreign: exclusive, at its sequence
 * suffix, or {@link UNSEQUENCED} + `index` without one (`index` keeps several
 * such nodes apart; the caller numbers them in a stable order).
 *
 * @example
 * ```ts
 * parseChild('_c_8e…-lock-0000000002', 'deadbolt'); // { guid: '', mode: 'exclusive', seq: 2, foreign: true }
 * parseChild('config', 'deadbolt');                // { …, seq: UNSEQUENCED, foreign: true }
 * ```
 */
export function parseChild(node: string, layout: ZkLayout, index = 0): QueueEntry {
  const own = parseClaim(node) ?? (layout === 'kazoo' ? parseKazoo(node) : undefined);
  if (own !== undefined) return own;
  const suffix = SEQUENCE.exec(node);
  return { node, guid: '', mode: 'exclusive', seq: suffix === null ? UNSEQUENCED + index : Number(suffix[1]), foreign: true };
}
