/**
 * The `etcd3` client as the driver uses it: loaded only when an `etcd://` URL is
 * used, configured so that nothing waits forever, and checked at connect.
 *
 * Why the defaults differ from `etcd3`'s:
 * - every attempt of a unary call carries a deadline (`attemptTimeout`, 1 s):
 *   a paused or partitioned member otherwise holds a call for ever, and a
 *   proposal forwarded to a leader that just died is never answered;
 * - failed attempts are retried (on the next member, after 10–100 ms) until the
 *   call has taken `requestTimeout` (default: the connect timeout). Every call
 *   the driver makes is safe to repeat: claims, releases and breaks are
 *   conditional transactions, a duplicated lease grant only leaves a lease
 *   that expires unused;
 * - no per-host circuit breaker: `etcd3`'s opens for 5 s after three failures,
 *   longer than a 2 s lease, so a restarted member would cost us our session;
 * - watch streams reconnect after 20 ms doubling to 500 ms (not up to 30 s);
 * - HTTP/2 keepalive pings every 10 s detect a dead connection (etcd refuses
 *   pings more often than every 5 s by default).
 * Anything in `driverOptions` (auth, TLS `credentials`, `grpcOptions`,
 * `faultHandling`, …) is passed to `new Etcd3()` and wins over these.
 *
 * @internal
 * @module
 */
import type { Etcd3, IOptions } from 'etcd3';
import { redact, userInfoOf } from '../../distributed/connect-url.js';
import type { ProbeTarget } from '../../distributed/reachability.js';
import { BackendUnavailableError, ConfigurationError } from '../../errors.js';
import { isTransient, mapError } from './map-error.js';

type Etcd3Module = typeof import('etcd3');

/** Default deadline of one attempt: far above a healthy etcd's milliseconds, below a 2 s lease. */
const DEFAULT_ATTEMPT_TIMEOUT_MS = 1_000;

/** Where and how to reach etcd, from the URL and the connect options. */
export interface EtcdClientConfig {
  /** `host:port` of each member. */
  readonly endpoints: string[];
  /** Bound of the connection check, in ms. */
  readonly connectTimeout: number;
  /** How long one unary call may take, retries included, in ms. */
  readonly requestTimeout: number;
  /** Deadline of each attempt of a unary call, in ms. */
  readonly attemptTimeout: number;
  /** Passed to `new Etcd3()`, over our defaults. */
  readonly driverOptions: Record<string, unknown>;
  /** What connect()'s probes dial: each member, with TLS when `credentials` are given; none when `hosts` overrides the URL. */
  readonly probeTargets: ProbeTarget[];
}

/**
 * A connected client: the `etcd3` instance and the request deadline it uses.
 *
 * @example
 * ```ts
 * const client = await openClient(parseEtcdUrl('etcd://127.0.0.1:2379', opts));
 * await client.etcd.kv.range({ key: Buffer.from('x') });
 * client.close();
 * ```
 */
export interface EtcdClient {
  readonly etcd: Etcd3;
  readonly requestTimeout: number;
  /** A deadline `ms` from now, for calls bounded more tightly than `requestTimeout`. */
  deadline(ms: number): { deadline: number };
  close(): void;
}

/**
 * Read `etcd://user:password@h1:p1,h2:p2`. `connect()` hands the parsed host
 * list in `endpoints` (the WHATWG URL parser refuses several hosts); without
 * it, the authority is read from the URL's text. Credentials in the URL become
 * `auth`, unless `driverOptions.auth` is given.
 */
