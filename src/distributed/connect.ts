/**
 * `connect(url, options)`: from a backend URL to a Coordinator.
 *
 * Ordering: check the URL and options (synchronously where the argument alone
 * is wrong), import the scheme's driver module (so an application pays only
 * for the client library it uses, and a missing one is named), then, all under
 * `connectTimeout`: create the driver, check the options against its
 * capabilities, open the session. Whatever was opened by an attempt that
 * failed or timed out is closed, even if it finishes after we gave up.
 *
 * Failing fast: the driver names the endpoints its client dials, and probes
 * (reachability.ts) end the attempt as soon as every one of them refused.
 *
 * Secrets: the URL's credentials (and password-like `driverOptions`) are
 * masked in whatever leaves `connect()`, and, through a SecretFreeDriver, in
 * whatever leaves the driver later (errors, loss causes, listings).
 *
 * @module
 */
import { BackendUnavailableError, ConfigurationError, DeadboltError, invalidType, isInvalidArgument } from '../errors.js';
import { checkAgainstCapabilities, checkConnectOptions, checkTtlFloor, type CheckedConnectOptions } from './connect-options.js';
import { parseConnectUrl, SCHEMES, type ConnectTarget, type SchemeEntry } from './connect-url.js';
import { Coordinator } from './coordinator.js';
import type { ConnectOptions, Driver, DriverFactory, DriverOptions } from './driver.js';
import { Reachability, refusedError } from './reachability.js';
import { withoutSecrets } from './secret-free-driver.js';
import { Secrets } from './secrets.js';
import { loadDriverModule } from './driver-table.js';
import { Session } from './session.js';

/** Where drivers come from; tests substitute their own. @internal */
export interface DriverSource {
  schemes: Readonly<Record<string, SchemeEntry>>;
  /** Import the module of `driver` (a directory name under `src/drivers/`). */
  load(driver: string): Promise<unknown>;
}

/** The real source: the static driver table, each module imported only when its scheme is used. */
const builtinDrivers: DriverSource = {
  schemes: SCHEMES,
  load: loadDriverModule,
};

const ignore = (): void => {};

/**
 * Connect to a coordination engine and open a session on it.
 *
 * Throws synchronously (TypeError / RangeError) on a bad argument. Rejects with
 * ConfigurationError for an unknown scheme, a malformed URL, a driver package
 * that is not installed (naming the `npm install` to run) or a missing required
 * capability; with RangeError when `ttl` is below the engine's minimum; with
 * BackendUnavailableError as soon as every endpoint refused (naming each
 * cause: ECONNREFUSED, ENOTFOUND, TLS), or when the engine did not answer
 * within `connectTimeout`. No error carries the URL's credentials.
 *
 * @example
 * ```ts
 * import { connect } from 'deadbolt';
 * const coordinator = await connect('etcd://10.0.0.1:2379,10.0.0.2:2379', {
 *   ttl: 10_000,
 *   namespace: 'billing',
 *   require: ['serverLease'],
 * });
 * ```
 */
export function connect(url: string | URL, options?: ConnectOptions): Promise<Coordinator> {
  return connectWith(builtinDrivers, url, options);
}

/**
 * `connect()` with another driver source (tests).
 * @internal
 */
export function connectWith(source: DriverSource, url: string | URL, options?: ConnectOptions): Promise<Coordinator> {
  if (typeof url !== 'string' && !(url instanceof URL)) throw invalidType('url', 'a backend URL string (like "etcd://127.0.0.1:2379")', url);
  const checked = checkConnectOptions(options);
  const input = String(url);
  const secrets = Secrets.of(input, checked.driverOptions);
  let target: ConnectTarget;
  try {
    target = parseConnectUrl(input, source.schemes);
  } catch (err) {
    return Promise.reject(secrets.scrub(err)); // a bad URL is a ConfigurationError, rejected as documented
  }
  checkTtlFloor(checked, target.entry);
  return open(source, target, checked, secrets);
}

async function open(source: DriverSource, target: ConnectTarget, options: CheckedConnectOptions, secrets: Secrets): Promise<Coordinator> {
  try {
    return await attempt(source, target, options, secrets);
  } catch (err) {
    throw secrets.scrub(err);
  }
}

