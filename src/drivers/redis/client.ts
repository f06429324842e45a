/**
 * The `ioredis` client as the driver uses it: loaded only when a Redis URL is
 * used, one connection for commands and one for pub/sub (a subscribed
 * connection can run nothing else), both checked at connect.
 *
 * Why the defaults differ from `ioredis`'s:
 * - every request carries a deadline (`driverOptions.commandTimeout`, default
 *   the connect timeout): a paused or partitioned server otherwise holds it for
 *   ever. On the command connection it is kept by RequestDeadlines (one timer
 *   for all requests) rather than by ioredis (one timer per command);
 * - commands in flight when a connection drops are not re-sent on reconnect: a
 *   lock request must not run again behind our back (the keepalive withdraws
 *   whatever a lost request may have claimed);
 * - reconnecting starts after 50 ms and backs off to 500 ms, not 2 s: a lease
 *   may be shorter than ioredis's longest pause.
 * Anything in `driverOptions` (`username`, `password`, `tls`, `sentinelPassword`,
 * `sentinelTLS`, `enableTLSForSentinelMode`, `commandTimeout`, `db`, …) is
 * passed to `new Redis()` and wins over these and over the URL.
 *
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import { redact } from '../../distributed/connect-url.js';
import type { ProbeTarget } from '../../distributed/reachability.js';
import { BackendUnavailableError, ConfigurationError } from '../../errors.js';
import { isAuthError, mapError } from './map-error.js';
import { SCRIPTS, type ScriptName } from './protocol.js';
import { RequestDeadlines } from './request-deadlines.js';

type RedisClass = new (options: RedisOptions) => Redis;

/**
 * Where and how to reach Redis, from the URL and the connect options.
 *
 * @example
 * ```ts
 * const config = parseRedisUrl(new URL('redis://:pw@10.0.0.1:6379/2'), { connectTimeout: 5_000 });
 * config.options.db; // 2
 * ```
 */
export interface RedisClientConfig {
  /** Options for `new Redis()` (the command connection: without `commandTimeout`). */
  readonly options: RedisOptions;
  /** The deadline of every request, in ms. */
  readonly requestTimeout: number;
  /** Whether the URL names Sentinels (`redis+sentinel://`). */
  readonly sentinel: boolean;
  /** The server (or Sentinels and master name) for messages, without the password. */
  readonly display: string;
  /** What connect()'s probes dial: the server, or each Sentinel, with the TLS options ioredis uses there. */
  readonly probeTargets: ProbeTarget[];
}

/**
 * An argument of a script.
 *
 * @example
 * ```ts
 * const args: ScriptArg[] = ['deadbolt:', 'range', '-', Buffer.from([0xff]), 200];
 * ```
 */
export type ScriptArg = string | number | Buffer;

/**
 * The two connections and the scripts, as the driver uses them.
 *
 * @example
 * ```ts
 * const client = await openClient(parseRedisUrl(new URL('redis://127.0.0.1:6379'), opts), signal);
 * await client.run('inspect', ['deadbolt:', 'one', 'jobs']);
 * await client.close();
 * ```
 */
