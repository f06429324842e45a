/**
 * Listing a lock directory: every lock file, its state as the kernel reports it
 * (F_OFD_GETLK), and the holder record when it is held. The record is shown,
 * never trusted: a record in a free file is a leftover of a holder that is gone.
 *
 * @module
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LockInfo } from '../local/fenced-guard.js';
import { hostname } from 'node:os';
import { readRecord, readSharedRecords, type HolderRecord } from './holder-record.js';
import { nameFromFileName } from './lock-name.js';
import * as native from './native.js';

/**
 * One file in a lock directory, as `LockDirectory.list()` reports it.
 *
 * @example
 * ```ts
 * const info: LockFileInfo = { file: 'jobs', path: '/run/locks/jobs', name: 'jobs', state: 'free', modifiedAt: new Date(), ageMs: 1200 };
 * ```
 */
export interface LockFileInfo {
  /** The file name in the directory. */
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
  /** The file's modification time: the last grant that wrote a record, or its creation. */
  modifiedAt: Date;
  /** Milliseconds since `modifiedAt`. */
  ageMs: number;
}

/** Whether a directory entry is deadbolt's own bookkeeping, not a lock file. */
export function isBookkeeping(file: string): boolean {
  return file.startsWith('.deadbolt');
}

/** List `directory`; an absent directory lists as empty. @internal */
export async function listDirectory(directory: string, prefix: string | undefined): Promise<LockFileInfo[]> {
  let entries: string[];
  try {
    entries = await readdir(directory);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
  const shared = readSharedRecords(directory);
  const infos: LockFileInfo[] = [];
  for (const file of entries.sort()) {
    if (isBookkeeping(file)) continue;
    const info = await describe(directory, file, prefix, shared.get(file) ?? []);
    if (info !== undefined) infos.push(info);
  }
  return infos;
}

async function describe(
  directory: string,
  file: string,
  prefix: string | undefined,
  sharedRecords: Array<{ record: HolderRecord | undefined }>,
): Promise<LockFileInfo | undefined> {
  const path = join(directory, file);
  let stats;
  try {
    stats = await lstat(path);
  } catch {
    return undefined; // removed while listing
  }
  if (!stats.isFile()) return undefined;
  const state = native.lockState(path);
  const records = holderRecords(path, state, sharedRecords);
  const holders = records.map(toLockInfo);
  return {
    file,
    path,
    name: records[0]?.name ?? nameFromFileName(file, prefix),
    state,
    ...(holders[0] === undefined ? {} : { holder: holders[0] }),
    holders,
    modifiedAt: stats.mtime,
    ageMs: Math.max(0, Date.now() - stats.mtimeMs),
  };
}

/** The records worth showing for a file in `state`: none when free; shared records of live writers. */
function holderRecords(path: string, state: LockFileInfo['state'], shared: Array<{ record: HolderRecord | undefined }>): HolderRecord[] {
  if (state === 'exclusive') {
    const record = readRecord(path);
    return record === undefined ? [] : [record];
  }
  if (state !== 'shared') return [];
  return shared
    .flatMap(({ record }) => (record === undefined || !writerMayLive(record) ? [] : [record]))
    .sort((a, b) => (a.token < b.token ? -1 : 1));
}

/** False only when the writer is provably gone: same host, no such process. */
export function writerMayLive(record: HolderRecord): boolean {
  if (record.host !== hostname()) return true;
  try {
    process.kill(record.pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

function toLockInfo(record: HolderRecord): LockInfo {
  return {
    name: record.name,
    mode: record.mode,
    token: record.token,
    owner: { id: record.id, host: record.host, pid: record.pid, command: record.command },
    since: record.since,
    backend: 'file',
  };
}
