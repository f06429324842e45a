/**
 * Opening a coordination engine for a command: from a backend URL, a
 * namespace, credential and TLS options and the environment to an open
 * `Coordinator`, with every failure turned into the CLI's documented exit
 * code (a CliError). `ls`, `show`, `break` and `run` use it for every scheme
 * but `file://` (which they serve from the lock directory itself, as before);
 * `deadbolt serve` uses it for the engines it watches.
 *
 * Apart from the CliError mapping this is library code: it prints nothing
 * (warnings go to the `warn` callback), reads no option of its own from the
 * environment but those named below, and leaves the coordinator's lifetime to
 * the caller (`close()` it; it revokes the session).
 *
 * How credentials reach each driver (its `driverOptions`, docs/cli.md):
 * - etcd: `auth: { username, password }` (both needed), TLS as `credentials:
 *   { rootCertificate, certChain, privateKey }` (https to every endpoint);
 * - redis / rediss / redis+sentinel: `username`, `password` (the data nodes'),
 *   `tls: { ca, cert, key }` (and `sentinelTLS` for Sentinels);
 * - postgres: `user`, `password`, `ssl: { ca, cert, key }`;
 * - zookeeper: `authInfo: [{ scheme: 'digest', auth: 'user:password' }]`; its
 *   client has no TLS, so `--tls-*` is refused there (exit 64).
 * Secrets given so are masked in every error `connect()` lets go of
 * (distributed/secrets.ts); messages written here show the URL only redacted.
 *
 * Exit codes: 64 unknown scheme, `memory://`, malformed URL or options that do
 * not apply; 69 unreachable within the connect timeout (naming each cause) or
 * an engine that failed; 77 credentials (or rights) refused; 78 the driver's
 * npm package is not installed, or a password file others can read.
 *
 * @module
 */
import { BackendError, BackendUnavailableError, ConfigurationError, UnsupportedError, isInvalidArgument } from '../errors.js';
import { redact, SCHEMES } from '../distributed/connect-url.js';
import type { Coordinator } from '../distributed/coordinator.js';
import type { ConnectOptions } from '../distributed/driver.js';
import type { LockOwner } from '../contracts/fenced-guard.js';
import { readCredentials, type CredentialOptions, type Credentials } from './credentials.js';
import { CliError, ExitCode } from './exit-codes.js';

/**
 * What to open.
 *
 * @example
 * ```ts
 * const request: EngineRequest = { url: 'etcd://10.0.0.1:2379', from: '--backend', namespace: 'billing', connectTimeout: 3_000 };
 * ```
 */
export interface EngineRequest extends CredentialOptions {
  /** The backend URL (any scheme but `file:` and `memory:`). */
  url: string;
  /** Where the URL came from (`--backend`, `DEADBOLT_BACKEND`), for messages. */
  from: string;
  /** As in `connect()` (default `'deadbolt'`). */
  namespace?: string;
  /** Session TTL in ms (default: connect()'s 15 s). */
  ttl?: number;
  /** ms (default: connect()'s 5 s). */
  connectTimeout?: number;
  /** How this process appears in listings (e.g. `run`'s command). */
  identity?: Partial<LockOwner>;
}

/**
 * Open `request.url` as a Coordinator.
 *
 * Environment read: `DEADBOLT_BACKEND_PASSWORD`, `DEADBOLT_BACKEND_PASSWORD_FILE`
 * (credentials.ts). `warn` receives warnings (a group-readable secret file).
 *
 * @throws CliError with the exit code of the failure (module note).
 * @example
 * ```ts
 * const coordinator = await openEngine({ url: 'redis://10.0.0.5:6379', from: '--backend', passwordFile: '/run/secrets/redis' }, process.env, (l) => io.err(l));
 * try {
 *   console.log(await coordinator.list());
 * } finally {
 *   await coordinator.close();
 * }
 * ```
 */
export async function openEngine(request: EngineRequest, env: NodeJS.ProcessEnv, warn: (line: string) => void): Promise<Coordinator> {
  const driver = engineDriver(request.url, request.from);
  const credentials = readCredentials(request, env, warn);
  const options: ConnectOptions = {
    ...(request.namespace !== undefined && { namespace: request.namespace }),
    ...(request.ttl !== undefined && { ttl: request.ttl }),
    ...(request.connectTimeout !== undefined && { connectTimeout: request.connectTimeout }),
    ...(request.identity !== undefined && { identity: request.identity }),
  };
  const driverOptions = driverOptionsFor(driver, credentials, request.url);
  if (driverOptions !== undefined) options.driverOptions = driverOptions;
  try {
    // Imported here: the lock-directory commands never load the distributed layer.
    const { connect } = await import('../distributed/connect.js');
    return await connect(request.url, options);
  } catch (err) {
    throw engineFailure(err, request);
  }
}

/**
 * The driver a URL's scheme selects, if the CLI serves it through a coordinator.
 *
 * @throws CliError 64 for an unknown scheme, `memory:`, `file:` or text that is no URL.
 * @example
 * ```ts
 * engineDriver('redis+sentinel://s1:26379/mymaster', '--backend'); // 'redis'
 * ```
 */
