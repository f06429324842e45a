/**
 * Which locks a command works on: the `--lock-path` / `--backend` options and
 * their environment variables, resolved in one place.
 *
 * A lock directory is named by `--lock-path DIR`, `--backend file:///DIR`,
 * `DEADBOLT_LOCK_PATH` or `DEADBOLT_BACKEND=file:///DIR`; any other scheme
 * (`etcd://…`, `redis://…`, …) is an engine, opened through `connect()` by
 * engine.ts. `resolveTarget` is for commands that work on lock directories
 * only (`clean`); `resolveAnyTarget` for those that work on both.
 *
 * Precedence: command-line options beat the environment. Giving both options
 * is a usage error (which one did you mean?); in the environment,
 * `DEADBOLT_LOCK_PATH` wins over `DEADBOLT_BACKEND`, as the library's
 * `new LockDirectory()` reads only the former.
 *
 * @module
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigurationError, NativeError, UnsafeFileError } from '../errors.js';
import { DirectoryHandle } from '../file/directory-handle.js';
import { checkPrefix } from '../file/lock-name.js';
import { requireLockDirectory } from '../file/marker.js';
import { actsForOthers, checkDirectoryTrust } from '../file/trust.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';

/** The options every command accepts to choose its locks. */
export interface TargetOptions {
  lockPath?: string;
  backend?: string;
  /** oslo.concurrency file naming (`<prefix>-<name>`), for commands that take a lock name. */
  prefix?: string;
}

/**
 * A lock directory to work on.
 *
 * @example
 * ```ts
 * const target: FileTarget = { kind: 'file', directory: '/run/myapp/locks', prefix: undefined, from: '--lock-path' };
 * ```
 */
export interface FileTarget {
  kind: 'file';
  /** Absolute path of the lock directory. */
  directory: string;
  prefix: string | undefined;
  /** Where the directory came from, for messages. */
  from: string;
}

/**
 * An engine to work on, through `connect()` (engine.ts).
 *
 * @example
 * ```ts
 * const target: EngineTarget = { kind: 'engine', url: 'etcd://10.0.0.1:2379', from: '--backend' };
 * ```
 */
export interface EngineTarget {
  kind: 'engine';
  /** The backend URL as given (it may carry a password: show it only through `redact`). */
  url: string;
  /** Where the URL came from, for messages. */
  from: string;
}

/**
 * Resolve the target of a command that works on lock directories and engines.
 *
 * @throws CliError — as {@link resolveTarget}; `--prefix` with an engine is a usage error.
 * @example
 * ```ts
 * resolveAnyTarget({ backend: 'redis://10.0.0.5:6379' }, {}); // { kind: 'engine', url: 'redis://10.0.0.5:6379', from: '--backend' }
 * ```
 */
export function resolveAnyTarget(options: TargetOptions, env: NodeJS.ProcessEnv = process.env): FileTarget | EngineTarget {
  const engine = engineUrl(options, env);
  if (engine === undefined) return resolveTarget(options, env);
  if (options.prefix !== undefined) throw usageError('--prefix (oslo.concurrency file naming) applies to lock directories only, not to ' + engine.from);
  return engine;
}

/** The backend URL that names an engine (any scheme but file:), if that is what the options and environment select. */
function engineUrl(options: TargetOptions, env: NodeJS.ProcessEnv): EngineTarget | undefined {
  if (options.lockPath !== undefined) return undefined;
  const pick = backendUrl(options, env);
  if (pick === undefined || /^file:/i.test(pick.url)) return undefined;
  // Text that is no scheme:// URL is reported by fromUrl (which never quotes it).
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(pick.url)) return undefined;
  return { kind: 'engine', ...pick };
}

/** The backend URL the options or the environment give, by the precedence of the module note. */
function backendUrl(options: TargetOptions, env: NodeJS.ProcessEnv): { url: string; from: string } | undefined {
  if (options.backend !== undefined) return { url: options.backend, from: '--backend' };
  if (env.DEADBOLT_LOCK_PATH) return undefined; // in the environment, the lock path wins
  if (env.DEADBOLT_BACKEND) return { url: env.DEADBOLT_BACKEND, from: 'DEADBOLT_BACKEND' };
  return undefined;
}

/**
 * Resolve the target of a command that works on lock directories only.
 *
 * @throws CliError — 64 for conflicting or malformed options, 78 when nothing names a directory.
 * @example
 * ```ts
 * resolveTarget({ backend: 'file:///run/locks' }, {}); // { kind: 'file', directory: '/run/locks', … }
 * ```
 */
export function resolveTarget(options: TargetOptions, env: NodeJS.ProcessEnv = process.env): FileTarget {
  let prefix: string | undefined;
  try {
    prefix = checkPrefix(options.prefix, '--prefix');
  } catch (err) {
    throw usageError((err as Error).message);
  }
  if (options.lockPath !== undefined && options.backend !== undefined) {
    throw usageError('give either --lock-path or --backend, not both');
  }
  if (options.lockPath !== undefined) return fileTarget(options.lockPath, prefix, '--lock-path');
  if (options.backend !== undefined) return fromUrl(options.backend, prefix, '--backend', ExitCode.USAGE);
  if (env.DEADBOLT_LOCK_PATH) return fileTarget(env.DEADBOLT_LOCK_PATH, prefix, 'DEADBOLT_LOCK_PATH');
  if (env.DEADBOLT_BACKEND) return fromUrl(env.DEADBOLT_BACKEND, prefix, 'DEADBOLT_BACKEND', ExitCode.CONFIG);
  throw new CliError(ExitCode.CONFIG, 'no lock directory: pass --lock-path DIR or set DEADBOLT_LOCK_PATH', {
    hint:
      'Every process that shares these locks must use the same directory, so there is no default. ' +
      'Services usually use one under /run or /var/lib, e.g. DEADBOLT_LOCK_PATH=/run/myapp/locks.',
  });
}

