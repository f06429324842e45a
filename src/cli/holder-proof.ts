/**
 * Proof, from the kernel, that a process holds a lock file — asked before
 * `deadbolt break` signals anyone.
 *
 * A holder record is anyone's to write: a user who can write the lock
 * directory can lock a file himself and write a record naming any process,
 * with that process's public command line and start time, so every check of
 * holder-process.ts passes for a victim. Only the kernel knows who holds a
 * lock, and it says so in /proc:
 *
 * 1. one of the process's descriptors refers to the lock file: `stat` on the
 *    magic link /proc/PID/fd/N gives the open file's device and inode, which
 *    must be the lock file's;
 * 2. that descriptor holds the lock: /proc/PID/fdinfo/N lists the locks held
 *    through that open file description, one line each, as /proc/locks does —
 *
 *        lock:	1: OFDLCK ADVISORY  WRITE -1 fe:00:2146741 0 4611686018427387903
 *
 *    (type, ADVISORY, access, pid — always -1 for OFD locks —, major:minor
 *    in hex and the inode, start, end); one must be an OFD write lock on the
 *    lock file's device and inode;
 * 3. the lock file belongs to the process's user: its owner is the process's
 *    file-system uid (the one that creates files), or, in a group layout,
 *    its group is one of the process's groups. A process of another user
 *    holding a file it does not own is not a deadbolt holder of this directory.
 *
 * The process may exit and its pid be reused between the proof and the
 * signal; `break` re-checks the start time right before (holder-process.ts),
 * so that window is the few microseconds between two system calls.
 *
 * @module
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';

/**
 * The lock file as the proof needs it: where it is (device, inode) and whose
 * it is (owner, group). From `lockFileIdentity` (lock-file-identity.ts).
 *
 * @example
 * ```ts
 * const file: ProvedFile = { dev: 65024, ino: 2146741, uid: 0, gid: 0 };
 * ```
 */
export interface ProvedFile {
  dev: number | bigint;
  ino: number | bigint;
  uid: number;
  gid: number;
}

/**
 * The outcome: the descriptor through which the process holds the lock, or
 * why it is not proven, in words for the operator.
 *
 * @example
 * ```ts
 * const refused: HolderProof = { proven: false, why: 'pid 123 does not hold this lock: none of its open files is the lock file' };
 * ```
 */
export type HolderProof =
  | { proven: true; fd: number }
  /** `denied`: /proc would not tell this user (another user's process): run as its user or as root. */
  | { proven: false; why: string; denied?: true };

/**
 * Prove that `pid` holds an exclusive OFD lock on `lockFile` and runs as its owner
 * (with `groupMode`: or in its group).
 *
 * @example
 * ```ts
 * const proof = proveHolder(record.pid, lockFileIdentity(path)!, { groupMode: false });
 * if (!proof.proven) throw new Error(`refusing to signal: ${proof.why}`);
 * ```
 */
export function proveHolder(pid: number, lockFile: ProvedFile, options: { groupMode: boolean }): HolderProof {
  const dev = BigInt(lockFile.dev);
  const ino = BigInt(lockFile.ino);
  const fds = openDescriptors(pid, dev, ino);
  if (!Array.isArray(fds)) return fds;
  if (fds.length === 0) return { proven: false, why: `pid ${pid} does not hold this lock: none of its open files is the lock file` };
  const locks = fds.map((n) => ({ fd: n, access: ofdLockOn(pid, n, dev, ino) }));
  const fd = locks.find((l) => l.access === 'WRITE')?.fd;
  if (fd === undefined) {
    const shared = locks.some((l) => l.access === 'READ');
    const what = shared ? 'holds it shared, not exclusively' : 'has the file open but holds no lock on it';
    return { proven: false, why: `pid ${pid} does not hold this lock: it ${what}` };
  }
  const owner = ownerMismatch(pid, lockFile, options.groupMode);
  if (owner !== undefined) return { proven: false, why: owner };
  return { proven: true, fd };
}

