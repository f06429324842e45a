/**
 * Steal requests: how a Web Locks `steal` reaches a holder in another process
 * of the host. A kernel OFD lock cannot be taken from a live process, so the
 * steal is cooperative: the stealer writes a request next to the lock, in
 * `.deadbolt-steal/<lock file>`, naming the tokens it displaces; the holder's
 * process, watching that folder, proves the request, aborts its holder's
 * signal and gives the kernel lock back; the stealer then takes it.
 *
 * Why a file and why these checks (docs/security.md): anyone who can write the
 * lock directory can write here too, so a request is a claim to be proven,
 * never an order. It is created `O_EXCL` (never through an existing file or a
 * symlink), 0644 (the holder may run as another account than a root stealer;
 * it holds nothing secret), read through the directory's descriptor like every
 * bookkeeping file (regular, one link, not world-writable, a trusted owner),
 * and then honoured only if the descriptor's owner is the holder's own uid or
 * root: the file system, not the file's text, says who wrote it. A root
 * stealer gives its request to the holder's uid (read from the kernel's
 * `/proc/<pid>`), since a root-owned file is not one the holder's directory
 * trusts unless root owns the directory. The text is bounded, parsed as JSON,
 * checked field by field, and never printed.
 *
 * @internal
 * @module
 */
import { fchownSync, fstatSync, statSync } from 'node:fs';
import { addon } from './addon.js';
import type { DirectoryHandle } from './directory-handle.js';
import { STEAL_REQUESTS } from './lock-name.js';

/** Larger requests are not ours: refused unread. */
const MAX_BYTES = 4096;

/**
 * What a stealer claims. `tokens` are the grants it displaces (decimal
 * strings): a holder whose token is not listed keeps its lock.
 *
 * @example
 * ```ts
 * const r: StealRequest = { version: 1, lock: 'jobs', tokens: ['42'], by: { user: 'ops', uid: 0, host: 'h', pid: 7 }, reason: 'hung', at: new Date().toISOString() };
 * ```
 */
export interface StealRequest {
  version: 1;
  lock: string;
  tokens: string[];
  by: { user: string; uid: number; host: string; pid: number };
  reason: string;
  at: string;
}

/**
 * A request as its reader found it: `request` when proven, else why not
 * (our words, never the file's).
 *
 * @example
 * ```ts
 * const seen: SeenStealRequest = { refused: 'owned by uid 65534' };
 * ```
 */
export type SeenStealRequest = { request: StealRequest; refused?: undefined } | { refused: string; request?: undefined };

/**
 * Write `request` for lock file `file`, replacing a leftover one (a stealer
 * that died before removing its own). As root, the file is given to `holderUid`
 * so that the holder's directory trusts it.
 *
 * @example
 * ```ts
 * writeStealRequest(handle, 'jobs', request, holderUid);
 * ```
 */
export function writeStealRequest(handle: DirectoryHandle, file: string, request: StealRequest, holderUid: number | undefined): void {
  const folder = handle.subdirectory(STEAL_REQUESTS, true)!;
  const a = addon();
  try {
    folder.unlink(file);
    const fd = folder.openFile(file, 'createNew', 0o644)!;
    try {
      if (process.geteuid?.() === 0 && holderUid !== undefined && holderUid !== 0) fchownSync(fd, holderUid, -1);
      a.writeFd(fd, JSON.stringify(request));
    } finally {
      a.closeFd(fd);
    }
  } finally {
    folder.close();
  }
}

/**
 * Remove the request for `file` if `request` is still the one there (same
 * stealer pid), so a later stealer's request is left alone.
 *
 * @example
 * ```ts
 * removeStealRequest(handle, 'jobs', process.pid);
 * ```
 */
export function removeStealRequest(handle: DirectoryHandle, file: string, pid: number): void {
  const folder = handle.subdirectory(STEAL_REQUESTS, false);
  if (folder === undefined) return;
  try {
    const seen = readFrom(folder, file, () => true);
    if (seen?.request?.by.pid === pid) folder.unlink(file);
  } catch {
    // Unreadable or unsafe: not ours to remove.
  } finally {
    folder.close();
  }
}

/**
 * The request for lock file `file`, if any, proven for a holder running as
 * `uid` (owner `uid` or root), from the already open request folder.
 *
 * @example
 * ```ts
 * const seen = readStealRequest(folder, 'jobs', process.geteuid());
 * if (seen?.request?.tokens.includes(String(token))) giveUp();
 * ```
 */
export function readStealRequest(folder: DirectoryHandle, file: string, uid: number): SeenStealRequest | undefined {
  try {
    return readFrom(folder, file, (owner) => owner === uid || owner === 0);
  } catch (err) {
    // The descriptor's checks refused it (a symlink, a FIFO, a hard link, a foreign owner…).
    return { refused: `the file is unsafe (${(err as { reason?: string }).reason ?? (err as { code?: string }).code ?? 'unreadable'})` };
  }
}

function readFrom(folder: DirectoryHandle, file: string, trusted: (owner: number) => boolean): SeenStealRequest | undefined {
  const fd = folder.openFile(file, 'read');
  if (fd === undefined) return undefined;
  const a = addon();
  try {
    const { uid, size } = fstatSync(fd);
    if (!trusted(uid)) return { refused: `it is owned by uid ${uid}, neither the holder's uid nor root` };
    if (size === 0) return undefined; // created, not written yet: the write raises the next event
    if (size > MAX_BYTES) return { refused: `it is ${size} bytes, more than a request's ${MAX_BYTES}` };
    return parse(a.readFd(fd, MAX_BYTES, 0).toString('utf8'));
  } finally {
    a.closeFd(fd);
  }
}

function parse(text: string): SeenStealRequest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { refused: 'it is not JSON' };
  }
  const r = value as Partial<StealRequest> | null;
  const by = r?.by as Partial<StealRequest['by']> | undefined;
  const ok =
    r !== null && typeof r === 'object' && r.version === 1 && typeof r.lock === 'string' && typeof r.reason === 'string' && typeof r.at === 'string' &&
    Array.isArray(r.tokens) && r.tokens.every((t) => typeof t === 'string' && /^\d{1,20}$/.test(t)) &&
    by !== undefined && by !== null && typeof by.user === 'string' && Number.isInteger(by.uid) && typeof by.host === 'string' && Number.isInteger(by.pid);
  return ok ? { request: r as StealRequest } : { refused: 'it is not a version 1 steal request' };
}

/**
 * The effective uid a live local process runs as (the owner of its
 * `/proc/<pid>`), or `undefined` when it cannot be told.
 *
 * @example
 * ```ts
 * uidOfProcess(holder.owner.pid); // 1000
 * ```
 */
export function uidOfProcess(pid: number): number | undefined {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch {
    return undefined;
  }
}