function fileTarget(path: string, prefix: string | undefined, from: string): FileTarget {
  if (path === '') throw usageError(`${from} is empty: give the lock directory's path`);
  return { kind: 'file', directory: resolve(path), prefix, from };
}

/**
 * A backend URL naming a lock directory: `file:///absolute/dir`.
 * The value may carry a password (`etcd://user:pw@…`): messages say what is
 * wrong with it and never quote it (at most its scheme).
 */
function fromUrl(text: string, prefix: string | undefined, from: string, code: number): FileTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Never quoted, not even redacted: a value that does not parse may be a password pasted in the wrong place.
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1];
    const seen = scheme === undefined ? '' : ` (scheme "${scheme}:")`;
    throw new CliError(code, `${from} is not a URL${seen}: ${whyNotUrl(text)} (expected file:///path/to/lock/dir)`);
  }
  if (url.protocol !== 'file:') {
    throw new CliError(ExitCode.USAGE, `${from}: this command works on lock directories (file:///DIR) only; got ${url.protocol}//`, {
      hint: 'ls, show, break and run work on engines (etcd://, redis://, postgres://, zookeeper://) too.',
    });
  }
  if (url.host !== '' && url.host !== 'localhost') {
    throw new CliError(code, `${from}: a file:// URL names a directory on this host; got host "${url.host}" (write file:///path)`);
  }
  return fileTarget(fileURLToPath(url), prefix, from);
}

/** What makes `text` unparsable, in words that quote none of it. */
function whyNotUrl(text: string): string {
  if (text.trim() === '') return 'it is empty';
  if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) return 'it does not start with a scheme';
  if (text.includes('@')) {
    return 'its host part is malformed (a password holding "/", "?", "#" or "@" must be percent-encoded)';
  }
  return 'its host part or port is malformed';
}

/**
 * Open the target's lock directory for a command: one descriptor for the whole
 * command (every file it looks at is reached through it), and only if it is a
 * lock directory (deadbolt's marker, or an oslo `--prefix`). ls, show, clean and
 * break never create or mark anything. With `act` (clean, break), a privileged
 * user (root, or anyone but the directory's owner) is refused a directory that
 * others could swap or fill, unless `trustDirectory` (`--trust-directory`).
 *
 * @throws CliError — 66 when it is missing, not a directory or not a lock
 *   directory, 77 when not readable or not trusted.
 * @example
 * ```ts
 * const handle = openLockDirectory(target, { act: true });
 * ```
 */
export function openLockDirectory(target: FileTarget, { act = false, trustDirectory = false } = {}): DirectoryHandle {
  const dir = target.directory;
  let handle: DirectoryHandle;
  try {
    handle = DirectoryHandle.open(dir, { fileMode: 0o600, cleanup: true });
  } catch (err) {
    throw openFailure(target, err);
  }
  try {
    requireLockDirectory(handle, target.prefix);
    if (act && !trustDirectory && actsForOthers(handle)) checkDirectoryTrust(handle);
  } catch (err) {
    handle.close();
    if (err instanceof UnsafeFileError) throw new CliError(ExitCode.NO_PERMISSION, err.message);
    if (err instanceof NativeError && (err.errno === 'EACCES' || err.errno === 'EPERM')) {
      throw new CliError(ExitCode.NO_PERMISSION, `cannot read lock directory ${dir}: permission denied (its marker is not readable by this user)`);
    }
    if (err instanceof ConfigurationError) {
      throw new CliError(ExitCode.NO_INPUT, err.message, { hint: 'Pass --prefix PREFIX for an oslo.concurrency lock_path.' });
    }
    throw err;
  }
  return handle;
}

function openFailure(target: FileTarget, err: unknown): CliError {
  const dir = target.directory;
  const cause = (err as { cause?: { errno?: unknown } }).cause ?? err;
  const errno = (cause as { errno?: unknown }).errno;
  if (errno === 'ENOENT' || errno === 'ENOTDIR' || errno === 'ELOOP') {
    const what = errno === 'ENOENT' ? `no lock directory at ${dir}` : errno === 'ELOOP' ? `${dir} is a symbolic link, not a lock directory` : `${dir} is not a directory`;
    const hint = 'Nothing has used it yet, or the path is wrong: `deadbolt run` and LockDirectory create it on first use.';
    return new CliError(ExitCode.NO_INPUT, `${what} (from ${target.from})`, errno === 'ENOENT' ? { hint } : {});
  }
  if (errno === 'EACCES' || errno === 'EPERM') return new CliError(ExitCode.NO_PERMISSION, `cannot read lock directory ${dir}: permission denied`);
  return new CliError(ExitCode.OS_ERROR, (err as Error).message);
}