/** The process's descriptors open on (dev, ino), or a refusal when /proc does not tell. */
function openDescriptors(pid: number, dev: bigint, ino: bigint): number[] | { proven: false; why: string; denied?: true } {
  let entries: string[];
  try {
    entries = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') return { proven: false, why: `pid ${pid} does not hold this lock: it is not running` };
    if (code === 'EACCES' || code === 'EPERM') {
      return { proven: false, why: `cannot read /proc/${pid}/fd (${code}) to prove that pid ${pid} holds the lock`, denied: true };
    }
    return { proven: false, why: `cannot read /proc/${pid}/fd to prove that pid ${pid} holds the lock (${code ?? String(err)})` };
  }
  const found: number[] = [];
  for (const entry of entries) {
    try {
      // stat follows the magic link to the open file itself, even if it was renamed or unlinked.
      const target = statSync(`/proc/${pid}/fd/${entry}`, { bigint: true });
      if (target.dev === dev && target.ino === ino) found.push(Number(entry));
    } catch {
      // closed meanwhile, or a descriptor of something stat cannot reach: not the lock file
    }
  }
  return found;
}

/** The OFD lock /proc/PID/fdinfo/FD shows granted on (dev, ino): WRITE (exclusive), READ (shared), or none. */
function ofdLockOn(pid: number, fd: number, dev: bigint, ino: bigint): 'WRITE' | 'READ' | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1');
  } catch {
    return undefined;
  }
  let found: 'WRITE' | 'READ' | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith('lock:')) continue;
    // "lock:\t1: OFDLCK ADVISORY  WRITE -1 fe:00:2146741 0 4611686018427387903"; a blocked
    // request would read "1: -> OFDLCK …" (only /proc/locks lists those, but be exact).
    const [, type, , access, , where] = line.slice('lock:'.length).trim().split(/\s+/);
    if (type !== 'OFDLCK' || where === undefined || !sameFile(where, dev, ino)) continue;
    if (access === 'WRITE') return 'WRITE';
    if (access === 'READ') found = 'READ';
  }
  return found;
}

/** Whether a lock line's `major:minor:inode` (major and minor in hex) is (dev, ino). */
function sameFile(where: string, dev: bigint, ino: bigint): boolean {
  const [major, minor, inode] = where.split(':');
  if (major === undefined || minor === undefined || inode === undefined || !/^\d+$/.test(inode)) return false;
  const { major: devMajor, minor: devMinor } = splitDevice(dev);
  return BigInt(`0x${major}`) === devMajor && BigInt(`0x${minor}`) === devMinor && BigInt(inode) === ino;
}

/** glibc's major()/minor() of a stat dev_t (the kernel prints its own major:minor in /proc/locks). */
function splitDevice(dev: bigint): { major: bigint; minor: bigint } {
  return {
    major: ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn),
    minor: (dev & 0xffn) | ((dev >> 12n) & ~0xffn),
  };
}

/** Why the file's owner is not the process's user, or undefined when it is. */
function ownerMismatch(pid: number, file: ProvedFile, groupMode: boolean): string | undefined {
  const ids = processIds(pid);
  if (ids === undefined) return `cannot read /proc/${pid}/status to check that pid ${pid} runs as the lock file's owner`;
  if (ids.fsUid === file.uid) return undefined;
  if (groupMode && ids.groups.includes(file.gid)) return undefined;
  const group = groupMode ? ` and group ${file.gid}` : '';
  const inGroups = groupMode ? ` in groups ${ids.groups.join(', ') || '(none)'}` : '';
  return `the lock file is owned by uid ${file.uid}${group} but pid ${pid} runs as uid ${ids.fsUid}${inGroups}`;
}

/**
 * The file-system uid and every group of `pid`, from /proc/PID/status:
 * "Uid:\treal\teffective\tsaved\tfs", the same for "Gid:", and "Groups:\t…".
 */
function processIds(pid: number): { fsUid: number; groups: number[] } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const field = (name: string) => new RegExp(`^${name}:([^\\n]*)$`, 'm').exec(text)?.[1]?.trim().split(/\s+/).filter(Boolean).map(Number);
  const uids = field('Uid');
  const gids = field('Gid');
  const fsUid = uids?.[3];
  const fsGid = gids?.[3];
  if (fsUid === undefined || fsGid === undefined) return undefined;
  return { fsUid, groups: [...new Set([fsGid, ...(field('Groups') ?? [])])] };
}
