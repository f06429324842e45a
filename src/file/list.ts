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
import { readRecord } from './holder-record.js';
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
  /** The holder, from its record, when the file is held and has one (oslo holders write none). */
  holder?: LockInfo;
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
  const infos: LockFileInfo[] = [];
  for (const file of entries.sort()) {
    if (isBookkeeping(file)) continue;
    const info = await describe(directory, file, prefix);
    if (info !== undefined) infos.push(info);
  }
  return infos;
}

async function describe(directory: string, file: string, prefix: string | undefined): Promise<LockFileInfo | undefined> {
  const path = join(directory, file);
  let stats;
  try {
    stats = await lstat(path);
  } catch {
    return undefined; // removed while listing
  }
  if (!stats.isFile()) return undefined;
  const state = native.lockState(path);
  const record = state === 'free' || state === 'missing' ? undefined : readRecord(path);
  const info: LockFileInfo = {
    file,
    path,
    name: record?.name ?? nameFromFileName(file, prefix),
    state,
    modifiedAt: stats.mtime,
    ageMs: Math.max(0, Date.now() - stats.mtimeMs),
  };
  if (record !== undefined) {
    info.holder = {
      name: record.name,
      mode: record.mode,
      token: record.token,
      owner: { id: record.id, host: record.host, pid: record.pid, command: record.command },
      since: record.since,
      backend: 'file',
    };
  }
  return info;
}
