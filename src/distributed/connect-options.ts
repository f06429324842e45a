/**
 * Checking `connect()` options, synchronously, naming the option and the value
 * seen. The one check that needs the driver (the TTL floor of its engine) is
 * made once the driver is loaded: see `checkAgainstCapabilities`.
 *
 * @internal
 * @module
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigurationError, invalidRange, invalidType } from '../errors.js';
import { processIdentity } from '../internal/identity.js';
import { checkKnownOptions, MAX_TIMEOUT_MS } from '../internal/validate.js';
import type { LockOwner } from '../contracts/fenced-guard.js';
import type { SchemeEntry } from './connect-url.js';
import type { Capabilities, CapabilityName, ConnectOptions } from './driver.js';

/** Defaults of {@link ConnectOptions}. @internal */
export const CONNECT_DEFAULTS = Object.freeze({ ttl: 15_000, namespace: 'deadbolt', connectTimeout: 5_000 });

/** Every key of {@link ConnectOptions}. */
const CONNECT_OPTIONS: readonly (keyof ConnectOptions)[] = ['ttl', 'namespace', 'identity', 'require', 'connectTimeout', 'driverOptions'];

const CAPABILITY_NAMES: readonly CapabilityName[] = ['shared', 'durableTokens', 'serverLease', 'waitNotifications', 'breakable', 'recipes'];

/** Letters, digits, `.`, `_`, `-`, in `/`-separated segments: safe as a key prefix, a directory or a table value. */
const NAMESPACE = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;
const MAX_NAMESPACE_LENGTH = 128;
const MAX_IDENTITY_FIELD = 1024;

/** `connect()` options after checking, defaults applied. @internal */
export interface CheckedConnectOptions {
  ttl: number;
  namespace: string;
  owner: LockOwner;
  require: CapabilityName[];
  connectTimeout: number;
  driverOptions: Record<string, unknown> | undefined;
}

/**
 * Check every option that can be checked without the driver.
 * @internal
 */
export function checkConnectOptions(options: unknown): CheckedConnectOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
  checkKnownOptions(options, 'options', CONNECT_OPTIONS);
  const o = options as { [K in keyof ConnectOptions]?: unknown };
  return {
    ttl: checkMs(o.ttl, 'options.ttl', CONNECT_DEFAULTS.ttl),
    namespace: checkNamespace(o.namespace),
    owner: ownerFrom(o.identity),
    require: checkRequire(o.require),
    connectTimeout: checkMs(o.connectTimeout, 'options.connectTimeout', CONNECT_DEFAULTS.connectTimeout),
    driverOptions: checkDriverOptions(o.driverOptions),
  };
}

/**
 * Check the options against what the loaded driver can do: a TTL below the
 * engine's floor is a RangeError naming it; a required capability it lacks is a
 * ConfigurationError naming it.
 * @internal
 */
export function checkAgainstCapabilities(options: CheckedConnectOptions, backend: string, capabilities: Capabilities): void {
  checkTtl(options.ttl, capabilities.minTtlMs, backend);
  const missing = options.require.filter((name) => !capabilities[name]);
  if (missing.length > 0) {
    const notes = capabilities.notes.length > 0 ? ` (${capabilities.notes.join('; ')})` : '';
    throw new ConfigurationError(`the ${backend} driver lacks required capabilities: ${missing.join(', ')}${notes}`);
  }
}

/**
 * The TTL floor of the URL's engine, known from its scheme: checked before
 * anything is loaded, so a too-small `ttl` throws synchronously like every bad argument.
 * @internal
 */
export function checkTtlFloor(options: CheckedConnectOptions, scheme: SchemeEntry): void {
  checkTtl(options.ttl, scheme.minTtlMs ?? 1, scheme.driver);
}

function checkTtl(ttl: number, minTtlMs: number, backend: string): void {
  if (ttl < minTtlMs) throw invalidRange('options.ttl', `at least ${minTtlMs} ms, the smallest TTL the ${backend} driver supports`, ttl);
}

function checkMs(value: unknown, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalidType(what, 'a number of milliseconds', value);
  if (!Number.isInteger(value) || value < 1 || value > MAX_TIMEOUT_MS) {
    throw invalidRange(what, `an integer number of milliseconds from 1 to ${MAX_TIMEOUT_MS}`, value);
  }
  return value;
}

function checkNamespace(value: unknown): string {
  if (value === undefined) return CONNECT_DEFAULTS.namespace;
  if (typeof value !== 'string') throw invalidType('options.namespace', 'a string', value);
  // "." and ".." are no node names on ZooKeeper and would climb out of a directory on file://.
  const dotSegment = value.split('/').some((segment) => segment === '.' || segment === '..');
  if (value.length > MAX_NAMESPACE_LENGTH || !NAMESPACE.test(value) || dotSegment) {
    throw invalidRange(
      'options.namespace',
      `1 to ${MAX_NAMESPACE_LENGTH} letters, digits, '.', '_' or '-', optionally in '/'-separated segments (like "billing/prod"), ` +
        'no segment "." or ".."',
      value,
    );
  }
  return value;
}

function checkRequire(value: unknown): CapabilityName[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidType('options.require', 'an array of capability names', value);
  for (const [i, name] of value.entries()) {
    if (!CAPABILITY_NAMES.includes(name as CapabilityName)) {
      throw invalidType(`options.require[${i}]`, `one of ${CAPABILITY_NAMES.join(', ')}`, name);
    }
  }
  return [...(value as CapabilityName[])];
}

function checkDriverOptions(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidType('options.driverOptions', 'an object', value);
  return value as Record<string, unknown>;
}

/** The owner listings show: given fields, else a random id per coordinator and this process. */
function ownerFrom(identity: unknown): LockOwner {
  if (identity !== undefined && (identity === null || typeof identity !== 'object')) {
    throw invalidType('options.identity', 'an object with id, host, pid and/or command', identity);
  }
  const given = (identity ?? {}) as Partial<Record<keyof LockOwner, unknown>>;
  const text = (key: 'id' | 'host' | 'command', fallback: () => string): string => {
    const value = given[key];
    if (value === undefined) return fallback();
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_IDENTITY_FIELD) {
      throw invalidType(`options.identity.${key}`, `a string of 1 to ${MAX_IDENTITY_FIELD} characters`, value);
    }
    return value;
  };
  const pid = given.pid ?? process.pid;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 0) throw invalidType('options.identity.pid', 'a non-negative integer', pid);
  return {
    id: text('id', () => randomUUID()),
    host: text('host', () => hostname()),
    pid,
    command: text('command', () => processIdentity().command),
  };
}
