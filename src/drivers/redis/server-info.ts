/**
 * What the driver reads about the server at connect: its version, its role,
 * and the settings that decide what its locks are worth (persistence,
 * eviction). Managed Redis services often disable CONFIG: then the settings
 * are "unknown" and the driver assumes the worse.
 *
 * @internal
 * @module
 */
import { ConfigurationError, UnsupportedError } from '../../errors.js';
import type { RedisClient } from './client.js';
import { mapError } from './map-error.js';

/**
 * The oldest Redis the driver accepts. Its scripts need script effects
 * replication (the default since 5.0: they read TIME before writing); 6.2 is
 * the support line chosen on top of that, so that older servers are refused
 * with a clear error rather than half-supported. Developed against 7.0.
 *
 * @example
 * ```ts
 * if (compareVersions(info.version, MIN_REDIS_VERSION) < 0) throw new UnsupportedError('…');
 * ```
 */
export const MIN_REDIS_VERSION = '6.2.0';

/**
 * The server as seen at connect. A setting is `undefined` when CONFIG GET was refused.
 *
 * @example
 * ```ts
 * const info = await readServerInfo(client);
 * if (info.appendfsync === 'always') console.log('tokens survive a crash');
 * ```
 */
export interface ServerInfo {
  /** `redis_version` from INFO. */
  version: string;
  /** `master` or `slave`. */
  role: string;
  /** Whether the server runs in cluster mode. */
  cluster: boolean;
  appendonly: string | undefined;
  appendfsync: string | undefined;
  maxmemoryPolicy: string | undefined;
  /** `maxmemory` in bytes; 0 means no limit. */
  maxmemory: number | undefined;
  /** Why CONFIG GET failed, when it did. */
  configError: string | undefined;
}

/**
 * Read version, role and settings in one pipeline.
 *
 * @example
 * ```ts
 * const info = await readServerInfo(client.redis);
 * ```
 */
export async function readServerInfo(client: RedisClient): Promise<ServerInfo> {
  let results: [Error | null, unknown][] | null;
  try {
    const pipeline = client.redis
      .pipeline()
      .info('server')
      .info('replication')
      .info('cluster')
      .config('GET', 'appendonly')
      .config('GET', 'appendfsync')
      .config('GET', 'maxmemory-policy')
      .config('GET', 'maxmemory');
    results = await client.bound(pipeline.exec());
  } catch (error) {
    throw mapError(error, 'reading the server information');
  }
  const [server, replication, cluster, ...settings] = results ?? [];
  const info = { ...parseInfo(text(server)), ...parseInfo(text(replication)), ...parseInfo(text(cluster)) };
  const refused = settings.find(([error]) => error !== null)?.[0];
  const setting = (i: number): string | undefined => (refused ? undefined : configValue(settings[i]?.[1]));
  const maxmemory = setting(3);
  return {
    version: info.redis_version ?? '0.0.0',
    role: info.role ?? 'master',
    cluster: info.cluster_enabled === '1',
    appendonly: setting(0),
    appendfsync: setting(1),
    maxmemoryPolicy: setting(2),
    maxmemory: maxmemory === undefined ? undefined : Number(maxmemory),
    configError: refused?.message,
  };
}

/**
 * Refuse a server the driver cannot run on: too old, a cluster, or a replica
 * reached directly (it would refuse every write).
 *
 * @example
 * ```ts
 * checkServer(info, { sentinel: false, display: 'redis://10.0.0.1:6379' }); // throws UnsupportedError for Redis 5
 * ```
 */
export function checkServer(info: ServerInfo, where: { sentinel: boolean; display: string }): void {
  if (compareVersions(info.version, MIN_REDIS_VERSION) < 0) {
    throw new UnsupportedError(
      `Redis ${info.version} at ${where.display} is not supported: the redis driver needs Redis ${MIN_REDIS_VERSION} or later; ` +
        'upgrade the server',
    );
  }
  if (info.cluster) {
    throw new UnsupportedError(
      `${where.display} is a Redis Cluster node: the redis driver needs a single server or a Sentinel deployment ` +
        "(a session's keepalive renews locks of many names, which a cluster spreads over slots)",
    );
  }
  if (info.role !== 'master') {
    throw new ConfigurationError(
      `${where.display} is a read-only replica (role ${info.role}): connect to the master, or name the Sentinels with redis+sentinel://`,
    );
  }
}

/**
 * Compare dotted versions numerically: negative, zero or positive.
 *
 * @example
 * ```ts
 * compareVersions('7.0.15', '6.2.0'); // > 0
 * ```
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((part) => Number.parseInt(part, 10) || 0);
  const pb = b.split('.').map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function text(result: [Error | null, unknown] | undefined): string {
  if (result === undefined) return '';
  if (result[0] !== null) throw mapError(result[0], 'reading the server information (INFO)');
  return String(result[1]);
}

/** `INFO` text → field map. */
function parseInfo(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of body.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) out[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return out;
}

/** `CONFIG GET x` answers `[x, value]`. */
function configValue(reply: unknown): string | undefined {
  return Array.isArray(reply) && reply.length >= 2 ? String(reply[1]) : undefined;
}
