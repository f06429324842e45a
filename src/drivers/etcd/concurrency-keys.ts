/**
 * The `concurrency` layout (layout.ts): claims exactly as Go's
 * `go.etcd.io/etcd/client/v3/concurrency` Mutex writes them, which is what
 * `etcdctl lock <name>` runs.
 *
 * ```
 * <name>/<lease hex>                 one key per claim, empty value, on the session's lease
 * <namespace>/broken/<encoded name>  the last break record of that name (deadbolt only)
 * <namespace>/anchor                 never written
 * ```
 *
 * - The deadbolt lock name IS the Go Mutex's name: `NewMutex(session, name)`
 *   uses the prefix `name + "/"`, so `acquire('jobs')` and `etcdctl lock jobs`
 *   take the same lock. The namespace does not enter the claim keys (it would
 *   make the names differ); it still places the break records.
 * - Every key under `<name>/` is a claim of `name`, as Go's recipe reads the
 *   range: all exclusive (Go has no shared mode), ordered by `create_revision`.
 *   So, as in Go, the keys of a lock `a/b` also queue on the lock `a`.
 * - One key per lease and name: a session holds at most one claim of a name at
 *   a time (the Coordinator's local queue already serialises a process's
 *   exclusive claims; the engine refuses a second one while the first's key is
 *   still there).
 * - The value is empty, as Go writes it: no holder record, so listings show
 *   placeholder owners for every claim, deadbolt's included, and recipe data
 *   has nowhere to live (recipes are off in this layout).
 *
 * @internal
 * @module
 */
import { namespacePath } from '../../distributed/namespace-path.js';
import type { ClaimKeys, ClassifiedKey } from './keys.js';
import { encodeName } from './keys.js';

/** The namespace's directories, escaped as in deadbolt's layout (keys.ts). */
const RESERVED = ['locks', 'broken', 'anchor'];

/** Go's key of a claim: `<name>/<lease in lowercase hex>` (`fmt.Sprintf("%s%x", pfx, lease)`). */
const GO_KEY = /^(.+)\/([0-9a-f]{1,16})$/s;

/**
 * The keys of the `concurrency` layout.
 *
 * @example
 * ```ts
 * const keys = new ConcurrencyKeys('deadbolt');
 * keys.claim('jobs', 0x694dn, 1, 'exclusive'); // 'jobs/694d', as etcdctl lock jobs writes it
 * ```
 */
export class ConcurrencyKeys implements ClaimKeys {
  readonly layout = 'concurrency';
  readonly feedRoot = undefined;
  readonly brokenRoot: string;
  readonly anchor: string;

  constructor(namespace: string) {
    const ns = namespacePath(namespace, RESERVED);
    this.brokenRoot = `${ns}/broken/`;
    this.anchor = `${ns}/anchor`;
  }

  queue(name: string): string {
    encodeName(name); // the same checks as deadbolt's layout: non-empty, at most 1 KiB, well-formed
    return `${name}/`;
  }

  /** The claim number and mode are not part of Go's key: one key per lease (see the module). */
  claim(name: string, lease: bigint, _claim: number, _mode: 'exclusive' | 'shared'): string {
    return `${this.queue(name)}${lease.toString(16)}`;
  }

  broken(name: string): string {
    return `${this.brokenRoot}${encodeName(name)}`;
  }

  listPrefix(prefix: string): string {
    encodeName(prefix, true);
    return prefix;
  }

  /**
   * In a name's range every key is an exclusive claim of it. A prefix listing
   * has no name to go by: it shows only keys of Go's shape (`<name>/<hex>` on
   * the lease the hex names), which are what Go's clients and deadbolt write;
   * any other key shows up in its name's own listing (`exact`).
   */
  classify(key: string, lease: bigint, name?: string): ClassifiedKey | undefined {
    if (name !== undefined) return { name, mode: 'exclusive', own: false };
    const match = GO_KEY.exec(key);
    if (match === null || lease === 0n || BigInt(`0x${match[2]!}`) !== lease) return undefined;
    return { name: match[1]!, mode: 'exclusive', own: false };
  }

  /** Empty, as Go's Mutex writes it. */
  value(): Buffer {
    return Buffer.alloc(0);
  }
}
