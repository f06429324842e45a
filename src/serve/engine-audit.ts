/**
 * The local audit log of breaks made on engines through `deadbolt serve`
 * (`--audit-log FILE`): one JSON object per line, appended with one write to
 * a file opened `O_APPEND`, created 0600. The engine keeps its own break
 * record (read by the next holder); this file is the operator's side of it.
 *
 * The file is opened without following a symlink and must be a regular file
 * of this user that nobody else can write, so that a planted link or a file
 * others edit cannot receive (or forge) the record.
 *
 * @module
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { LockInfo } from '../local/fenced-guard.js';
import { BreakRefused } from './sources.js';

/**
 * One break of an engine lock, as recorded (docs/serve.md).
 *
 * @example
 * ```ts
 * const r: EngineBreakRecord = JSON.parse(line);
 * console.log(r.backend, r.lock.name, r.displaced[0]?.token);
 * ```
 */
export interface EngineBreakRecord {
  version: 1;
  event: 'break';
  at: string;
  /** The engine's URL, password removed. */
  backend: string;
  lock: { name: string };
  /** Who broke it: this server's user and host, and the page's client. */
  by: { user: string; uid: number; host: string; pid: number; via: 'deadbolt serve'; client: string };
  reason: string;
  /** Every holder displaced, tokens as decimal strings. */
  displaced: Array<{ id: string; host: string; pid: number; command: string; mode: 'exclusive' | 'shared'; token: string; since: string; expiresAt?: string }>;
}

/**
 * Append `record` to the log at `path`.
 *
 * @throws BreakRefused (502) when the file cannot be opened or is unsafe to write.
 * @example
 * ```ts
 * appendEngineBreak('/var/log/deadbolt-serve.log', record);
 * ```
 */
export function appendEngineBreak(path: string, record: EngineBreakRecord): void {
  const fd = openLog(path);
  try {
    writeSync(fd, `${JSON.stringify(record)}\n`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Open the log for appending and prove it safe, before the engine is asked to
 * break anything (a log that cannot be written stops the break).
 *
 * @example
 * ```ts
 * closeSync(openLog('/var/log/deadbolt-serve.log'));
 * ```
 */
export function openLog(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch (err) {
    throw new BreakRefused(502, `cannot open the audit log ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; nothing was broken`);
  }
  const st = fstatSync(fd);
  const uid = process.geteuid?.() ?? st.uid;
  const why = !st.isFile() ? 'not a regular file' : st.nlink !== 1 ? 'it has several links' : st.uid !== uid ? 'it belongs to another user' : (st.mode & 0o022) !== 0 ? 'others can write it' : undefined;
  if (why !== undefined) {
    closeSync(fd);
    throw new BreakRefused(502, `refusing to write the audit log ${path}: ${why}; nothing was broken`);
  }
  return fd;
}

/**
 * The records of `backend` in the log (newest last); none when it is absent.
 * Lines that are not records are skipped.
 *
 * @example
 * ```ts
 * readEngineBreaks('/var/log/deadbolt-serve.log', 'redis://127.0.0.1:6379').length;
 * ```
 */
export function readEngineBreaks(path: string, backend: string, limit = 200): EngineBreakRecord[] {
  let text: string;
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
  const records: EngineBreakRecord[] = [];
  for (const line of text.split('\n')) {
    try {
      const r = JSON.parse(line) as EngineBreakRecord;
      if (r?.event === 'break' && r.backend === backend && typeof r.lock?.name === 'string' && Array.isArray(r.displaced)) records.push(r);
    } catch {
      // a torn or hand-edited line
    }
  }
  return records.slice(-limit);
}

/**
 * A displaced holder as recorded.
 *
 * @example
 * ```ts
 * const displaced = (await coordinator.break(name, { reason })).map(recordedHolder);
 * ```
 */
export function recordedHolder(info: LockInfo): EngineBreakRecord['displaced'][number] {
  return {
    id: info.owner.id,
    host: info.owner.host,
    pid: info.owner.pid,
    command: info.owner.command ?? '',
    mode: info.mode,
    token: info.token.toString(),
    since: info.since.toISOString(),
    ...(info.expiresAt !== undefined && { expiresAt: info.expiresAt.toISOString() }),
  };
}
