/**
 * Lock names and the files they live in.
 *
 * Two naming rules:
 * - deadbolt's own (no `prefix`): the name is percent-encoded where a file name
 *   cannot hold it (`%` → `%25`, `/` → `%2F`, a leading `.` → `%2E`), so distinct
 *   names always map to distinct files and no name is hidden or special.
 * - oslo.concurrency's (with a `prefix`): `<prefix>-<name>` (no `-` added when the
 *   prefix already ends in one) with `/` replaced by `_`, exactly as oslo's
 *   `lockutils` builds external lock paths, so both libraries meet on one file.
 *   (Distinct names may share a file under this rule: that over-excludes, never under-excludes.)
 *
 * Names such as `.`, `..` or `../etc` need no special refusal: `/` is always
 * encoded or replaced and a leading `.` is encoded, so no name can address
 * another directory or a hidden file.
 *
 * Long names: a file name is limited to 255 bytes. A longer one is cut at a
 * character boundary to 200 bytes and followed by `~` and 16 hex digits of the
 * SHA-256 of the whole file name, deterministically, so every process maps a
 * long name to the same file.
 *
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { invalidRange, invalidType } from '../errors.js';

/** Bytes a file name may have on Linux file systems. */
const NAME_MAX = 255;
/** Where a long name is cut before its hash. */
const KEEP_BYTES = 200;
/** The longest lock name accepted at all (holder records carry it whole). */
export const MAX_LOCK_NAME_BYTES = 4096;

/** Files of deadbolt's own in a lock directory; they never collide with lock files (those never start with `.`). */
export const TOKEN_FILE = '.deadbolt-tokens';
export const AUDIT_FILE = '.deadbolt-audit.log';

/** Check a lock name, throwing an argument error that says what is allowed. */
export function checkLockName(name: unknown): string {
  if (typeof name !== 'string') throw invalidType('name', 'a non-empty string', name);
  if (name.length === 0) throw invalidRange('name', 'a non-empty string', name);
  if (name.includes('\0')) throw invalidRange('name', 'a string without NUL characters', name);
  if (Buffer.byteLength(name) > MAX_LOCK_NAME_BYTES) {
    throw invalidRange('name', `at most ${MAX_LOCK_NAME_BYTES} bytes of UTF-8`, name);
  }
  return name;
}

/** Check a prefix: like a name, without `/`. */
export function checkPrefix(prefix: unknown): string | undefined {
  if (prefix === undefined) return undefined;
  if (typeof prefix !== 'string' || prefix.length === 0) throw invalidType('options.prefix', 'a non-empty string', prefix);
  if (prefix.includes('/') || prefix.includes('\0')) throw invalidRange('options.prefix', 'a string without "/" or NUL', prefix);
  return prefix;
}

/** The file name (not path) holding lock `name`. */
export function lockFileName(name: string, prefix: string | undefined): string {
  const base = prefix === undefined ? encodeName(name) : osloName(name, prefix);
  return fitFileName(base);
}

function encodeName(name: string): string {
  const encoded = name.replaceAll('%', '%25').replaceAll('/', '%2F');
  return encoded.startsWith('.') ? `%2E${encoded.slice(1)}` : encoded;
}

function osloName(name: string, prefix: string): string {
  const sep = prefix.endsWith('-') ? '' : '-';
  return `${prefix}${sep}${name.replaceAll('/', '_')}`;
}

/** The lock name a file name stands for, when it can be told without a holder record. */
export function nameFromFileName(file: string, prefix: string | undefined): string | undefined {
  if (/~[0-9a-f]{16}$/.test(file)) return undefined; // shortened: only the holder record knows the name
  if (prefix === undefined) {
    try {
      return decodeURIComponent(file.replaceAll(/%(?!25|2F|2E)/g, '%25'));
    } catch {
      return undefined;
    }
  }
  const start = prefix.endsWith('-') ? prefix : `${prefix}-`;
  return file.startsWith(start) ? file.slice(start.length) : undefined;
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
