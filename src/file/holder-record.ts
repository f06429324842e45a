/**
 * Holder records: who holds a lock file, written by the holder into the lock
 * file itself after the grant. Informative only: shown by `list()` and the CLI,
 * never used to decide who holds a lock (the kernel lock decides that).
 *
 * Where: an exclusive holder's record goes into the lock file itself, written
 * by the native grant (native/grant.cc) from {@link recordParts}. Shared
 * holders are many, so each writes its own small record file instead, in
 * `.deadbolt-shared/<lock file>@<token>.<pid>` (created on grant, removed on
 * release, and by `clean()` when its writer is gone; the pid in the name tells
 * that even for a writer killed before its record was written), which `list()`
 * reads for files held shared.
 *
 * Format: one line at offset 0, `deadbolt1 <fnv1a-32 hex> <json>\n`. The holder
 * writes it with one `pwrite` and does not truncate, so bytes of an older, longer
 * record may follow the newline; readers take the first line only. A reader
 * racing a writer can see a mix of two records; the checksum makes such a torn
 * read detectable, and the reader retries or reports "no record" rather than a
 * wrong one.
 *
 * @internal
 * @module
 */
import type { DirectoryHandle } from './directory-handle.js';
import { SHARED_RECORDS } from './lock-name.js';

const MAGIC = 'deadbolt1';

/** What a holder writes about itself. */
export interface HolderRecord {
  name: string;
  mode: 'exclusive' | 'shared';
  token: bigint;
  id: string;
  host: string;
  pid: number;
  command: string;
  since: Date;
}

/** FNV-1a, 32 bits, over UTF-8 bytes (native/grant.cc computes the same): all a torn-read check needs. */
function fnv1a(bytes: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i]!;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/**
 * A record's JSON around its token and time, which the native grant fills in.
 *
 * @example
 * ```ts
 * const parts: RecordParts = recordParts('jobs', 'exclusive', owner);
 * ```
 */
export interface RecordParts {
  readonly head: string;
  readonly tail: string;
}

/** The owner half of a record's JSON, cached: a holder writes the same identity on every grant. */
const ownerJson = new WeakMap<object, string>();

function ownerFields(owner: { id: string; host: string; pid: number; command?: string | undefined }): string {
  let json = ownerJson.get(owner);
  if (json === undefined) {
    json = `"id":${JSON.stringify(owner.id)},"host":${JSON.stringify(owner.host)},"pid":${owner.pid},"command":${JSON.stringify(owner.command ?? '')}`;
    ownerJson.set(owner, json);
  }
  return json;
}

/**
 * A record's JSON around its token and time: `head + token + tail + since + '"}'`.
 * The native grant (native/grant.cc) fills in token and time itself, so the
 * format is defined here only.
 */
export function recordParts(
  name: string,
  mode: 'exclusive' | 'shared',
  owner: { id: string; host: string; pid: number; command?: string | undefined },
): RecordParts {
  return { head: `{"name":${JSON.stringify(name)},"mode":"${mode}","token":"`, tail: `",${ownerFields(owner)},"since":"` };
}

/** The text of a record line. */
export function encodeRecord(record: HolderRecord): string {
  const { head, tail } = recordParts(record.name, record.mode, record);
  const json = `${head}${record.token}${tail}${record.since.toISOString()}"}`;
  return `${MAGIC} ${fnv1a(Buffer.from(json))} ${json}\n`;
}

/** Parse the first line of `text`, or `undefined` if it is absent, foreign or torn. */
export function decodeRecord(text: string): HolderRecord | undefined {
  const end = text.indexOf('\n');
  if (end < 0 || !text.startsWith(`${MAGIC} `)) return undefined;
  const line = text.slice(0, end);
  const sum = line.slice(MAGIC.length + 1, MAGIC.length + 9);
  const json = line.slice(MAGIC.length + 10);
  if (fnv1a(Buffer.from(json)) !== sum) return undefined;
  try {
    const raw = JSON.parse(json) as Record<string, unknown>;
    return {
      name: String(raw.name),
      mode: raw.mode === 'shared' ? 'shared' : 'exclusive',
      token: BigInt(String(raw.token)),
      id: String(raw.id),
      host: String(raw.host),
      pid: Number(raw.pid),
      command: String(raw.command ?? ''),
      since: new Date(String(raw.since)),
    };
  } catch {
    return undefined;
  }
}

