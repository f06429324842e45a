/**
 * Listing a lock directory: every lock file, its state as the kernel reports it
 * (F_OFD_GETLK), and the holder record when it is held. The record is shown,
 * never trusted: a record in a free file is a leftover of a holder that is gone,
 * and anyone who can write the directory can forge one (docs/security.md).
 * Everything is read through the directory's descriptor; entries that are not
 * regular files (symlinks, FIFOs, directories) are not lock files and are not
 * listed.
 *
 * @module
 */
import { hostname } from 'node:os';
import type { LockInfo } from '../contracts/fenced-guard.js';
import { serialisable } from '../contracts/lock-info-json.js';
import type { DirectoryHandle } from './directory-handle.js';
import { readRecord, readSharedRecords, type HolderRecord, type SharedRecordFile } from './holder-record.js';
import { isLockFileName, nameFromFileName } from './lock-name.js';

/**
 * One file in a lock directory, as `LockDirectory.list()` reports it.
 *
 * @example
 * ```ts
 * const info: LockFileInfo = { file: 'jobs', path: '/run/locks/jobs', name: 'jobs', state: 'free', modifiedAt: new Date(), ageMs: 1200, holders: [] };
 * ```
 */
export interface LockFileInfo {
  /** The file name in the directory (untrusted: anyone who can write the directory chose it). */
  file: string;
  path: string;
  /** The lock name, from the holder record or decoded from the file name; `undefined` if neither tells. */
  name: string | undefined;
  /** From the kernel: `'free'`, held `'shared'` or `'exclusive'`; `'missing'` if it vanished while listing. */
  state: 'free' | 'shared' | 'exclusive' | 'missing';
  /** The holder, from its record, when the file is held and has one (oslo holders write none); the first of them when shared. */
  holder?: LockInfo;
  /** Every holder with a record: one when exclusive, each shared holder when shared. */
  holders: LockInfo[];
  /** The last holder's record in a free file (a leftover of a crash, or of `cleanup: 'never'`). */
  lastHolder?: LockInfo;
  /** The file's modification time: the last grant that wrote a record, or its creation. */
  modifiedAt: Date;
  /** Milliseconds since `modifiedAt`. */
  ageMs: number;
}

/** List the lock files of `handle`'s directory. @internal */
export async function listDirectory(handle: DirectoryHandle, prefix: string | undefined): Promise<LockFileInfo[]> {
  const shared = readSharedRecords(handle);
  const infos: LockFileInfo[] = [];
  for (const file of handle.names().sort()) {
    if (!isLockFileName(file, prefix)) continue;
    const info = describe(handle, file, prefix, shared.get(file) ?? []);
    if (info !== undefined) infos.push(info);
  }
  return infos;
}

function describe(handle: DirectoryHandle, file: string, prefix: string | undefined, sharedRecords: SharedRecordFile[]): LockFileInfo | undefined {
  const stats = handle.stat(file);
  if (stats?.kind !== 'file') return undefined; // gone, or not a lock file at all
  let state: LockFileInfo['state'];
  try {
    state = handle.state(file);
  } catch {
    return undefined; // refused (a hard link, a foreign file): not a lock file we can describe
  }
  const records = holderRecords(handle, file, state, sharedRecords);
  const holders = records.map(toLockInfo);
  const last = state === 'free' ? readRecord(handle, file) : undefined;
  return {
    file,
    path: `${handle.path}/${file}`,
    // A free file's last record names a shortened file's lock; otherwise the file name says it.
    name: records[0]?.name ?? nameFromFileName(file, prefix) ?? last?.name,
    state,
    ...(holders[0] === undefined ? {} : { holder: holders[0] }),
    holders,
    ...(last === undefined ? {} : { lastHolder: toLockInfo(last) }),
    modifiedAt: new Date(stats.mtimeMs),
    ageMs: Math.max(0, Date.now() - stats.mtimeMs),
  };
}

/** The records worth showing for a file in `state`: none when free; shared records of live writers. */
function holderRecords(handle: DirectoryHandle, file: string, state: LockFileInfo['state'], shared: SharedRecordFile[]): HolderRecord[] {
  if (state === 'exclusive') {
    const record = readRecord(handle, file);
    return record === undefined || record.mode !== 'exclusive' ? [] : [record];
  }
  if (state !== 'shared') return [];
  return shared
    .flatMap(({ record }) => (record === undefined || !writerMayLive(record) ? [] : [record]))
    .sort((a, b) => (a.token < b.token ? -1 : 1));
}

/**
 * False only when the writer is provably gone: same host, no such process.
 *
 * @internal
 * @example
 * ```ts
 * writerMayLive(record); // true while the process runs
 * ```
 */
export function writerMayLive(record: HolderRecord): boolean {
  return record.host !== hostname() || pidMayLive(record.pid);
}

/**
 * False only when no process `pid` exists on this host.
 *
 * @internal
 * @example
 * ```ts
 * pidMayLive(process.pid); // true
 * ```
 */
export function pidMayLive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false; // a forged or broken record names no process
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

function toLockInfo(record: HolderRecord): LockInfo {
  return serialisable({
    name: record.name,
    mode: record.mode,
    token: record.token,
    owner: { id: record.id, host: record.host, pid: record.pid, command: record.command },
    since: record.since,
    backend: 'file',
  });
}
