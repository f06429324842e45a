/**
 * Keeping credentials out of everything deadbolt lets go of: error messages,
 * `cause` chains (client libraries' errors may quote a URL, an option or a
 * reply), diagnostics and listings.
 *
 * Messages deadbolt writes never include a URL's user information (see
 * `redact` in connect-url.ts). This is the second line, for text deadbolt did
 * not write: every spelling of each secret (as written in the URL, decoded,
 * percent-encoded as `encodeURIComponent` and as WHATWG URL do) is replaced by
 * `***` wherever it occurs in an error, its causes (`AggregateError.errors`
 * included) and the plain objects they carry.
 *
 * Limit: secrets shorter than {@link MIN_SECRET_LENGTH} characters are hidden in
 * URLs but not searched for in free text, where they would erase ordinary
 * words (a one-letter password occurs in every message).
 *
 * @internal
 * @module
 */
import { userInfoOf } from './connect-url.js';

/** Shorter secrets are not searched for in free text. @internal */
export const MIN_SECRET_LENGTH = 4;

/** What a secret is replaced with. */
const MASK = '***';

/** `driverOptions` keys whose string values are secrets (`password`, `sentinelPassword`, `auth`, `token`, …). */
const SECRET_KEY = /pass|secret|token|^auth$/i;

/** How deep nested causes and option objects are searched. */
const MAX_DEPTH = 8;

/**
 * The secrets of one `connect()` call, and the means to take them out of text
 * and errors.
 *
 * @example
 * ```ts
 * const secrets = Secrets.of('redis://:p%2Fss@10.0.0.1:6379', {});
 * secrets.text('AUTH p/ss failed'); // 'AUTH *** failed'
 * ```
 * @internal
 */
export class Secrets {
  /** Longest first, so that no shorter secret splits a longer one before it is masked. */
  readonly #values: readonly string[];

  private constructor(values: Iterable<string>) {
    this.#values = [...new Set(values)].filter((v) => v.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  }

  /** The secrets of a backend URL (its user information) and of `driverOptions`. */
  static of(url: string, driverOptions: unknown): Secrets {
    const userInfo = userInfoOf(url);
    return new Secrets([...(userInfo === undefined ? [] : userInfoSpellings(userInfo)), ...optionSecrets(driverOptions, 0)]);
  }

  /** Whether there is nothing to hide. */
  get empty(): boolean {
    return this.#values.length === 0;
  }

  /** `text` with every secret masked. */
  text(text: string): string {
    let out = text;
    for (const value of this.#values) if (out.includes(value)) out = out.split(value).join(MASK);
    return out;
  }

  /**
   * `value` with every secret masked, in place where it is an error or a plain
   * object (so identities stay), else a masked copy: strings, and errors whose
   * properties cannot be written (frozen).
   */
  scrub<T>(value: T): T {
    if (this.empty) return value;
    return this.#scrub(value, new Set(), 0) as T;
  }

  #scrub(value: unknown, seen: Set<object>, depth: number): unknown {
    if (typeof value === 'string') return this.text(value);
    if (value === null || typeof value !== 'object' || seen.has(value) || depth > MAX_DEPTH || !searchable(value)) return value;
    seen.add(value);
    let writable = true;
    for (const key of Object.getOwnPropertyNames(value)) {
      const before = readOwn(value, key);
      const after = this.#scrub(before, seen, depth + 1);
      if (after !== before && !writeOwn(value, key, after)) writable = false;
    }
    return writable || !(value instanceof Error) ? value : this.#copy(value);
  }

  /** A masked stand-in for an error that cannot be changed in place. */
  #copy(error: Error): Error {
    const copy = new Error(this.text(error.message));
    copy.name = error.name;
    copy.stack = this.text(String(error.stack));
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') Object.assign(copy, { code });
    return copy;
  }
}

/**
 * Every spelling of user information `written` (`user:password`, as in the
 * URL) that a library or a reply could quote: as written, decoded, and the
 * password alone in each of those and percent-encoded (encodeURIComponent's
 * and WHATWG URL's sets differ). A user name alone (no `:`) is not a secret.
 */
function userInfoSpellings(written: string): string[] {
  const colon = written.indexOf(':');
  if (colon < 0) return []; // `scheme://user@host`: a user name, no password
  const password = written.slice(colon + 1);
  // A user name with a raw ':' leaves the split ambiguous: the part after the last ':' too.
  const last = written.slice(written.lastIndexOf(':') + 1);
  const spellings = [written, decoded(written)];
  for (const part of [password, last]) {
    const plain = decoded(part);
    spellings.push(part, plain, encodeURIComponent(plain), whatwgEncoded(plain), whatwgEncoded(part));
  }
  return spellings;
}

/** Percent-decoding that leaves a malformed escape as it is instead of throwing. */
function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** How WHATWG URL spells `password` in `url.password` and `url.href`. */
function whatwgEncoded(password: string): string {
  const url = new URL('x://h');
  url.password = password;
  return url.password;
}

/** String values under secret-looking keys of `options`, searched through plain objects and arrays. */
function optionSecrets(options: unknown, depth: number): string[] {
  if (options === null || typeof options !== 'object' || depth > 3 || !searchable(options)) return [];
  const found: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (typeof value === 'string' && SECRET_KEY.test(key)) found.push(...secretSpellings(value));
    else found.push(...optionSecrets(value, depth + 1));
  }
  return found;
}

/** A secret option, and for `user:password` (ZooKeeper's digest `auth`) the password alone. */
function secretSpellings(value: string): string[] {
  const colon = value.indexOf(':');
  return colon < 0 ? [value, encodeURIComponent(value)] : [value, value.slice(colon + 1), encodeURIComponent(value.slice(colon + 1))];
}

/** Errors, arrays and plain objects: what errors carry as data. Not sockets, clients or buffers. */
function searchable(value: object): boolean {
  if (value instanceof Error || Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function readOwn(target: object, key: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(target, key)!;
  if ('value' in descriptor) return descriptor.value;
  // `stack` may be an accessor on the instance; other accessors are not ours to call.
  return key === 'stack' ? (target as { stack?: unknown }).stack : undefined;
}

function writeOwn(target: object, key: string, value: unknown): boolean {
  try {
    const descriptor = Object.getOwnPropertyDescriptor(target, key)!;
    Object.defineProperty(target, key, { value, writable: true, enumerable: descriptor.enumerable ?? false, configurable: true });
    return true;
  } catch {
    return false;
  }
}
