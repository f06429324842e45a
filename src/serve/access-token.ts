/**
 * The access token that allows breaking from the page (`--token-file FILE`).
 *
 * Read from a file, never from the command line (other users see a process's
 * arguments in /proc), and only from a regular file of this user that nobody
 * else can read or write (mode 0600 or stricter): a token others can read is
 * no secret. The token is never printed. Requests compare SHA-256 digests
 * with `timingSafeEqual`, so the time a comparison takes tells nothing about
 * how much of a guess was right, whatever its length.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { CliError, ExitCode, usageError } from '../cli/exit-codes.js';

/** Shorter tokens are refused: a guessable token would open breaking to anyone who can reach the port. */
const MIN_LENGTH = 16;

/**
 * A checked access token.
 *
 * @example
 * ```ts
 * const token = readAccessToken('/etc/deadbolt/serve.token');
 * token.matches(request.headers.authorization?.slice('Bearer '.length) ?? ''); // true or false
 * ```
 */
export interface AccessToken {
  /** Constant-time comparison with a presented token. */
  matches(presented: string): boolean;
}

/**
 * Read the token in `path`: its first line, surrounding white space removed.
 *
 * @throws CliError — 66 when missing, 77 when others could read or write it, 64 when empty or too short.
 * @example
 * ```ts
 * const token = readAccessToken(options.tokenFile);
 * ```
 */
export function readAccessToken(path: string): AccessToken {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(ExitCode.NO_INPUT, `--token-file ${path}: no such file`);
    if (code === 'ELOOP') throw new CliError(ExitCode.NO_PERMISSION, `--token-file ${path} is a symbolic link: give the file itself`);
    throw new CliError(ExitCode.NO_PERMISSION, `--token-file ${path}: cannot open it (${code})`);
  }
  let text: string;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CliError(ExitCode.NO_PERMISSION, `--token-file ${path} is not a regular file`);
    const uid = process.geteuid?.();
    if (uid !== undefined && st.uid !== uid) throw new CliError(ExitCode.NO_PERMISSION, `--token-file ${path} belongs to uid ${st.uid}, not to this user (uid ${uid})`);
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new CliError(ExitCode.NO_PERMISSION, `--token-file ${path} has mode ${mode}: others may read it`, { hint: `Make it private: chmod 600 ${path}` });
    }
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  const token = (text.split('\n')[0] ?? '').trim();
  if (token.length < MIN_LENGTH) {
    throw usageError(`--token-file ${path}: the token must be at least ${MIN_LENGTH} characters (its first line)`, 'e.g. head -c 32 /dev/urandom | base64 > FILE && chmod 600 FILE');
  }
  const expected = digest(token);
  return { matches: (presented) => timingSafeEqual(digest(presented), expected) };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