export interface RedisClient {
  /** The command connection. */
  readonly redis: Redis;
  /** The pub/sub connection. */
  readonly subscriber: Redis;
  readonly config: RedisClientConfig;
  /** Run one of the protocol's scripts (EVALSHA, loading it on NOSCRIPT), within the request deadline. */
  run(script: ScriptName, args: readonly ScriptArg[]): Promise<unknown>;
  /** Another request on the command connection, within the request deadline. */
  bound<T>(request: Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const SCHEMES = new Set(['redis', 'rediss', 'redis+sentinel', 'rediss+sentinel']);

/**
 * Read a Redis URL:
 * - `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS);
 * - `redis+sentinel://[[user]:password@]s1:p1,s2:p2,…/master[/db]`: the hosts are
 *   Sentinels, the path names the master; the password is the data nodes'
 *   (`driverOptions.sentinelPassword` is the Sentinels' own).
 * `connect()` hands a host list in `endpoints`; without it the URL's host is used.
 *
 * @example
 * ```ts
 * parseRedisUrl(new URL('redis+sentinel://:pw@s1:26379/mymaster'), { connectTimeout: 5_000 }).options.name; // 'mymaster'
 * ```
 */
export function parseRedisUrl(
  url: URL,
  options: {
    connectTimeout: number;
    driverOptions?: Record<string, unknown> | undefined;
    endpoints?: ReadonlyArray<{ host: string; port: number }> | undefined;
  },
): RedisClientConfig {
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  if (!SCHEMES.has(scheme)) {
    throw new ConfigurationError(`the redis driver takes redis://, rediss://, redis+sentinel:// or rediss+sentinel:// URLs; got ${scheme}://`);
  }
  const sentinel = scheme.endsWith('+sentinel');
  const tls = scheme.startsWith('rediss');
  const segments = url.pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
  const endpoints = options.endpoints !== undefined && options.endpoints.length > 0 ? options.endpoints : [hostOf(url, sentinel)];
  const target = sentinel ? sentinelTarget(url, endpoints, segments, tls) : serverTarget(url, endpoints[0]!, segments, tls);
  const { commandTimeout, ...given } = (options.driverOptions ?? {}) as RedisOptions;
  const clientOptions: RedisOptions = {
    ...(url.username !== '' && { username: decodeURIComponent(url.username) }),
    ...(url.password !== '' && { password: decodeURIComponent(url.password) }),
    ...(tls && { tls: {} }),
    connectTimeout: options.connectTimeout,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times: number) => Math.min(50 * times, 500),
    connectionName: 'deadbolt',
    ...target.options,
    ...given,
    // openClient connects and waits for readiness itself
    lazyConnect: true,
  };
  return {
    options: clientOptions,
    requestTimeout: commandTimeout ?? options.connectTimeout,
    sentinel,
    display: target.display,
    probeTargets: probeTargets(clientOptions),
  };
}

/** Where ioredis will connect first, after driverOptions had their say: the Sentinels, or the server (none for a Unix socket). */
function probeTargets(options: RedisOptions): ProbeTarget[] {
  if (options.sentinels !== undefined) {
    const tls = options.sentinelTLS;
    return options.sentinels.flatMap(({ host, port }) => (host === undefined ? [] : [{ host, port: port ?? 26_379, tls }]));
  }
  if (options.path !== undefined || options.host === undefined) return [];
  return [{ host: options.host, port: options.port ?? 6_379, tls: options.tls }];
}

/** `redis+sentinel://s1:p1,…/master[/db]`. */
function sentinelTarget(
  url: URL,
  endpoints: ReadonlyArray<{ host: string; port: number }>,
  segments: string[],
  tls: boolean,
): { options: RedisOptions; display: string } {
  const master = segments[0];
  if (master === undefined) {
    throw new ConfigurationError(
      `a redis+sentinel:// URL names the master after the hosts, like redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster; got ${redactUrl(url)}`,
    );
  }
  return {
    options: {
      sentinels: endpoints.map(({ host, port }) => ({ host, port })),
      name: master,
      db: database(segments[1], url),
      ...(tls && { enableTLSForSentinelMode: true }),
    },
    display: `Sentinels ${endpoints.map(show).join(',')} (master "${master}")`,
  };
}

/** `redis://host:port[/db]`. */
function serverTarget(url: URL, endpoint: { host: string; port: number }, segments: string[], tls: boolean): { options: RedisOptions; display: string } {
  return {
    options: { host: endpoint.host, port: endpoint.port, db: database(segments[0], url) },
    display: `${tls ? 'rediss' : 'redis'}://${show(endpoint)}`,
  };
}

function hostOf(url: URL, sentinel: boolean): { host: string; port: number } {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new ConfigurationError(`the Redis URL ${redactUrl(url)} names no host`);
  return { host, port: url.port === '' ? (sentinel ? 26_379 : 6_379) : Number(url.port) };
}

function database(segment: string | undefined, url: URL): number {
  if (segment === undefined) return 0;
  if (!/^\d{1,5}$/.test(segment)) throw new ConfigurationError(`the database in the Redis URL ${redactUrl(url)} must be a number; got "${segment}"`);
  return Number(segment);
}

function show({ host, port }: { host: string; port: number }): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function redactUrl(url: URL): string {
  return redact(url.href);
}

/**
 * Load `ioredis`, open both connections and wait until both are ready, within
 * `signal` (aborted at the connect timeout). Rejects with BackendError for
 * refused credentials (at once, not at the timeout), BackendUnavailableError
 * when Redis cannot be reached in time, ConfigurationError when `ioredis` is
 * not installed.
 *
 * @example
 * ```ts
 * const client = await openClient(parseRedisUrl(url, options), options.signal);
 * ```
 */
export async function openClient(config: RedisClientConfig, signal?: AbortSignal): Promise<RedisClient> {
  const Redis = await loadIORedis();
  const redis = new Redis(config.options);
  // Few commands, none on the hot path: ioredis's own timeout is fine here. Notifications re-subscribes.
  const subscriber = redis.duplicate({ commandTimeout: config.requestTimeout, autoResubscribe: false });
  try {
    await Promise.all([ready(redis, config.display, signal), ready(subscriber, config.display, signal)]);
  } catch (error) {
    redis.disconnect();
    subscriber.disconnect();
    throw error;
  }
  return new Client(redis, subscriber, config);
}

async function loadIORedis(): Promise<RedisClass> {
  try {
    const mod = (await import('ioredis')) as unknown as { default?: RedisClass; Redis?: RedisClass };
    return (mod.Redis ?? mod.default)!;
  } catch (error) {
    throw new ConfigurationError(
      'the redis:// driver needs the "ioredis" package, an optional peer dependency of deadbolt: run `npm install ioredis`',
      { cause: error },
    );
  }
}

/**
 * Connect and wait for `ready`. ioredis reports failures as `error` events and
 * keeps retrying: a refusal of our credentials ends the wait at once, anything
 * else (refused, unreachable, Sentinels without a master) is retried until `signal`.
 */
function ready(redis: Redis, display: string, signal: AbortSignal | undefined): Promise<void> {
  let last: unknown;
  // A permanent listener: ioredis prints unhandled error events, and later errors surface on commands.
  redis.on('error', (error: unknown) => (last = error));
  return new Promise<void>((resolve, reject) => {
    const done = (error?: unknown): void => {
      redis.off('ready', onReady);
      redis.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onReady = (): void => done();
    const onError = (error: unknown): void => {
      if (isAuthError(error)) done(mapError(error, `connecting to ${display}`));
    };
    const onAbort = (): void => {
      const why = last instanceof Error ? `: ${last.message}` : '';
      done(new BackendUnavailableError(`could not connect to Redis at ${display}${why}`, { cause: last }));
    };
    if (signal?.aborted) return onAbort();
    redis.on('ready', onReady);
    redis.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    redis.connect().catch(() => {
      // reported through 'error'; ioredis retries by its retryStrategy
    });
  });
}

class Client implements RedisClient {
  readonly #shas = new Map<ScriptName, string>();
  readonly #deadlines: RequestDeadlines;

  constructor(
    readonly redis: Redis,
    readonly subscriber: Redis,
    readonly config: RedisClientConfig,
  ) {
    this.#deadlines = new RequestDeadlines(config.requestTimeout);
  }

  run(script: ScriptName, args: readonly ScriptArg[]): Promise<unknown> {
    let sha = this.#shas.get(script);
    if (sha === undefined) this.#shas.set(script, (sha = createHash('sha1').update(SCRIPTS[script]).digest('hex')));
    const request = this.redis.evalsha(sha, 0, ...args).catch((error: unknown) => {
      // A restarted or failed-over server has an empty script cache.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.redis.eval(SCRIPTS[script], 0, ...args);
    });
    return this.#deadlines.bound(request);
  }

  bound<T>(request: Promise<T>): Promise<T> {
    return this.#deadlines.bound(request);
  }

  async close(): Promise<void> {
    await Promise.all([this.redis, this.subscriber].map((connection) => quit(connection)));
  }
}

/** QUIT politely, but never wait more than a moment for a server that does not answer. */
async function quit(connection: Redis): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, 500)));
  await Promise.race([connection.quit().catch(() => {}), limit]);
  clearTimeout(timer);
  connection.disconnect();
}
