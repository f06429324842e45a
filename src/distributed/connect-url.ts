/**
 * Backend URLs: which scheme selects which driver, and how each scheme's
 * authority is read. Table-driven, so adding a driver is one row.
 *
 * Host lists (`etcd://h1:2379,h2:2379`, `zookeeper://h1:2181,h2:2181/chroot`)
 * are not valid WHATWG URLs, so they are split here; the driver receives a
 * `URL` carrying the first endpoint plus every endpoint in `options.endpoints`.
 * Passwords in URLs never appear in error messages.
 *
 * @internal
 * @module
 */
import { ConfigurationError } from '../errors.js';
import type { Endpoint } from './driver.js';

/** How a scheme's authority (what follows `scheme://`) is read. @internal */
export interface SchemeEntry {
  /** The directory under `src/drivers/` whose `index.js` implements the scheme. */
  driver: string;
  /** `name`: `memory://name`; `path`: `file:///dir`; `host`: one host; `hosts`: a comma-separated host list. */
  authority: 'name' | 'path' | 'host' | 'hosts';
  /** Port used for a host given without one. */
  defaultPort?: number;
  /** What a URL of this scheme looks like, for error messages. */
  example: string;
  /**
   * The query parameters its driver reads (docs/drivers/*); any other is a
   * ConfigurationError naming these. None when absent.
   */
  parameters?: readonly string[];
  /**
   * The smallest `ttl` its engine supports (the driver's `capabilities.minTtlMs`),
   * known here so that `connect()` can refuse a smaller one synchronously (1 ms when absent).
   */
  minTtlMs?: number;
}

/** node-postgres's own URL parameters (pg-connection-string), passed through by the postgres driver. */
const POSTGRES_PARAMETERS = [
  'schema', // deadbolt's: where its tables live
  'host', 'port', 'user', 'password', 'db', 'encoding', 'client_encoding', 'application_name', 'fallback_application_name', 'options',
  'ssl', 'sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'sslnegotiation', 'uselibpqcompat',
] as const;
const REDIS = { driver: 'redis', parameters: [], minTtlMs: 100 } as const;

/**
 * Every scheme `connect()` knows. @internal
 *
 * @example
 * ```ts
 * Object.keys(SCHEMES); // ['memory', 'file', 'etcd', 'redis', 'postgres', 'postgresql', 'zookeeper']
 * ```
 */
export const SCHEMES: Readonly<Record<string, SchemeEntry>> = Object.freeze({
  memory: { driver: 'memory', authority: 'name', example: 'memory://tests', parameters: [], minTtlMs: 20 },
  file: { driver: 'file', authority: 'path', example: 'file:///run/locks', parameters: ['prefix', 'cleanup'], minTtlMs: 1 },
  etcd: { driver: 'etcd', authority: 'hosts', defaultPort: 2379, example: 'etcd://10.0.0.1:2379,10.0.0.2:2379', parameters: ['layout'], minTtlMs: 2_000 },
  redis: { ...REDIS, authority: 'host', defaultPort: 6379, example: 'redis://:password@10.0.0.1:6379/0' },
  rediss: { ...REDIS, authority: 'host', defaultPort: 6379, example: 'rediss://:password@redis.example.com:6380/0' },
  'redis+sentinel': { ...REDIS, authority: 'hosts', defaultPort: 26379, example: 'redis+sentinel://:password@10.0.0.1:26379,10.0.0.2:26379/mymaster' },
  'rediss+sentinel': { ...REDIS, authority: 'hosts', defaultPort: 26379, example: 'rediss+sentinel://:password@sentinel.example.com:26379/mymaster' },
  postgres: { driver: 'postgres', authority: 'host', defaultPort: 5432, example: 'postgres://user@10.0.0.1:5432/db', parameters: POSTGRES_PARAMETERS, minTtlMs: 500 },
  postgresql: { driver: 'postgres', authority: 'host', defaultPort: 5432, example: 'postgresql://user@10.0.0.1:5432/db', parameters: POSTGRES_PARAMETERS, minTtlMs: 500 },
  zookeeper: { driver: 'zookeeper', authority: 'hosts', defaultPort: 2181, example: 'zookeeper://10.0.0.1:2181,10.0.0.2:2181/chroot', parameters: ['layout'], minTtlMs: 1_000 },
});

/** A URL taken apart. @internal */
export interface ConnectTarget {
  scheme: string;
  entry: SchemeEntry;
  /** What the driver receives: for host lists, the URL with the first endpoint only. */
  url: URL;
  endpoints: Endpoint[];
  /** The URL as error messages show it (user information and secret query parameters hidden). */
  display: string;
}

