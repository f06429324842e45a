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
 * Keys deadbolt did not write. Any other key under `<namespace>/locks/<encoded name>/`
 * (another client's, a hand-written one, a claim key whose lease is not the
 * one its name says) is an EXCLUSIVE claim of that name, in `create_revision`
 * order like ours ({@link KeyLayout.classify}): deadbolt waits for it and lists
 * it with placeholder owner fields, and never reads its value.
 *
 * Limits: names are at most {@link MAX_NAME_BYTES} bytes of UTF-8 (etcd caps a
 * whole request at 1.5 MiB by default, and every claim key repeats the name),
 * non-empty, and well-formed Unicode (no lone surrogates).
 *
 * @internal
 * @module
 */
import { namespacePath } from '../../distributed/namespace-path.js';
import type { LockOwner } from '../../contracts/fenced-guard.js';
import { invalidRange, invalidType } from '../../errors.js';
import type { EtcdLayout } from './layout.js';
import { encodeHolder } from './record.js';

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
 * What a key read back from etcd is, as a claim: of which name, in which
 * mode, and whether deadbolt wrote it (only then is its value read as a holder
 * record).
 */
export interface ClassifiedKey {
  readonly name: string;
  readonly mode: 'exclusive' | 'shared';
  /** Written by deadbolt (its own key shape, on the lease it names). */
  readonly own: boolean;
}

/**
 * Where claims live, in one of the layouts (layout.ts): the engine, its
 * listings and its queue reads only go through this.
 */
export interface ClaimKeys {
  readonly layout: EtcdLayout;
  /** The range the shared DELETE feed watches; `undefined`: claims live anywhere, each is watched on its own. */
  readonly feedRoot: string | undefined;
  /** `<namespace>/broken/`. */
  readonly brokenRoot: string;
  /** `<namespace>/anchor`. */
  readonly anchor: string;
  /** The prefix of every claim of `name` (checks the name). */
  queue(name: string): string;
  /** The claim key of one acquisition. */
  claim(name: string, lease: bigint, claim: number, mode: 'exclusive' | 'shared'): string;
  /** Where the last break record of `name` lives. */
  broken(name: string): string;
  /** The start of the range of every claim of every name that starts with `prefix`. */
  listPrefix(prefix: string): string;
  /**
   * A key read back: with `name`, a key of the range `queue(name)` (always a
   * claim of it); without, a key of a prefix listing (`undefined` when it is no
   * claim of any name). `lease` is the key's lease as etcd reports it.
   */
  classify(key: string, lease: bigint, name?: string): ClassifiedKey | undefined;
  /** The value a claim key is written with. */
  value(owner: LockOwner, since: Date, data: string | undefined): Buffer;
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
export class KeyLayout implements ClaimKeys {
  readonly layout = 'deadbolt';
  readonly feedRoot: string;
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
    this.feedRoot = this.locksRoot;
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

  /**
   * Ours when it parses as our claim key, of `name`, on the lease it names;
   * else a foreign exclusive claim of the name whose prefix holds it (one whose
   * first segment is the exact encoding of a name: `%41/…` is no prefix
   * deadbolt reads, "A"'s is `A/`).
   */
  classify(key: string, lease: bigint, name?: string): ClassifiedKey | undefined {
    const parsed = this.parseClaim(key);
    if (parsed !== undefined && (name === undefined || parsed.name === name) && BigInt(`0x${parsed.leaseHex}`) === lease && lease !== 0n) {
      return { name: parsed.name, mode: parsed.mode, own: true };
    }
    if (name !== undefined) return { name, mode: 'exclusive', own: false };
    const owner = this.nameOf(key);
    return owner === undefined ? undefined : { name: owner, mode: 'exclusive', own: false };
  }

  value(owner: LockOwner, since: Date, data: string | undefined): Buffer {
    return encodeHolder(owner, since, data);
  }

  /** The name whose claim range holds `key`, or `undefined` when no name's does. */
  nameOf(key: string): string | undefined {
    if (!key.startsWith(this.locksRoot)) return undefined;
    const rest = key.slice(this.locksRoot.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return undefined;
    const segment = rest.slice(0, slash);
    let name: string;
    try {
      name = decodeURIComponent(segment);
      if (encodeName(name) !== segment) return undefined;
    } catch {
      return undefined; // no name encodes to it
    }
    return name;
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
