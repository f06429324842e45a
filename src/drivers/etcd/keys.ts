/**
 * Key layout of the etcd driver, and the encoding that lets any Unicode lock
 * name live in a key.
 *
 * ```
 * <namespace>/locks/<encoded name>/<lease hex>-<claim>-<x|s>   one key per claim (holder or waiter)
 * <namespace>/broken/<encoded name>                            the last break record of that name
 * <namespace>/anchor                                           never written: watched to keep the watch stream open
 * ```
 *
 * - `<namespace>` is the namespace with each segment named `locks`, `broken`
 *   or `anchor` written `%locks`, `%broken`, `%anchor` (namespace-path.ts), so
 *   namespaces never overlap: `a`'s lock `locks` is `a/locks/locks/…`, while
 *   namespace `a/locks` lives under `a/%locks/…`.
 * - The encoded name never contains `/`, so `<namespace>/locks/<encoded name>/`
 *   is a prefix that holds the claims of exactly one name ("a" never sees the
 *   claims of "a/b").
 * - Encoding is `encodeURIComponent` (UTF-8, percent-escaped): readable for
 *   ASCII names, and the encoding of a name prefix is a key prefix, so
 *   `list(prefix)` is one range read.
 * - A claim key carries the lease that owns it (as etcd's own recipe does), a
 *   per-session claim number (two claims of one session never share a key, so a
 *   stale release can never delete a newer claim: etcd issue 22082), and the mode,
 *   so that waiters can find their predecessor from a keys-only read.
 *
 * Limits: names are at most {@link MAX_NAME_BYTES} bytes of UTF-8 (etcd caps a
 * whole request at 1.5 MiB by default, and every claim key repeats the name),
 * non-empty, and well-formed Unicode (no lone surrogates).
 *
 * @internal
 * @module
 */
import { namespacePath } from '../../distributed/namespace-path.js';
import { invalidRange, invalidType } from '../../errors.js';

/** The directories of a namespace: a namespace segment with one of these names is escaped. */
const RESERVED = ['locks', 'broken', 'anchor'];

/** The longest lock name accepted, in bytes of UTF-8. */
export const MAX_NAME_BYTES = 1024;

/** A parsed claim key. */
export interface ClaimKey {
  /** The lock name, decoded. */
  readonly name: string;
  /** The lease that owns the claim, in hex (etcd's own notation). */
  readonly leaseHex: string;
  readonly mode: 'exclusive' | 'shared';
}

/**
 * The keys of one namespace.
 *
 * @example
 * ```ts
 * const keys = new KeyLayout('billing');
 * keys.claim('invoices', 0x694dn, 7, 'exclusive'); // 'billing/locks/invoices/694d-7-x'
 * ```
 */
export class KeyLayout {
  /** `<namespace>/locks/`. */
  readonly locksRoot: string;
  /** `<namespace>/broken/`. */
  readonly brokenRoot: string;
  /** `<namespace>/anchor`. */
  readonly anchor: string;

  constructor(namespace: string) {
    const ns = namespacePath(namespace, RESERVED);
    this.locksRoot = `${ns}/locks/`;
    this.brokenRoot = `${ns}/broken/`;
    this.anchor = `${ns}/anchor`;
  }

  /** The prefix of every claim of `name`. */
  queue(name: string): string {
    return `${this.locksRoot}${encodeName(name)}/`;
  }

  /** The claim key of one acquisition. */
  claim(name: string, lease: bigint, claim: number, mode: 'exclusive' | 'shared'): string {
    return `${this.queue(name)}${lease.toString(16)}-${claim.toString(16)}-${mode === 'exclusive' ? 'x' : 's'}`;
  }

  /** Where the last break record of `name` lives. */
  broken(name: string): string {
    return `${this.brokenRoot}${encodeName(name)}`;
  }

  /**
   * The start of the range holding every claim of every name that starts with
   * `prefix` (pair it with {@link rangeEnd}).
   */
  listPrefix(prefix: string): string {
    return prefix === '' ? this.locksRoot : `${this.locksRoot}${encodeName(prefix, true)}`;
  }

  /** Parse a claim key read back from etcd; `undefined` if it is not one of ours. */
  parseClaim(key: string): ClaimKey | undefined {
    if (!key.startsWith(this.locksRoot)) return undefined;
    const rest = key.slice(this.locksRoot.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return undefined;
    const match = /^([0-9a-f]+)-[0-9a-f]+-([xs])$/.exec(rest.slice(slash + 1));
    if (match === null) return undefined;
    let name: string;
    try {
      name = decodeURIComponent(rest.slice(0, slash));
    } catch {
      return undefined; // not written by deadbolt
    }
    return { name, leaseHex: match[1]!, mode: match[2] === 'x' ? 'exclusive' : 'shared' };
  }
}

/**
 * The first key after every key starting with `prefix` (etcd's `range_end` for
 * a prefix scan): the prefix with its last byte incremented.
 */
export function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every key: etcd's "\0" means "to the end"
}

/**
 * Check a lock name and encode it for a key. A prefix (for `list`) may be any
 * string, even one a name could not be, as long as it is well-formed.
 */
export function encodeName(name: string, isPrefix = false): string {
  const what = isPrefix ? 'prefix' : 'name';
  if (typeof name !== 'string') throw invalidType(what, 'a string', name);
  if (!isPrefix && name.length === 0) throw invalidRange(what, 'a non-empty string', name);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) {
    throw invalidRange(what, `at most ${MAX_NAME_BYTES} bytes of UTF-8 on etcd (this one has ${bytes})`, name);
  }
  try {
    return encodeURIComponent(name);
  } catch {
    // URIError: a lone surrogate, which has no UTF-8 form
    throw invalidType(what, 'well-formed Unicode (no lone surrogates)', name);
  }
}
