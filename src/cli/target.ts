/**
 * Which locks a command works on: the `--lock-path` / `--backend` options and
 * their environment variables, resolved in one place.
 *
 * The seam for distributed backends: today the only backend is a lock
 * directory, named by `--lock-path DIR`, `--backend file:///DIR`,
 * `DEADBOLT_LOCK_PATH` or `DEADBOLT_BACKEND=file:///DIR`. Adding `etcd://…` and
 * friends means adding a `{ kind: 'coordinator', url }` target here and, in each
 * command, a branch that works through `connect(url)` instead of a
 * LockDirectory; the option plumbing does not change.
 *
 * Precedence: command-line options beat the environment. Giving both options
 * is a usage error (which one did you mean?); in the environment,
 * `DEADBOLT_LOCK_PATH` wins over `DEADBOLT_BACKEND`, as the library's
 * `new LockDirectory()` reads only the former.
 *
 * @module
 */
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redact } from '../distributed/connect-url.js';
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
 * Resolve the target of a command.
 *
 * @throws CliError — 64 for conflicting or malformed options, 78 when nothing names a directory.
 * @example
 * ```ts
 * resolveTarget({ backend: 'file:///run/locks' }, {}); // { kind: 'file', directory: '/run/locks', … }
 * ```
 */
export function resolveTarget(options: TargetOptions, env: NodeJS.ProcessEnv = process.env): FileTarget {
  const prefix = options.prefix;
  if (prefix !== undefined && (prefix === '' || prefix.includes('/'))) throw usageError(`--prefix must be a non-empty string without "/"; got "${prefix}"`);
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
 * A backend URL; only `file:///absolute/dir` is supported by the CLI today.
 * The value may carry a password (`etcd://user:pw@…`): messages say what is
 * wrong with it and show it redacted, never whole.
 */
function fromUrl(text: string, prefix: string | undefined, from: string, code: number): FileTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(code, `${from}: "${redact(text)}" is not a URL: ${whyNotUrl(text)} (expected file:///path/to/lock/dir)`);
  }
  if (url.protocol !== 'file:') {
    throw new CliError(code, `${from}: the CLI supports only file:// backends so far; got ${url.protocol}//`, {
      hint: 'Distributed coordinators (etcd://, redis://, …) are used through the library\'s connect(url) for now.',
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
 * Check that the target's directory exists (ls, show, clean and break never
 * create it), and with `writable`, that this user may remove files in it.
 *
 * @throws CliError — 66 when it is missing or not a directory, 77 when not readable / writable.
 * @example
 * ```ts
 * requireDirectory(target, { writable: true });
 * ```
 */
export function requireDirectory(target: FileTarget, { writable = false } = {}): void {
  const dir = target.directory;
  try {
    if (!statSync(dir).isDirectory()) throw new CliError(ExitCode.NO_INPUT, `${dir} (from ${target.from}) is not a directory`);
  } catch (err) {
    if (err instanceof CliError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new CliError(ExitCode.NO_INPUT, `no lock directory at ${dir} (from ${target.from})`, {
        hint: 'Nothing has used it yet, or the path is wrong: `deadbolt run` and LockDirectory create it on first use.',
      });
    }
    throw new CliError(ExitCode.NO_PERMISSION, `cannot read lock directory ${dir}: ${code ?? String(err)}`);
  }
  const mask = writable ? constants.R_OK | constants.W_OK | constants.X_OK : constants.R_OK | constants.X_OK;
  try {
    accessSync(dir, mask);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const what = writable ? 'remove files in' : 'read';
    const why = code === 'EROFS' ? 'it is on a read-only file system' : `permission denied (${code})`;
    throw new CliError(ExitCode.NO_PERMISSION, `cannot ${what} lock directory ${dir}: ${why}`);
  }
}
