/**
 * What a lock name may be, checked the same way by LockDirectory, the CLI and every driver
 * so that an application can move between engines by changing a URL.
 *
 * Allowed: any string of 1 to 256 characters (UTF-16 code units) without
 * control characters (U+0000–U+001F, U+007F–U+009F) and without unpaired
 * surrogates. `/`, spaces and any other printable Unicode are fine: each driver
 * encodes names for its engine (key escaping, file name encoding), so two
 * distinct names never collide.
 *
 * @module
 */
import { invalidRange, invalidType } from '../errors.js';

/**
 * The longest lock name accepted, in UTF-16 code units.
 *
 * @example
 * ```ts
 * 'x'.repeat(MAX_LOCK_NAME_LENGTH); // the longest valid name
 * ```
 */
export const MAX_LOCK_NAME_LENGTH = 256;

/** Control characters, and lone surrogates (`\p{Cs}` only matches unpaired ones under /u). */
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u;

/**
 * Check a lock name: throws a TypeError / RangeError (code `DEADBOLT_INVALID_ARGUMENT`)
 * naming `what` and the value seen.
 * @internal
 */
export function checkLockName(name: unknown, what = 'name'): string {
  if (typeof name !== 'string') throw invalidType(what, 'a string (the lock name)', name);
  if (name.length === 0 || name.length > MAX_LOCK_NAME_LENGTH) {
    throw invalidRange(what, `a string of 1 to ${MAX_LOCK_NAME_LENGTH} characters`, name);
  }
  checkCharacters(name, what);
  return name;
}

/**
 * Check a name prefix for `list(prefix)`: like a name, but may be empty (everything).
 * @internal
 */
export function checkLockPrefix(prefix: unknown, what = 'prefix'): string {
  if (prefix === undefined) return '';
  if (typeof prefix !== 'string') throw invalidType(what, 'a string (a lock name prefix)', prefix);
  if (prefix.length > MAX_LOCK_NAME_LENGTH) {
    throw invalidRange(what, `a string of at most ${MAX_LOCK_NAME_LENGTH} characters`, prefix);
  }
  checkCharacters(prefix, what);
  return prefix;
}

function checkCharacters(value: string, what: string): void {
  const bad = FORBIDDEN.exec(value);
  if (bad !== null) {
    const code = bad[0].codePointAt(0)!.toString(16).padStart(4, '0');
    throw invalidRange(what, `free of control characters and unpaired surrogates (found U+${code} at index ${bad.index})`, value);
  }
}