export function parseEtcdUrl(
  url: URL | string,
  options: {
    connectTimeout: number;
    driverOptions?: Record<string, unknown> | undefined;
    endpoints?: ReadonlyArray<{ host: string; port: number }> | undefined;
  },
): EtcdClientConfig {
  const text = String(url);
  if (!/^etcd:\/\//i.test(text)) throw new ConfigurationError(`etcd URL must look like etcd://host:port[,host:port…]; got ${JSON.stringify(redact(text))}`);
  const userInfo = userInfoOf(text);
  // The user information runs to the last '@' (connect-url.ts); the host list follows it.
  const afterUserInfo = userInfo === undefined ? text.slice('etcd://'.length) : text.slice(text.lastIndexOf('@') + 1);
  const hostList = /^[^/?#]*/.exec(afterUserInfo)![0];
  const endpoints =
    options.endpoints !== undefined && options.endpoints.length > 0
      ? options.endpoints.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`))
      : hostList.split(',').filter((h) => h !== '');
  if (endpoints.length === 0) {
    throw new ConfigurationError(`etcd URL must look like etcd://host:port[,host:port…]; got ${JSON.stringify(redact(text))}`);
  }
  for (const endpoint of endpoints) {
    if (!/^(\[[0-9a-f:.]+\]|[^:[\]]+):\d{1,5}$/i.test(endpoint)) {
      throw new ConfigurationError(`etcd endpoint must be host:port; got ${JSON.stringify(endpoint)} in ${redact(text)}`);
    }
  }
  const driverOptions: Record<string, unknown> = { ...options.driverOptions };
  if (userInfo !== undefined && userInfo !== '' && driverOptions.auth === undefined) driverOptions.auth = credentialsOf(userInfo);
  const requestTimeout = typeof driverOptions.requestTimeout === 'number' ? driverOptions.requestTimeout : options.connectTimeout;
  const attemptTimeout = Math.min(
    requestTimeout,
    typeof driverOptions.attemptTimeout === 'number' ? driverOptions.attemptTimeout : DEFAULT_ATTEMPT_TIMEOUT_MS,
  );
  delete driverOptions.requestTimeout;
  delete driverOptions.attemptTimeout;
  delete driverOptions.layout; // the engine's (layout.ts), not etcd3's
  const probeTargets = driverOptions.hosts === undefined ? endpoints.map((e) => probeTarget(e, driverOptions.credentials)) : [];
  return { endpoints, connectTimeout: options.connectTimeout, requestTimeout, attemptTimeout, driverOptions, probeTargets };
}

/** `user:password` of the URL, decoded (a password may hold ':'). */
function credentialsOf(userInfo: string): { username: string; password: string } {
  const colon = userInfo.indexOf(':');
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new ConfigurationError('the user:password of the etcd URL is not valid percent-encoding; encode both with encodeURIComponent');
    }
  };
  return { username: decode(colon < 0 ? userInfo : userInfo.slice(0, colon)), password: colon < 0 ? '' : decode(userInfo.slice(colon + 1)) };
}

/** A member as connect()'s probe dials it: TLS (HTTP/2) with the client's certificates when `credentials` are given. */
function probeTarget(endpoint: string, credentials: unknown): ProbeTarget {
  const colon = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(endpoint.slice(colon + 1));
  if (credentials === undefined || credentials === null || typeof credentials !== 'object') return { host, port };
  const { rootCertificate, privateKey, certChain } = credentials as { rootCertificate?: Buffer; privateKey?: Buffer; certChain?: Buffer };
  return { host, port, tls: { ca: rootCertificate, key: privateKey, cert: certChain, ALPNProtocols: ['h2'] } };
}

/**
 * Load `etcd3`, build the client and check within `connectTimeout` that etcd
 * answers a linearizable read (which needs a leader, and valid credentials).
 * Rejects with BackendUnavailableError when etcd cannot be reached in time,
 * BackendError when it refuses (wrong credentials), ConfigurationError when
 * `etcd3` is not installed.
 */
export async function openClient(config: EtcdClientConfig, signal?: AbortSignal): Promise<EtcdClient> {
  const mod = await loadEtcd3();
  const client = createClient(mod, config);
  // Given up on (timeout, every endpoint refused): close now, so no call waits out its deadline.
  const onAbort = (): void => client.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await verify(client, config, signal);
  } catch (error) {
    client.close();
    throw signal?.aborted ? signal.reason : error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return client;
}

async function loadEtcd3(): Promise<Etcd3Module> {
  try {
    const mod = (await import('etcd3')) as Etcd3Module & { default?: Etcd3Module };
    return typeof mod.Etcd3 === 'function' ? mod : mod.default!;
  } catch (error) {
    throw new ConfigurationError(
      'the etcd:// driver needs the "etcd3" package, an optional peer dependency of deadbolt: run `npm install etcd3`',
      { cause: error },
    );
  }
}