/** Query parameters whose value is hidden in messages (`password=`, `sslpassword=`, `token=`, …). */
const SECRET_PARAMETER = /([?&][^=&#]*(?:pass|secret|token)[^=&#]*=)[^&#]*/gi;

/**
 * Parse `input` against `schemes`. Throws ConfigurationError naming the bad
 * part, never showing the user information.
 * @internal
 */
export function parseConnectUrl(input: string, schemes: Readonly<Record<string, SchemeEntry>> = SCHEMES): ConnectTarget {
  const display = redact(input);
  const known = Object.keys(schemes).map((s) => `${s}://`).join(', ');
  const match = /^([a-z][a-z0-9+.-]*):(\/\/)?/i.exec(input);
  const scheme = match?.[1]?.toLowerCase();
  const entry = scheme === undefined ? undefined : schemes[scheme];
  // An unknown "scheme:" without "//" may be the user of `user:password@host`: never echo it.
  if (scheme === undefined || (entry === undefined && match?.[2] === undefined)) {
    throw new ConfigurationError(`backend URL "${display}" has no scheme; use one of ${known}`);
  }
  if (entry === undefined) throw new ConfigurationError(`unknown backend URL scheme "${scheme}:" in "${display}"; known schemes: ${known}`);
  const userInfo = splitUserInfo(input)?.userInfo;
  const problem = userInfo === undefined ? undefined : userInfoProblem(userInfo);
  if (problem !== undefined) throw new ConfigurationError(`backend URL "${display}": ${problem}`);
  const target =
    entry.authority === 'hosts' || entry.authority === 'host'
      ? parseHosts(input, scheme, entry, display)
      : { scheme, entry, url: parseWhole(input, entry, display), endpoints: [], display };
  checkParameters(target);
  return target;
}

/** Every query parameter must be one the scheme's driver reads: a misspelt one would be ignored silently. */
function checkParameters({ scheme, entry, url, display }: ConnectTarget): void {
  const accepted = entry.parameters ?? [];
  for (const name of new Set(url.searchParams.keys())) {
    if (accepted.includes(name)) continue;
    const takes = accepted.length === 0 ? 'take no query parameters' : `take only ${accepted.join(', ')}`;
    throw new ConfigurationError(`backend URL "${display}" has an unknown parameter ${JSON.stringify(name)}: ${scheme}:// URLs ${takes}`);
  }
}

/**
 * The user information of `input` as written (`user:password`, still
 * percent-encoded), or `undefined` when it has none: everything between
 * `scheme://` and the last `@`, unless the authority is empty (`file:///a@b`).
 *
 * @example
 * ```ts
 * userInfoOf('redis://:p@ss/w@10.0.0.1:6379'); // ':p@ss/w'
 * userInfoOf('file:///run/locks@2');            // undefined
 * ```
 * @internal
 */
export function userInfoOf(input: string): string | undefined {
  return splitUserInfo(input)?.userInfo;
}

/**
 * `input` as messages may show it: the password replaced by `***` (whatever
 * characters it holds, raw or percent-encoded), the user name too unless it is
 * plainly written, and the values of secret-looking query parameters. Text
 * without `scheme://` is hidden up to its last `@`.
 *
 * @example
 * ```ts
 * redact('postgres://app:p/ss#1@db:5432/app?sslpassword=x'); // 'postgres://app:***@db:5432/app?sslpassword=***'
 * ```
 * @internal
 */
export function redact(input: string): string {
  const split = splitUserInfo(input);
  if (split === undefined) {
    const at = input.lastIndexOf('@');
    return at < 0 ? input.replace(SECRET_PARAMETER, '$1***') : `***${input.slice(at).replace(SECRET_PARAMETER, '$1***')}`;
  }
  const shown = split.userInfo === undefined ? '' : `${shownUserInfo(split.userInfo)}@`;
  return `${split.head}${shown}${split.rest.replace(SECRET_PARAMETER, '$1***')}`;
}

/** A user name written as RFC 3986 allows (percent-encoded, no raw `@`): safe and useful to show. */
const PLAIN_USER = /^[A-Za-z0-9._~!$&'()*+,;=%-]*$/;

/**
 * User information as messages show it: the user name (up to the first `:`,
 * as every parser splits it) when it is plainly written, and `***` for the
 * password and for anything ambiguous.
 */
function shownUserInfo(userInfo: string): string {
  const colon = userInfo.indexOf(':');
  const user = colon < 0 ? userInfo : userInfo.slice(0, colon);
  const shownUser = PLAIN_USER.test(user) ? user : '***';
  return colon < 0 ? shownUser : `${shownUser}:***`;
}

/**
 * `scheme://` + user information + the rest; `undefined` when `input` has no
 * `scheme://`. The user information runs to the last `@`, unless the
 * authority is empty (`file:///run/locks@2`: an `@` in a path is no credential).
 */
function splitUserInfo(input: string): { head: string; userInfo: string | undefined; rest: string } | undefined {
  const match = /^[a-z][a-z0-9+.-]*:\/\//i.exec(input);
  if (match === null) return undefined;
  const head = match[0];
  const after = input.slice(head.length);
  const at = after.startsWith('/') ? -1 : after.lastIndexOf('@');
  if (at < 0) return { head, userInfo: undefined, rest: after };
  return { head, userInfo: after.slice(0, at), rest: after.slice(at + 1) };
}

/**
 * Why user information cannot be passed on as written, if it cannot: a raw
 * `/`, `?` or `#` (every other URL parser ends the authority there), or a `%`
 * that starts no percent-escape (it would not decode). Says which, never what.
 */
function userInfoProblem(userInfo: string): string | undefined {
  const raw = /[/?#]/.exec(userInfo)?.[0];
  if (raw !== undefined) {
    return (
      `the part before its last "@" is read as user:password and holds a raw "${raw}"; ` +
      'percent-encode the user name and password (encodeURIComponent), and write an "@" that belongs to the path or query as %40'
    );
  }
  if (/%(?![0-9a-f]{2})/i.test(userInfo)) {
    return 'its user:password holds a "%" that starts no percent-escape (%XX); write a literal "%" as %25 (encodeURIComponent does)';
  }
  try {
    decodeURIComponent(userInfo);
  } catch {
    return 'its user:password holds percent-escapes that are not UTF-8; encode the user name and password with encodeURIComponent';
  }
  return undefined;
}

function parseWhole(input: string, entry: SchemeEntry, display: string): URL {
  try {
    return new URL(input);
  } catch {
    // No cause: Node's ERR_INVALID_URL carries the whole input, credentials included.
    throw new ConfigurationError(`backend URL "${display}" is malformed; expected something like ${entry.example}`);
  }
}

function parseHosts(input: string, scheme: string, entry: SchemeEntry, display: string): ConnectTarget {
  const split = splitUserInfo(input);
  if (split === undefined) throw new ConfigurationError(`backend URL "${display}" must start with ${scheme}://; expected something like ${entry.example}`);
  const userinfo = split.userInfo === undefined ? '' : `${split.userInfo}@`;
  const match = /^([^/?#]*)(.*)$/s.exec(split.rest)!;
  const list = match[1]!;
  const rest = match[2]!;
  if (list === '') throw new ConfigurationError(`backend URL "${display}" names no host; expected something like ${entry.example}`);
  const parts = list.split(',');
  if (parts.length > 1 && entry.authority === 'host') {
    throw new ConfigurationError(`backend URL "${display}" lists ${parts.length} hosts, but ${scheme}:// takes one; expected something like ${entry.example}`);
  }
  const endpoints = parts.map((part, index) => parseEndpoint(part, index, parts.length, entry, display));
  const first = endpoints[0]!;
  const host = first.host.includes(':') ? `[${first.host}]` : first.host;
  const url = new HostListUrl(parseWhole(`${scheme}://${userinfo}${host}:${first.port}${rest}`, entry, display).href, input);
  return { scheme, entry, url, endpoints, display };
}

/**
 * The URL a host-list driver receives: `host`, `port` and the other parsed
 * fields describe the first endpoint (WHATWG URL holds only one), while `href`
 * and `String(url)` give the URL as written, every host included, so a driver
 * that reads the text sees the whole list. `options.endpoints` has them parsed.
 */
class HostListUrl extends URL {
  readonly #written: string;

  constructor(firstEndpoint: string, written: string) {
    super(firstEndpoint);
    this.#written = written;
    // `href` is declared as a data property of URL, so it is shadowed per instance.
    Object.defineProperty(this, 'href', { get: () => this.#written, enumerable: true });
  }

  override toString(): string {
    return this.#written;
  }

  override toJSON(): string {
    return this.#written;
  }
}

function parseEndpoint(part: string, index: number, count: number, entry: SchemeEntry, display: string): Endpoint {
  const where = count > 1 ? `host list entry ${index + 1} ("${part}")` : `host "${part}"`;
  const bad = (why: string): ConfigurationError =>
    new ConfigurationError(`backend URL "${display}": ${where} ${why}; expected something like ${entry.example}`);
  if (part === '') throw bad('is empty');
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::(.*))?$/i.exec(part);
  if (match === null) throw bad('is not host, host:port or [ipv6]:port');
  const host = (match[1] ?? match[2])!;
  if (match[2] !== undefined && !/^[a-z0-9._-]+$/i.test(host)) throw bad('has characters a host name cannot have');
  const portText = match[3];
  if (portText === undefined || portText === '') {
    if (entry.defaultPort === undefined) throw bad('has no port');
    return { host, port: entry.defaultPort };
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 1 && port <= 65_535)) throw bad(`has an invalid port "${portText}" (1 to 65535)`);
  return { host, port };
}