/**
 * Read the record at the start of file `name` of `handle` (never creating it,
 * never following a symlink, never blocking on a FIFO; a file that is not a
 * regular single-link file of a trusted owner has no record worth showing). A
 * torn read is retried a few times.
 *
 * @example
 * ```ts
 * readRecord(handle, 'jobs')?.pid;
 * ```
 */
export function readRecord(handle: DirectoryHandle, name: string): HolderRecord | undefined {
  for (let attempt = 0; attempt < 3; attempt++) {
    let bytes: Buffer | undefined;
    try {
      bytes = handle.read(name, MAX_RECORD_BYTES);
    } catch {
      return undefined; // refused (unsafe) or unreadable: no record
    }
    if (bytes === undefined || bytes.length === 0) return undefined;
    const record = decodeRecord(bytes.toString('utf8'));
    if (record !== undefined) return record;
  }
  return undefined;
}

/**
 * Whether `bytes` (the start of a file, read under its exclusive lock, so no
 * holder is writing it) are what a lock file holds: nothing, or a valid holder
 * record. `clean` deletes nothing else.
 *
 * @example
 * ```ts
 * holdsOnlyRecord(Buffer.from('')); // true
 * ```
 */
export function holdsOnlyRecord(bytes: Buffer): boolean {
  return bytes.length === 0 || decodeRecord(bytes.toString('utf8')) !== undefined;
}

/** The most a lock file's first line (its record) may take; clean reads this much. */
export const MAX_RECORD_BYTES = 16 * 1024;

/**
 * Write a shared holder's record file into `.deadbolt-shared/` (created with
 * the directory's permissions when missing); returns the record file's name
 * (remove it on release).
 *
 * @example
 * ```ts
 * const file = writeSharedRecord(handle, 'jobs', record, 0o600);
 * ```
 */
export function writeSharedRecord(handle: DirectoryHandle, lockFile: string, record: HolderRecord, mode: number): string {
  const name = `${lockFile}@${record.token}.${record.pid}`;
  handle.sharedRecords(SHARED_RECORDS, true)!.createNew(name, encodeRecord(record), mode);
  return name;
}

/**
 * Remove a shared holder's record file; already gone is fine (clean() may have taken a stale one).
 *
 * @example
 * ```ts
 * removeSharedRecord(handle, 'jobs@17.4242');
 * ```
 */
export function removeSharedRecord(handle: DirectoryHandle, name: string): void {
  handle.sharedRecords(SHARED_RECORDS, false)?.unlink(name);
}

/**
 * One shared holder's record file.
 *
 * @example
 * ```ts
 * const entry: SharedRecordFile = { file: 'jobs@17.4242', record: undefined, writerPid: 4242 };
 * ```
 */
export interface SharedRecordFile {
  /** Its name in `.deadbolt-shared/`. */
  file: string;
  /** Undefined while being written (or torn by a crash, or forged). */
  record: HolderRecord | undefined;
  /** The writer's pid, from the name (undefined for names of releases before it was added). */
  writerPid: number | undefined;
}

/**
 * The shared records of every lock file, by lock file name.
 *
 * @example
 * ```ts
 * readSharedRecords(handle).get('jobs')?.length;
 * ```
 */
export function readSharedRecords(handle: DirectoryHandle): Map<string, SharedRecordFile[]> {
  const byFile = new Map<string, SharedRecordFile[]>();
  let folder: DirectoryHandle | undefined;
  try {
    folder = handle.sharedRecords(SHARED_RECORDS, false);
  } catch {
    return byFile; // a symlink or a foreign directory planted there: nothing to show
  }
  if (folder === undefined) return byFile;
  for (const file of folder.names()) {
    const at = file.lastIndexOf('@');
    if (at <= 0) continue;
    const list = byFile.get(file.slice(0, at)) ?? [];
    const pid = /^\d+\.(\d+)$/.exec(file.slice(at + 1))?.[1];
    list.push({ file, record: readRecord(folder, file), writerPid: pid === undefined ? undefined : Number(pid) });
    byFile.set(file.slice(0, at), list);
  }
  return byFile;
}