export function engineDriver(url: string, from: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  const known = Object.keys(SCHEMES).filter((s) => s !== 'memory').map((s) => `${s}://`).join(', ');
  if (scheme === undefined) throw new CliError(ExitCode.USAGE, `${from} is not a backend URL (no scheme://); use one of ${known}`);
  if (scheme === 'memory') {
    throw new CliError(ExitCode.USAGE, `${from}: memory:// locks live inside one process, so no other process (this command included) can see or take them`, {
      hint: 'Use a lock directory (file:///path) for the processes of one host, or an engine (etcd://, redis://, postgres://, zookeeper://) across hosts.',
    });
  }
  const entry = SCHEMES[scheme];
  if (entry === undefined) throw new CliError(ExitCode.USAGE, `${from}: unknown backend URL scheme "${scheme}://"; known schemes: ${known}`);
  if (entry.driver === 'file') throw new CliError(ExitCode.SOFTWARE, 'file:// backends are lock directories: resolve them with resolveTarget()');
  return entry.driver;
}

/** Each driver's own spelling of user, password and TLS material (module note). */
function driverOptionsFor(driver: string, c: Credentials, url: string): Record<string, unknown> | undefined {
  if (c.user === undefined && c.password === undefined && c.tls === undefined) return undefined;
  const tls = c.tls === undefined ? undefined : compact({ ca: c.tls.ca, cert: c.tls.cert, key: c.tls.key });
  switch (driver) {
    case 'etcd': {
      const out: Record<string, unknown> = {};
      if (c.user !== undefined || c.password !== undefined) {
        const username = c.user ?? userOf(url);
        if (username === undefined || c.password === undefined) {
          throw new CliError(ExitCode.USAGE, 'etcd authenticates with a user and a password: give --user (or user@ in the URL) and a password (--password-file, DEADBOLT_BACKEND_PASSWORD[_FILE])');
        }
        out.auth = { username, password: c.password };
      }
      if (c.tls !== undefined) out.credentials = compact({ rootCertificate: c.tls.ca, certChain: c.tls.cert, privateKey: c.tls.key });
      return out;
    }
    case 'redis':
      return compact({ username: c.user, password: c.password, tls, sentinelTLS: url.startsWith('rediss+') ? tls : undefined });
    case 'postgres':
      return compact({ user: c.user, password: c.password, ssl: tls });
    case 'zookeeper': {
      if (c.tls !== undefined) throw new CliError(ExitCode.USAGE, 'the zookeeper driver\'s client (node-zookeeper-client) has no TLS: --tls-ca/--tls-cert/--tls-key do not apply to zookeeper://');
      const user = c.user ?? userOf(url);
      if (user === undefined || c.password === undefined) {
        throw new CliError(ExitCode.USAGE, 'zookeeper digest authentication needs a user and a password: give --user and a password (--password-file, DEADBOLT_BACKEND_PASSWORD[_FILE])');
      }
      return { authInfo: [{ scheme: 'digest', auth: `${user}:${c.password}` }] };
    }
    default:
      throw new CliError(ExitCode.USAGE, `--user, --password-file and --tls-* are not supported for the ${driver} driver yet`);
  }
}

function userOf(url: string): string | undefined {
  try {
    const user = decodeURIComponent(new URL(url.replace(/,[^/?#]*/, '')).username);
    return user === '' ? undefined : user;
  } catch {
    return undefined;
  }
}

function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Messages of BackendErrors that are the engine refusing who we are (each driver's map-error.ts). */
const REFUSED_CREDENTIALS = /rejected the credentials|refused driverOptions\.authInfo|asks for a password|may not (?:create|use)|permission denied/i;

/**
 * The CliError for a failure of `connect()`. The library's messages never
 * carry the URL's credentials (connect.ts); they are escaped when printed.
 */
function engineFailure(err: unknown, request: EngineRequest): CliError {
  // The library names its options; the command line has its own names for them.
  const message = ((err as Error)?.message ?? String(err)).replaceAll('options.connectTimeout', '--connect-timeout').replaceAll('options.ttl', '--ttl');
  const shown = redact(request.url);
  if (err instanceof CliError) return err;
  if (isInvalidArgument(err)) return new CliError(ExitCode.USAGE, message, { cause: err });
  if (err instanceof ConfigurationError) {
    if (/needs the package|npm install/.test(message)) return new CliError(ExitCode.CONFIG, message, { cause: err });
    return new CliError(ExitCode.USAGE, `${request.from}: ${message}`, { cause: err });
  }
  if (err instanceof BackendUnavailableError) {
    return new CliError(ExitCode.UNAVAILABLE, message, { cause: err, hint: `Is the engine at ${shown} up? --connect-timeout sets how long to try.` });
  }
  if (err instanceof BackendError && REFUSED_CREDENTIALS.test(message)) {
    return new CliError(ExitCode.NO_PERMISSION, message, {
      cause: err,
      hint: 'Credentials: --user, --password-file FILE, DEADBOLT_BACKEND_PASSWORD[_FILE], or user:password@ in the URL (docs/cli.md).',
    });
  }
  if (err instanceof BackendError || err instanceof UnsupportedError) return new CliError(ExitCode.UNAVAILABLE, message, { cause: err });
  return new CliError(ExitCode.SOFTWARE, `unexpected failure connecting to ${shown}: ${message}`, { cause: err });
}
