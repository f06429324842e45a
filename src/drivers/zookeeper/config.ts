/**
 * Reading `zookeeper://host:port[,host:port…][/chroot][?layout=deadbolt|kazoo]` and the driver options.
 *
 * The chroot is applied by the driver (every path it builds starts with it),
 * not by the client library: that lets `connect()` check that the chroot
 * exists, and probe the server outside it.
 *
 * @internal
 * @module
 */
import { redact } from '../../distributed/connect-url.js';
import { ConfigurationError } from '../../errors.js';
import type { Endpoint } from '../../distributed/driver.js';
import { LAYOUTS, type ZkLayout } from './layout.js';

/**
 * Where and how to reach ZooKeeper.
 *
 * @example
 * ```ts
 * const config: ZooKeeperConfig = { endpoints: ['10.0.0.1:2181'], chroot: '/apps', connectTimeout: 5_000, authInfo: [], probeTargets: [{ host: '10.0.0.1', port: 2181 }], layout: 'deadbolt' };
 * ```
 */
export interface ZooKeeperConfig {
  /** `host:port` of each member, in URL order. */
  readonly endpoints: string[];
  /** The chroot (`/a/b`), or `''` for none. */
  readonly chroot: string;
  /** Bound of the first connection, in ms. */
  readonly connectTimeout: number;
  /** `addAuthInfo` pairs sent on every connection (e.g. `{ scheme: 'digest', auth: 'user:password' }`). */
  readonly authInfo: ReadonlyArray<{ scheme: string; auth: string }>;
  /** The members, for connect()'s probes (the client retries refused members round after round). */
  readonly probeTargets: ReadonlyArray<{ host: string; port: number }>;
  /** How claims are named (layout.ts): `?layout=` or `driverOptions.layout`; default `deadbolt`. */
  readonly layout: ZkLayout;
}

/** What ZooKeeper refuses in a node name (its PathUtils): controls, surrogates, private use, specials. */
const FORBIDDEN_IN_PATH = /[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff]/;

/**
 * Read the URL `connect()` parsed and the options it checked.
 *
 * @example
 * ```ts
 * parseZooKeeperUrl(new URL('zookeeper://10.0.0.1:2181/apps'), { endpoints, connectTimeout: 5_000 });
 * // { endpoints: ['10.0.0.1:2181'], chroot: '/apps', … }
 * ```
 */
export function parseZooKeeperUrl(
  url: URL,
  options: { endpoints: readonly Endpoint[]; connectTimeout: number; driverOptions?: Record<string, unknown> | undefined },
): ZooKeeperConfig {
  const shown = redact(String(url));
  if (url.username !== '' || url.password !== '') {
    throw new ConfigurationError(
      `zookeeper URL "${shown}" carries credentials; pass them as driverOptions.authInfo ` +
        "([{ scheme: 'digest', auth: 'user:password' }]) instead",
    );
  }
  if (url.hash !== '') {
    throw new ConfigurationError(`zookeeper URL "${shown}" has a fragment; it takes only hosts, a chroot and ?layout= (zookeeper://h1:2181,h2:2181/chroot?layout=kazoo)`);
  }
  const layout = parseLayout(url, options.driverOptions, shown);
  const members = options.endpoints.length > 0 ? options.endpoints : [{ host: url.hostname, port: Number(url.port || 2181) }];
  const endpoints = members.map(({ host, port }) => {
    if (host.includes(':')) throw new ConfigurationError(`zookeeper URL "${shown}": IPv6 addresses are not supported by node-zookeeper-client; use a host name`);
    return `${host}:${port}`;
  });
  return {
    endpoints,
    probeTargets: members.map(({ host, port }) => ({ host, port })),
    chroot: parseChroot(url.pathname, shown),
    connectTimeout: options.connectTimeout,
    authInfo: parseAuthInfo(options.driverOptions),
    layout,
  };
}

/**
 * `?layout=` and `driverOptions.layout`: one of {@link LAYOUTS}; both given
 * must agree (a URL from configuration and code that disagree is a mistake to
 * report, not to settle silently).
 */
function parseLayout(url: URL, driverOptions: Record<string, unknown> | undefined, shown: string): ZkLayout {
  const keys = [...url.searchParams.keys()];
  const unknown = keys.filter((key) => key !== 'layout');
  if (unknown.length > 0 || url.searchParams.getAll('layout').length > 1) {
    throw new ConfigurationError(`zookeeper URL "${shown}": the only query parameter is layout (once), one of ${LAYOUTS.join(', ')}`);
  }
  const fromUrl = url.searchParams.get('layout') ?? undefined;
  const fromOptions = driverOptions?.layout;
  for (const value of [fromUrl, fromOptions]) {
    if (value !== undefined && !LAYOUTS.includes(value as ZkLayout)) {
      const what = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : `a ${typeof value}`;
      throw new ConfigurationError(`the zookeeper layout must be one of ${LAYOUTS.join(', ')}; got ${what}`);
    }
  }
  if (fromUrl !== undefined && fromOptions !== undefined && fromUrl !== fromOptions) {
    throw new ConfigurationError(`zookeeper URL "${shown}" says layout=${fromUrl} but driverOptions.layout is ${String(fromOptions)}; give one`);
  }
  return ((fromUrl ?? fromOptions) as ZkLayout | undefined) ?? 'deadbolt';
}

/** `/a/b/` → `/a/b`; `/` and `` → ``; percent-escapes decoded; ZooKeeper's rules checked. */
function parseChroot(pathname: string, shown: string): string {
  const segments = pathname.split('/').filter((s) => s !== '');
  if (segments.length === 0) return '';
  const decoded = segments.map((segment) => {
    let text: string;
    try {
      text = decodeURIComponent(segment);
    } catch (error) {
      throw new ConfigurationError(`zookeeper URL "${shown}": chroot segment "${segment}" is not valid percent-encoding`, { cause: error });
    }
    if (text === '.' || text === '..' || text.includes('/') || FORBIDDEN_IN_PATH.test(text)) {
      throw new ConfigurationError(`zookeeper URL "${shown}": "${text}" is not a valid ZooKeeper node name in the chroot`);
    }
    return text;
  });
  return `/${decoded.join('/')}`;
}

function parseAuthInfo(driverOptions: Record<string, unknown> | undefined): Array<{ scheme: string; auth: string }> {
  if (driverOptions === undefined) return [];
  const unknown = Object.keys(driverOptions).filter((key) => key !== 'authInfo' && key !== 'layout');
  if (unknown.length > 0) {
    throw new ConfigurationError(`the zookeeper driver takes only driverOptions.authInfo and driverOptions.layout; got ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
  }
  const list = driverOptions.authInfo;
  if (list === undefined) return [];
  const valid =
    Array.isArray(list) &&
    list.every((item) => typeof item === 'object' && item !== null && typeof item.scheme === 'string' && item.scheme !== '' && typeof item.auth === 'string');
  if (!valid) {
    throw new ConfigurationError("driverOptions.authInfo must be an array of { scheme, auth } strings, like [{ scheme: 'digest', auth: 'user:password' }]");
  }
  return (list as Array<{ scheme: string; auth: string }>).map(({ scheme, auth }) => ({ scheme, auth }));
}
