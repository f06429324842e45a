/**
 * Node layout of the ZooKeeper driver, and the encoding that lets any lock
 * name be one node name.
 *
 * ```
 * <chroot>/<namespace>/locks/<encoded name>                        persistent, created on demand;
 *                                                                  its data: the last departure (record.ts)
 * <chroot>/<namespace>/locks/<encoded name>/<guid>-<read|write>-<seq>  ephemeral sequential: one claim
 * <chroot>/<namespace>/broken/<encoded name>                       persistent: the last break record
 * <chroot>/<namespace>/sessions/<session id>                       ephemeral: present while that session lives
 * ```
 *
 * Under the opt-in `kazoo` layout (layout.ts) the lock nodes are kazoo's lock
 * paths: the namespace is used verbatim as the parent of the lock nodes, so
 * that `KazooClient.Lock('/locks/jobs')` is namespace `locks`, name `jobs`, and
 * tooz's `get_lock(b'jobs')` (tooz namespace `tooz`) is namespace `tooz/locks`,
 * name `jobs`; deadbolt's own nodes move below `%deadbolt`, a node name no
 * encoded lock name can be (encodeURIComponent writes uppercase escapes):
 *
 * ```
 * <chroot>/<namespace>/<encoded name>                              kazoo's lock path (persistent)
 * <chroot>/<namespace>/<encoded name>/<hex>__lock__<seq>           ephemeral sequential: an exclusive claim
 * <chroot>/<namespace>/<encoded name>/<hex>__rlock__<seq>          ephemeral sequential: a shared claim
 * <chroot>/<namespace>/%deadbolt/broken/<encoded name>             the last break record
 * <chroot>/<namespace>/%deadbolt/sessions/<session id>             present while that session lives
 * ```
 *
 * - `<namespace>` is the namespace with each segment named `locks`, `broken`
 *   or `sessions` written `%locks`, `%broken`, `%sessions` (namespace-path.ts),
 *   so namespaces never overlap: `a`'s lock `locks` is `/a/locks/locks`, while
 *   namespace `a/locks` lives under `/a/%locks`.
 * - A claim's name starts with a GUID made for that claim, so a create whose
 *   answer was lost (connection dropped) is found again among the children
 *   instead of being made twice, and no two claims ever share a path: a late
 *   delete can only ever remove the claim it was meant for.
 * - The sequence suffix orders the queue. It is not the fencing token: it
 *   restarts at 0 when the parent is deleted and created again (DESIGN §4);
 *   the token is the claim's `czxid`, the zxid of the transaction that created
 *   it, which only grows, across parents and restarts.
 * - Names are `encodeURIComponent`-encoded (never a `/`; `.` and `..` escaped),
 *   so one name is one node, and a listing decodes children back to names.
 * - A session marks itself alive with an ephemeral node, which ZooKeeper
 *   deletes when the session ends: a waiter whose predecessor's claim vanished
 *   tells "released" (its session still lives) from "expired" by it, so a
 *   release stays a single conditional delete.
 * - Parents are persistent: this client cannot create container nodes (that
 *   needs the 3.5 `createContainer` request), so one empty node per distinct
 *   name stays behind; deleting idle ones at any time is safe.
 *
 * @internal
 * @module
 */
import { namespacePath } from '../../distributed/namespace-path.js';
import { claimPrefix, type ZkLayout } from './layout.js';

export type { QueueEntry as ClaimName } from './layout.js';
export { parseClaim } from './layout.js';

/** The directories of a namespace: a namespace segment with one of these names is escaped. */
const RESERVED = ['locks', 'broken', 'sessions'];

/** Where the `kazoo` layout keeps deadbolt's own nodes: never an encoded lock name (no lowercase escapes). */
const BOOKKEEPING = '%deadbolt';

/**
 * The paths of one chroot and namespace.
 *
 * @example
 * ```ts
 * const paths = new ZkPaths('/apps', 'billing');
 * paths.lockDir('invoices'); // '/apps/billing/locks/invoices'
 * ```
 */
export class ZkPaths {
  /** `<chroot>/<namespace>` (`kazoo`: `<chroot>/<namespace>/%deadbolt`): deadbolt's own nodes. */
  readonly root: string;
  /** How claims are named (layout.ts). */
  readonly layout: ZkLayout;
  /** `<root>/locks` (`kazoo`: `<chroot>/<namespace>`): the parent of the lock nodes. */
  readonly locksRoot: string;
  /** `<root>/broken`. */
  readonly brokenRoot: string;
  /** `<root>/sessions`. */
  readonly sessionsRoot: string;

  constructor(chroot: string, namespace: string, layout: ZkLayout = 'deadbolt') {
    this.layout = layout;
    if (layout === 'kazoo') {
      // kazoo's lock paths are plain paths: the namespace is their parent, as written
      this.locksRoot = `${chroot}/${namespacePath(namespace, [])}`;
      this.root = `${this.locksRoot}/${BOOKKEEPING}`;
    } else {
      this.root = `${chroot}/${namespacePath(namespace, RESERVED)}`;
      this.locksRoot = `${this.root}/locks`;
    }
    this.brokenRoot = `${this.root}/broken`;
    this.sessionsRoot = `${this.root}/sessions`;
  }

  /** The node that exists while session `id` (`0x…`) lives. */
  session(id: string): string {
    return `${this.sessionsRoot}/${id}`;
  }

  /** The parent of every claim of `name`. */
  lockDir(name: string): string {
    return `${this.locksRoot}/${encodeName(name)}`;
  }

  /** Where the last break record of `name` lives. */
  broken(name: string): string {
    return `${this.brokenRoot}/${encodeName(name)}`;
  }

  /** The path to create for a claim under `lockDir` (ZooKeeper appends the sequence number). */
  claimPrefix(lockDir: string, guid: string, mode: 'exclusive' | 'shared'): string {
    return claimPrefix(lockDir, guid, mode, this.layout);
  }
}

/**
 * One lock name as one node name: `encodeURIComponent`, plus `.` and `..`
 * (which ZooKeeper refuses as node names) escaped. Injective, ASCII only.
 *
 * @example
 * ```ts
 * encodeName('a/b'); // 'a%2Fb'
 * encodeName('..');  // '%2E%2E'
 * ```
 */
export function encodeName(name: string): string {
  const encoded = encodeURIComponent(name);
  return encoded === '.' || encoded === '..' ? encoded.replace(/\./g, '%2E') : encoded;
}

/**
 * A node name back to the lock name; `undefined` for a node deadbolt did not name.
 *
 * @example
 * ```ts
 * decodeName('a%2Fb'); // 'a/b'
 * ```
 */
export function decodeName(node: string): string | undefined {
  try {
    return decodeURIComponent(node);
  } catch {
    return undefined;
  }
}
