/**
 * Lock names and the files they live in.
 *
 * Names follow the one rule of every backend (src/internal/lock-name.ts: 1 to
 * 256 characters, no control characters). Two ways to turn one into a file name:
 * - deadbolt's own (no `prefix`): the name is percent-encoded where a file name
 *   cannot hold it or could be mistaken for something else (`%` → `%25`, `/` →
 *   `%2F`, `~` → `%7E`, a leading `.` → `%2E`), so distinct names always map to
 *   distinct files, no name is hidden, and none can reach a bookkeeping file
 *   (those all start with `.deadbolt`).
 * - oslo.concurrency's (with a `prefix`): `<prefix>-<name>` (no `-` added when the
 *   prefix already ends in one) with `/` replaced by `_`, exactly as oslo's
 *   `lockutils` builds external lock paths, so both libraries meet on one file.
 *   (Distinct names may share a file under this rule: that over-excludes, never
 *   under-excludes.) A prefix may not start with `.`, so no prefixed name can
 *   reach a bookkeeping file either.
 *
 * Long names: a file name is limited to 255 bytes. A longer one is cut at a
 * character boundary to 200 bytes and followed by `~` and 16 hex digits of the
 * SHA-256 of the whole file name, deterministically, so every process maps a
 * long name to the same file. Since deadbolt's encoding turns every `~` of a
 * name into `%7E`, a literal name can never look like a shortened one.
 *
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { invalidRange, invalidType } from '../errors.js';
import { checkLockName } from '../internal/lock-name.js';

export { checkLockName };

/** Bytes a file name may have on Linux file systems. */
const NAME_MAX = 255;
/** Where a long name is cut before its hash. */
const KEEP_BYTES = 200;

/** Every bookkeeping file's name starts with this; no lock file's can. */
export const BOOKKEEPING_PREFIX = '.deadbolt';
/** The marker that makes a directory a lock directory (marker.ts). */
export const MARKER_FILE = '.deadbolt-directory';
/** The fencing-token counter (native/grant.h names it too). */
export const TOKEN_FILE = '.deadbolt-tokens';
/** The break audit log (src/cli/audit.ts). */
export const AUDIT_FILE = '.deadbolt-audit.log';
/** The folder of shared holders' record files (holder-record.ts). */
export const SHARED_RECORDS = '.deadbolt-shared';

/** The folder of Web Locks steal requests (steal-request.ts). */
export const STEAL_REQUESTS = '.deadbolt-steal';

/**
 * Whether a directory entry is deadbolt's own bookkeeping, not a lock file.
 *
 * @example
 * ```ts
 * isBookkeeping('.deadbolt-tokens'); // true
 * ```
 */
export function isBookkeeping(file: string): boolean {
  return file.startsWith(BOOKKEEPING_PREFIX);
}

/**
 * Check an oslo.concurrency prefix: a non-empty string without `/`, NUL or
 * other control characters, not starting with `.`.
 *
 * @example
 * ```ts
 * checkPrefix('nova'); // 'nova'
 * ```
 */
export function checkPrefix(prefix: unknown, what = 'options.prefix'): string | undefined {
  if (prefix === undefined) return undefined;
  if (typeof prefix !== 'string' || prefix.length === 0) throw invalidType(what, 'a non-empty string', prefix);
  // eslint-disable-next-line no-control-regex
  if (/[/\u0000-\u001f\u007f-\u009f]/.test(prefix)) throw invalidRange(what, 'a string without "/" or control characters', prefix);
  if (prefix.startsWith('.')) {
    throw invalidRange(what, 'a prefix that does not start with "." (names starting with "." are reserved for bookkeeping files)', prefix);
  }
  if (Buffer.byteLength(prefix) > KEEP_BYTES) throw invalidRange(what, `at most ${KEEP_BYTES} bytes`, prefix);
  return prefix;
}

/**
 * The file name (not path) holding lock `name`.
 *
 * @example
 * ```ts
 * lockFileName('a/b', undefined); // 'a%2Fb'
 * lockFileName('a/b', 'nova');    // 'nova-a_b'
 * ```
 */
export function lockFileName(name: string, prefix: string | undefined): string {
  const base = prefix === undefined ? encodeName(name) : osloName(name, prefix);
  return fitFileName(base);
}

function encodeName(name: string): string {
  const encoded = name.replaceAll('%', '%25').replaceAll('/', '%2F').replaceAll('~', '%7E');
  return encoded.startsWith('.') ? `%2E${encoded.slice(1)}` : encoded;
}

function osloName(name: string, prefix: string): string {
  const sep = prefix.endsWith('-') ? '' : '-';
  return `${prefix}${sep}${name.replaceAll('/', '_')}`;
}

/**
 * The lock name a file name stands for, when it can be told without a holder
 * record; `undefined` for a shortened name, one that is not ours, or (with a
 * prefix) one without it.
 *
 * @example
 * ```ts
 * nameFromFileName('a%2Fb', undefined); // 'a/b'
 * ```
 */
export function nameFromFileName(file: string, prefix: string | undefined): string | undefined {
  if (/~[0-9a-f]{16}$/.test(file)) return undefined; // shortened: only the holder record knows the name
  if (prefix === undefined) {
    try {
      return decodeURIComponent(file.replaceAll(/%(?!25|2F|2E|7E)/g, '%25'));
    } catch {
      return undefined;
    }
  }
  const start = prefix.endsWith('-') ? prefix : `${prefix}-`;
  return file.startsWith(start) ? file.slice(start.length) : undefined;
}

/**
 * Whether a file of a directory can be a lock file under `prefix`: never a
 * bookkeeping file; with a prefix, only `<prefix>-*` (oslo's lock_path holds
 * other files of its services, which are not ours to list or clean).
 *
 * @example
 * ```ts
 * isLockFileName('nova-x', 'nova'); // true
 * ```
 */
export function isLockFileName(file: string, prefix: string | undefined): boolean {
  if (isBookkeeping(file)) return false;
  if (prefix === undefined) return true;
  return file.startsWith(prefix.endsWith('-') ? prefix : `${prefix}-`);
}

function fitFileName(file: string): string {
  const bytes = Buffer.from(file);
  if (bytes.length <= NAME_MAX) return file;
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  // Cut at a character boundary: back off over UTF-8 continuation bytes.
  let end = KEEP_BYTES;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString()}~${hash}`;
}
