/**
 * Loading deadbolt's native addon (native/), the primitive under
 * `LockDirectory`, and its raw surface. This is the only module that loads the
 * addon, and it does so lazily, on the first call: importing it has no effect.
 *
 * What the addon guarantees:
 * - Everything that names a file goes through one directory descriptor (a
 *   `LockDir`, native/lock_dir.h), with `*at()` calls that never follow a
 *   symlink and never block on a FIFO; every open is followed by `fstat`
 *   proving a regular file with one link and a trusted owner (native/directory.h).
 * - Everything except a wait is a few system calls that never wait on another
 *   process, so it is synchronous.
 * - Waits block in `fcntl(F_OFD_SETLKW)` on dedicated native threads (never on
 *   libuv's threadpool, where four blocked waits would stall every `fs` call of
 *   the process), are pooled, and reach JavaScript through a thread-safe
 *   function, not by polling. A pending wait keeps the event loop alive; when a
 *   Node environment is torn down its waits are cancelled and their threads joined.
 * - Cancelling interrupts the wait with a real-time signal (see
 *   {@link nativeInfo}) whose handler does nothing and is installed without
 *   `SA_RESTART`, resent every 2 ms until the waiting thread answers.
 *
 * @internal
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorMap } from 'node:util';

import { NativeError, UnsupportedError } from '../errors.js';

/** `[fd, token]`: token `null` when none was taken (no token asked, or the counter busy). */
export type RawGrant = [number, bigint | null];

/**
 * One acquire, as the addon reads it (native/grant.h `GrantRequest`).
 *
 * @internal
 * @example
 * ```ts
 * const request: GrantRequest = { name: 'jobs', exclusive: true, token: true, head: null, tail: null };
 * ```
 */
export interface GrantRequest {
  /** The lock file's name in the directory. */
  readonly name: string;
  readonly exclusive: boolean;
  /** Take a fencing token (and write the record, if any). */
  readonly token: boolean;
  /** The holder record around its token and time (holder-record.ts), or null for none. */
  readonly head: string | null;
  readonly tail: string | null;
}

/**
 * A lock directory's descriptor in the addon (native/lock_dir.h has the
 * contract of each method).
 *
 * @internal
 * @example
 * ```ts
 * const dir = new (addon().LockDir)('/run/locks', { fileMode: 0o600, cleanup: true });
 * ```
 */
export interface RawLockDir {
  info(): { dev: number; ino: number; uid: number; gid: number; mode: number };
  openCounter(): void;
  acquireNow(request: GrantRequest): RawGrant | undefined;
  acquireWait(request: GrantRequest): [Promise<RawGrant | null>, number];
  tokenNow(fd: number, head: string | null, tail: string | null): bigint | null;
  tokenWait(fd: number, head: string | null, tail: string | null): [Promise<RawGrant | null>, number];
  release(fd: number, name: string, exclusive: boolean): number;
  identity(fd: number, name: string): number;
  state(name: string): number;
  stat(name: string): [type: number, mode: number, uid: number, gid: number, nlink: number, size: number, mtimeMs: number, dev: number, ino: number] | undefined;
  open(name: string, how: number, mode: number): number;
  names(): string[];
  unlink(name: string): void;
  close(): void;
}

/** The addon's raw surface (native/addon.cc). @internal */
export interface Addon {
  LockDir: {
    new (path: string, policy: { fileMode: number; cleanup: boolean }): RawLockDir;
    new (parent: RawLockDir, name: string, create: boolean): RawLockDir;
  };
  tryLock(fd: number, exclusive: boolean): boolean;
  unlock(fd: number): void;
  closeFd(fd: number): void;
  readFd(fd: number, max: number, offset: number): Buffer;
  writeFd(fd: number, text: string): void;
  probeOfd(path: string): number;
  cancel(id: number): void;
  setTestHooks(hooks: { skipCheck?: boolean; silentWait?: boolean }): void;
  info(): { signal: number; threads: number; idleThreads: number; pendingWaits: number };
  supported: boolean;
  // The process-wide thread-lock table (native/thread_locks.h; used by src/threads/lock-table.ts).
  tlRequest(key: string, capacity: number, weight: number, how: 0 | 1 | 2): number;
  /** 0 (no events), the caller's one event, or its events (as tlDrain returns them). */
  tlRelease(id: number): number | number[];
  tlCancel(id: number): number;
  tlDrain(): number[];
  tlQuery(prefix: string): [key: string, exclusive: boolean, clientId: number, held: boolean][];
  tlListen(fn: () => void): void;
  tlKeepAlive(on: boolean): void;
  tlClientId(id: number): void;
}

/**
 * What {@link nativeInfo} reports.
 *
 * @internal
 * @example
 * ```ts
 * const { signal, threads }: NativeInfo = nativeInfo();
 * ```
 */
export interface NativeInfo {
  /** `process.platform` (always `linux` for now). */
  readonly platform: NodeJS.Platform;
  /** Open-file-description locks are available (loading fails otherwise). */
  readonly ofd: true;
  /** The real-time signal that interrupts waits (SIGRTMAX-7 unless taken), or 0 if none was free. */
  readonly signal: number;
  /** The `.node` file that was loaded. */
  readonly addonPath: string;
  /** Live native wait threads in this environment (busy or parked). */
  readonly threads: number;
  /** Of which parked, ready for the next wait. */
  readonly idleThreads: number;
  /** Waits whose promise has not settled yet. */
  readonly pendingWaits: number;
}

