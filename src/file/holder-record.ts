/**
 * Holder records: who holds a lock file, written by the holder into the lock
 * file itself after the grant. Informative only: shown by `list()` and the CLI,
 * never used to decide who holds a lock (the kernel lock decides that).
 *
 * Where: an exclusive holder's record goes into the lock file itself, written
 * by the native grant (native/grant.cc) from {@link recordParts}. Shared
 * holders are many, so each writes its own small record file instead, in
 * `.deadbolt-shared/<lock file>@<token>` (created on grant, removed on release,
 * and by `clean()` when its writer is gone), which `list()` reads for files held shared.
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
import { closeSync, constants, mkdirSync, openSync, readSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MAGIC = 'deadbolt1';
const MAX_RECORD = 16 * 1024;

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
): { head: string; tail: string } {
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
 * Read the record of the lock file at `path` (never creating it, never
 * following a symlink). A torn read is retried a few times.
 */
export function readRecord(path: string): HolderRecord | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const buffer = Buffer.allocUnsafe(MAX_RECORD);
    for (let attempt = 0; attempt < 3; attempt++) {
      const read = readSync(fd, buffer, 0, MAX_RECORD, 0);
      const record = decodeRecord(buffer.toString('utf8', 0, read));
      if (record !== undefined || read === 0) return record;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The folder of shared holders' record files, inside the lock directory. */
export const SHARED_RECORDS = '.deadbolt-shared';

/** Write a shared holder's record file; returns its path (remove it on release). */
export function writeSharedRecord(directory: string, file: string, record: HolderRecord, mode: number): string {
  const folder = join(directory, SHARED_RECORDS);
  const path = join(folder, `${file}@${record.token}`);
  try {
    writeFileSync(path, encodeRecord(record), { flag: 'wx', mode });
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
    mkdirSync(folder, { recursive: true, mode: 0o755 });
    writeFileSync(path, encodeRecord(record), { flag: 'wx', mode });
  }
  return path;
}

/** Remove a shared holder's record file; already gone is fine (clean() may have taken a stale one). */
export function removeSharedRecord(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
}

/** The shared records of every lock file, by lock file name, with their record-file paths. */
export function readSharedRecords(directory: string): Map<string, Array<{ path: string; record: HolderRecord | undefined }>> {
  const byFile = new Map<string, Array<{ path: string; record: HolderRecord | undefined }>>();
  let entries: string[];
  try {
    entries = readdirSync(join(directory, SHARED_RECORDS));
  } catch {
    return byFile;
  }
  for (const entry of entries) {
    const at = entry.lastIndexOf('@');
    if (at <= 0) continue;
    const path = join(directory, SHARED_RECORDS, entry);
    const list = byFile.get(entry.slice(0, at)) ?? [];
    list.push({ path, record: readRecord(path) });
    byFile.set(entry.slice(0, at), list);
  }
  return byFile;
}
