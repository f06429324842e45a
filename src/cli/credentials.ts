/**
 * Credentials and TLS material for an engine, from the command line, the
 * environment or files — read once, never echoed, never written anywhere.
 *
 * Where the password comes from, first found wins: `--password-file FILE`,
 * `$DEADBOLT_BACKEND_PASSWORD_FILE`, `$DEADBOLT_BACKEND_PASSWORD`, the URL's
 * own `user:password@`. There is deliberately no `--password VALUE`: a
 * command line is readable by every user of the host (`ps`, /proc/PID/cmdline).
 *
 * Secret files (the password file, `--tls-key`) must not be readable by
 * others (mode `o+r` is refused, exit 78, as ssh refuses such a key); a file
 * readable by its group is accepted with a warning, since that is how
 * container secrets are usually shared with a service's group (Kubernetes
 * `defaultMode: 0440` with an `fsGroup`). Symbolic links are followed (secret
 * mounts are links); the mode checked is that of the file actually opened.
 * One trailing newline is dropped from a password file (`echo pw > file`).
 *
 * @module
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { CliError, ExitCode } from './exit-codes.js';

/**
 * The credential options a command accepts.
 *
 * @example
 * ```ts
 * const options: CredentialOptions = { user: 'deadbolt', passwordFile: '/run/secrets/etcd', tlsCa: '/etc/ssl/etcd-ca.pem' };
 * ```
 */
export interface CredentialOptions {
  /** `--user NAME`. */
  user?: string;
  /** `--password-file FILE`. */
  passwordFile?: string;
  /** `--tls-ca FILE`: the CA that signed the engine's certificate (PEM). */
  tlsCa?: string;
  /** `--tls-cert FILE`: this client's certificate (PEM), with `--tls-key`. */
  tlsCert?: string;
  /** `--tls-key FILE`: this client's private key (PEM). */
  tlsKey?: string;
}

/**
 * What was read: only what was given is present.
 *
 * @example
 * ```ts
 * const c: Credentials = { user: 'app', password: 's3cret', tls: { ca: caPem } };
 * ```
 */
export interface Credentials {
  user?: string;
  password?: string;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/** Larger "password files" are a mistake (a wrong path, a whole key bundle). */
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * Read the credentials of `options` and `env`. `warn` receives the line about
 * a group-readable secret file.
 *
 * @throws CliError — 64 for a certificate without its key (or the reverse), 66 for a file
 *   that cannot be read, 78 for a secret file others can read.
 * @example
 * ```ts
 * const credentials = readCredentials({ passwordFile: '/run/secrets/pg' }, process.env, (l) => io.err(l));
 * ```
 */
export function readCredentials(options: CredentialOptions, env: NodeJS.ProcessEnv, warn: (line: string) => void): Credentials {
  const credentials: Credentials = {};
  if (options.user !== undefined) {
    if (options.user === '') throw new CliError(ExitCode.USAGE, '--user is empty: give the user name the engine knows');
    credentials.user = options.user;
  }
  const password = readPassword(options, env, warn);
  if (password !== undefined) credentials.password = password;
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new CliError(ExitCode.USAGE, '--tls-cert and --tls-key go together: give the client certificate and its private key');
  }
  if (options.tlsCa !== undefined || options.tlsCert !== undefined) {
    credentials.tls = {};
    if (options.tlsCa !== undefined) credentials.tls.ca = readFile(options.tlsCa, '--tls-ca', false, warn);
    if (options.tlsCert !== undefined) credentials.tls.cert = readFile(options.tlsCert, '--tls-cert', false, warn);
    if (options.tlsKey !== undefined) credentials.tls.key = readFile(options.tlsKey, '--tls-key', true, warn);
  }
  return credentials;
}

function readPassword(options: CredentialOptions, env: NodeJS.ProcessEnv, warn: (line: string) => void): string | undefined {
  const file = options.passwordFile ?? nonEmpty(env.DEADBOLT_BACKEND_PASSWORD_FILE);
  const from = options.passwordFile !== undefined ? '--password-file' : 'DEADBOLT_BACKEND_PASSWORD_FILE';
  if (file !== undefined) {
    const text = readFile(file, from, true, warn).toString('utf8').replace(/\r?\n$/, '');
    if (text === '') throw new CliError(ExitCode.CONFIG, `the password file named by ${from} is empty`);
    return text;
  }
  return nonEmpty(env.DEADBOLT_BACKEND_PASSWORD);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Read a whole file; a secret one must not be readable by others. The path is ours to show; the content never is. */
function readFile(path: string, from: string, secret: boolean, warn: (line: string) => void): Buffer {
  if (path === '') throw new CliError(ExitCode.USAGE, `${from} is empty: give a file's path`);
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang the command.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new CliError(ExitCode.NO_INPUT, `cannot read ${path} (${from}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new CliError(ExitCode.NO_INPUT, `${path} (${from}) is not a regular file`);
    if (stat.size > MAX_FILE_BYTES) throw new CliError(ExitCode.CONFIG, `${path} (${from}) is larger than ${MAX_FILE_BYTES} bytes: is it the right file?`);
    if (secret) checkSecretMode(path, from, stat.mode, warn);
    const buffer = Buffer.alloc(stat.size);
    let read = 0;
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function checkSecretMode(path: string, from: string, mode: number, warn: (line: string) => void): void {
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  if (mode & 0o004) {
    throw new CliError(ExitCode.CONFIG, `refusing ${path} (${from}): every user of this host can read it (mode ${octal})`, {
      hint: `Make it readable by you (and at most your group): chmod 600 ${path}`,
    });
  }
  if (mode & 0o040) warn(`deadbolt: warning: ${path} (${from}) is readable by its group (mode ${octal})`);
}