async function attempt(source: DriverSource, target: ConnectTarget, options: CheckedConnectOptions, secrets: Secrets): Promise<Coordinator> {
  const factory = await loadFactory(source, target);
  const controller = new AbortController();
  const reachability = new Reachability(controller.signal);
  const timer = setTimeout(() => controller.abort(timedOut(target, options, reachability)), options.connectTimeout);
  const refused = reachability.refused.then((refusals) => {
    const error = refusedError(target.entry.driver, target.display, refusals);
    controller.abort(error);
    throw error;
  });
  const attempt = establish(factory, target, options, controller.signal, reachability, secrets);
  try {
    return await Promise.race([attempt, rejectOnAbort(controller.signal), refused]);
  } catch (err) {
    // A late success still opened a session and a client: close them, never leak them.
    attempt.then((coordinator) => coordinator.close(), ignore).catch(ignore);
    throw explainFailure(err, target);
  } finally {
    clearTimeout(timer);
    reachability.stop();
  }
}

/** The connectTimeout error, saying what each probed endpoint did meanwhile. */
function timedOut(target: ConnectTarget, options: CheckedConnectOptions, reachability: Reachability): BackendUnavailableError {
  const seen = reachability.describe();
  return new BackendUnavailableError(
    `could not connect to ${target.display} within ${options.connectTimeout} ms (options.connectTimeout)` +
      (seen === '' ? '' : ` (${seen}); check that ${target.entry.driver} is up and answering there, or raise options.connectTimeout`),
  );
}

async function establish(
  factory: DriverFactory,
  target: ConnectTarget,
  options: CheckedConnectOptions,
  signal: AbortSignal,
  reachability: Reachability,
  secrets: Secrets,
): Promise<Coordinator> {
  const created = await factory(target.url, driverOptions(target, options, signal, reachability));
  const driver = withoutSecrets(created, secrets);
  try {
    signal.throwIfAborted();
    checkAgainstCapabilities(options, driver.backend, driver.capabilities);
    const session = await Session.open(driver, options.ttl, options.owner);
    if (signal.aborted) {
      await session.close();
      throw signal.reason;
    }
    return new Coordinator(driver, session, options.owner);
  } catch (err) {
    await closeQuietly(driver);
    throw err;
  }
}

function driverOptions(target: ConnectTarget, options: CheckedConnectOptions, signal: AbortSignal, reachability: Reachability): DriverOptions {
  return {
    ttl: options.ttl,
    namespace: options.namespace,
    identity: options.owner,
    require: options.require,
    connectTimeout: options.connectTimeout,
    ...(options.driverOptions === undefined ? {} : { driverOptions: options.driverOptions }),
    endpoints: target.endpoints,
    signal,
    probe: (targets) => reachability.probe(targets),
  };
}

async function loadFactory(source: DriverSource, target: ConnectTarget): Promise<DriverFactory> {
  let module: unknown;
  try {
    module = await source.load(target.entry.driver);
  } catch (err) {
    throw explainFailure(err, target);
  }
  const { createDriver, default: fallback } = (module ?? {}) as { createDriver?: unknown; default?: unknown };
  const factory = typeof createDriver === 'function' ? createDriver : fallback;
  if (typeof factory !== 'function') {
    throw new ConfigurationError(`the ${target.entry.driver} driver module exports no createDriver function`);
  }
  return factory as DriverFactory;
}

/**
 * Turn a failure to load or reach a driver into the error a user can act on.
 * @internal
 */
export function explainFailure(err: unknown, target: ConnectTarget): unknown {
  const missing = missingModule(err);
  if (missing?.package !== undefined) {
    return new ConfigurationError(
      `the ${target.scheme}:// driver needs the package "${missing.package}", which is not installed; run: npm install ${missing.package}`,
      { cause: err },
    );
  }
  if (missing !== undefined) {
    const available = Object.keys(SCHEMES).join(', ');
    return new ConfigurationError(
      `the ${target.entry.driver} driver (for ${target.scheme}://) is not available in this build of deadbolt ` +
        `(${missing.module} is missing); schemes it knows: ${available}`,
      { cause: err },
    );
  }
  if (err instanceof DeadboltError || isInvalidArgument(err)) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new BackendUnavailableError(`could not connect to ${target.display}: ${detail}`, { cause: err });
}

/** The package (bare specifier) or module file a module-not-found error is about. */
function missingModule(err: unknown): { package?: string; module?: string } | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') continue;
    const pkg = /Cannot find package '([^']+)'/.exec(e.message)?.[1] ?? /Cannot find module '([^'./][^']*)'/.exec(e.message)?.[1];
    if (pkg !== undefined) return { package: packageName(pkg) };
    return { module: (e as { url?: string }).url ?? /Cannot find module '([^']+)'/.exec(e.message)?.[1] ?? 'a module' };
  }
  return undefined;
}

/** `etcd3/lib/x` → `etcd3`; `@scope/pkg/x` → `@scope/pkg`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
}

async function closeQuietly(driver: Driver): Promise<void> {
  await driver.close().catch(ignore);
}