function createClient(mod: Etcd3Module, config: EtcdClientConfig): EtcdClient {
  const secure = config.driverOptions.credentials !== undefined;
  let closed = false;
  const options = {
    hosts: config.endpoints.map((e) => `${secure ? 'https' : 'http'}://${e}`),
    dialTimeout: config.connectTimeout,
    defaultCallOptions: (context: { isStream: boolean }) =>
      context.isStream ? {} : { deadline: Date.now() + config.attemptTimeout },
    faultHandling: {
      host: () => passThrough as never,
      global: retryWithin(mod, config.requestTimeout, () => closed) as never,
      watchBackoff: new Backoff(20, 500) as never,
    },
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.initial_reconnect_backoff_ms': 50,
      'grpc.max_reconnect_backoff_ms': 1_000,
    },
    ...config.driverOptions,
  } as IOptions;
  let etcd: Etcd3;
  try {
    etcd = new mod.Etcd3(options);
  } catch (error) {
    throw new ConfigurationError(`etcd client options rejected: ${(error as Error).message}`, { cause: error });
  }
  return {
    etcd,
    requestTimeout: config.requestTimeout,
    deadline: (ms) => ({ deadline: Date.now() + ms }),
    close: () => {
      closed = true;
      etcd.close();
    },
  };
}

/** Retry until etcd answers, an error that is not transient, or the connect timeout. */
async function verify(client: EtcdClient, config: EtcdClientConfig, signal: AbortSignal | undefined): Promise<void> {
  const until = Date.now() + config.connectTimeout;
  let pause = 25;
  for (;;) {
    signal?.throwIfAborted();
    const left = until - Date.now();
    try {
      await client.etcd.kv.range({ key: Buffer.from('\0'), count_only: true }, { deadline: Date.now() + Math.max(left, 1) });
      return;
    } catch (error) {
      if (!isTransient(error)) throw mapError(error, `connecting to ${config.endpoints.join(',')}`);
      if (Date.now() + pause >= until) {
        throw new BackendUnavailableError(
          `etcd at ${config.endpoints.join(',')} did not answer within options.connectTimeout (${config.connectTimeout} ms): ${(error as Error).message}`,
          { cause: error },
        );
      }
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 250);
    }
  }
}

/** The per-host policy: call straight through (no circuit breaker). */
const passThrough = {
  execute: <T>(fn: (context: unknown) => PromiseLike<T> | T): Promise<T> => Promise.resolve().then(() => fn({})),
  onSuccess: () => ({ dispose() {} }),
  onFailure: () => ({ dispose() {} }),
};

/**
 * The global policy: retry a failed attempt on the next member while it failed
 * for a reason that may pass (refused, reset, deadline, no leader, leader
 * changed), the call has not yet taken `budgetMs` and the client is open.
 */
function retryWithin(mod: Etcd3Module, budgetMs: number, closed: () => boolean): typeof passThrough {
  return {
    ...passThrough,
    async execute<T>(fn: (context: unknown) => PromiseLike<T> | T): Promise<T> {
      const giveUpAt = Date.now() + budgetMs;
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn({ attempt });
        } catch (error) {
          const pause = Math.min(10 * attempt, 100);
          const retry = mod.isRecoverableError(error as Error) || isTransient(error);
          // A closed client (connect gave up, or close()) retries nothing: its calls end now.
          if (!retry || closed() || Date.now() + pause >= giveUpAt) throw error;
          await new Promise((r) => setTimeout(r, pause));
        }
      }
    },
  };
}

/** Exponential backoff for watch-stream reconnection (cockatiel's IBackoff shape). */
class Backoff {
  readonly duration: number;
  readonly #max: number;

  constructor(duration: number, max: number) {
    this.duration = duration;
    this.#max = max;
  }

  next(): Backoff {
    return new Backoff(Math.min(this.duration * 2, this.#max), this.#max);
  }
}