/** What a process without the addon can still use, in every error that says the addon is unusable. */
const STILL_WORKS =
  'in-process locks (Mutex, Semaphore, RWLock, KeyedMutex, KeyedRWLock) and distributed locks ' +
  "(connect('etcd://…'), 'redis://…', 'postgres://…', 'zookeeper://…', 'memory://…') work without it";

/** The first line of what a loader threw: node-gyp-build's message names every place it looked. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n', 1)[0]!;
}

let loaded: { addon: Addon; path: string } | undefined;
let loadError: Error | undefined;

/**
 * The addon, loaded on first use.
 *
 * @throws UnsupportedError off Linux or without OFD locks; NativeError if it cannot be loaded.
 * @internal
 * @example
 * ```ts
 * addon().tryLock(fd, true);
 * ```
 */
export function addon(): Addon {
  return (loaded ?? load()).addon;
}

function load(): { addon: Addon; path: string } {
  if (loadError !== undefined) throw loadError;
  try {
    loaded = loadAddon();
    return loaded;
  } catch (err) {
    loadError = err as Error;
    throw err;
  }
}

function loadAddon(): { addon: Addon; path: string } {
  if (process.platform !== 'linux') {
    throw new UnsupportedError(
      `interprocess locks are not supported on ${process.platform} (${process.arch}): deadbolt's ` +
        `LockDirectory needs Linux open file description locks (F_OFD_SETLK); ${STILL_WORKS}`,
    );
  }
  const root = packageRoot();
  const require = createRequire(import.meta.url);
  let path: string;
  let native: Addon;
  try {
    const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
    path = gypBuild.resolve(root);
    native = require(path) as Addon;
  } catch (cause) {
    throw new NativeError(
      `deadbolt's native addon could not be loaded for ${process.platform}-${process.arch} (Node ${process.version}) ` +
        `from ${root}, so interprocess locks (LockDirectory, connect('file://…'), the deadbolt command on lock directories) cannot be used; ` +
        `${STILL_WORKS}. To fix it, run \`npm rebuild deadbolt\` (it builds the addon from source: a C++ compiler, ` +
        'make and Python are needed), or install without --ignore-scripts: prebuilt addons ship for linux-x64 and ' +
        `linux-arm64 (glibc). The loader said: ${firstLine(cause)}`,
      {},
      { cause },
    );
  }
  if (native.supported !== true) {
    throw new UnsupportedError(
      `interprocess locks are not supported on ${process.platform}: the native addon was built without ` +
        `open file description locks; ${STILL_WORKS}`,
    );
  }
  if (native.probeOfd(path) === errnoOf('EINVAL')) throw ofdUnsupported();
  return { addon: native, path };
}

/** The directory holding deadbolt's package.json, found upward from this file. */
function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; ) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'deadbolt') return dir;
    } catch {
      // no package.json here (or an unreadable one): keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new NativeError(
        `deadbolt's package.json was not found in any directory above ${start}, so its native ` +
          'addon cannot be located: reinstall deadbolt (`npm install deadbolt`)',
      );
    }
    dir = parent;
  }
}

/**
 * The error for a kernel without OFD locks.
 *
 * @internal
 * @example
 * ```ts
 * throw ofdUnsupported();
 * ```
 */
export function ofdUnsupported(): UnsupportedError {
  return new UnsupportedError(
    `interprocess locks are not supported on ${process.platform} ${release()}: this kernel has no ` +
      `open file description locks (F_OFD_SETLK answered EINVAL; they need Linux 3.15 or later); ${STILL_WORKS}`,
  );
}

let errnoNames: Map<string, number> | undefined;

/**
 * The number of a symbolic errno on this platform (`-1` if unknown).
 *
 * @internal
 * @example
 * ```ts
 * errnoOf('ENOENT'); // 2
 * ```
 */
export function errnoOf(name: string): number {
  if (errnoNames === undefined) {
    errnoNames = new Map();
    for (const [negative, [errName]] of getSystemErrorMap()) errnoNames.set(errName, -negative);
  }
  return errnoNames.get(name) ?? -1;
}

/**
 * Test-only switches, outside every production signature: skip the inode
 * re-check (to prove the stress test can fail) and wait without announcing
 * (so every hand-off goes through the orphan-and-retry path).
 *
 * @internal
 * @example
 * ```ts
 * setTestHooks({ skipCheck: true }); try { await run(); } finally { setTestHooks({}); }
 * ```
 */
export function setTestHooks(hooks: { skipCheck?: boolean; silentWait?: boolean }): void {
  addon().setTestHooks(hooks);
}

/**
 * Diagnostics about the loaded addon (loading it if needed).
 *
 * @throws UnsupportedError on a platform or kernel without OFD locks;
 *   NativeError if the addon cannot be loaded.
 * @internal
 * @example
 * ```ts
 * console.log(nativeInfo()); // { platform: 'linux', ofd: true, signal: 57, addonPath: '…/deadbolt.node', … }
 * ```
 */
export function nativeInfo(): NativeInfo {
  const { addon: a, path } = loaded ?? load();
  const info = a.info();
  return { platform: process.platform, ofd: true, addonPath: path, ...info };
}
