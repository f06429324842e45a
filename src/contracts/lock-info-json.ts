/**
 * LockInfo as JSON: every listing (`LockDirectory.list()`, `Coordinator.list()`,
 * `holders()`, `break()`) hands out LockInfo objects that `JSON.stringify`
 * serialises, with tokens as decimal strings (a `bigint` has no JSON form, and
 * a token can exceed 2^53) and times as ISO strings. The one rule, in one
 * place: listings call {@link serialisable}; whatever stores or prints a
 * LockInfo as JSON calls {@link lockInfoToJSON}.
 *
 * @module
 */
import type { LockInfo } from './lock-info.js';

/**
 * What `JSON.stringify` makes of a {@link LockInfo}.
 *
 * @example
 * ```ts
 * const infos = JSON.parse(JSON.stringify(await coordinator.list())) as LockInfoJSON[];
 * BigInt(infos[0]!.token); // the fencing token again
 * ```
 */
export type LockInfoJSON = Omit<LockInfo, 'token' | 'since' | 'expiresAt'> & {
  /** The fencing token, in decimal. */
  token: string;
  /** ISO 8601, UTC. */
  since: string;
  /** ISO 8601, UTC. */
  expiresAt?: string;
};

/**
 * The JSON form of `info`.
 *
 * @example
 * ```ts
 * lockInfoToJSON(info); // { name: 'jobs', mode: 'exclusive', token: '17', since: '2026-01-01T00:00:00.000Z', … }
 * ```
 */
export function lockInfoToJSON(info: LockInfo): LockInfoJSON {
  const { token, since, expiresAt, ...rest } = info;
  return {
    ...rest,
    owner: { ...rest.owner },
    token: token.toString(),
    since: since.toISOString(),
    ...(expiresAt !== undefined && { expiresAt: expiresAt.toISOString() }),
  };
}

/**
 * `info` itself, given a `toJSON` (not enumerable: the object still compares,
 * spreads and prints as plain data).
 *
 * @internal
 * @example
 * ```ts
 * return (await driver.list(prefix)).map(serialisable);
 * ```
 */
export function serialisable<T extends LockInfo>(info: T): T {
  Object.defineProperty(info, 'toJSON', { value: () => lockInfoToJSON(info), enumerable: false, configurable: true, writable: true });
  return info;
}
