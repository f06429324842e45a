/**
 * What every part of the redis driver shares: the client, the key prefix of
 * the namespace, and the pub/sub router. Key names themselves are built in
 * the scripts (protocol.ts); here only the prefix and the session's keys.
 *
 * @internal
 * @module
 */
import type { RedisClient } from './client.js';
import type { Notifications } from './notifications.js';

/**
 * The driver's shared parts.
 *
 * @example
 * ```ts
 * const ctx: RedisContext = { client, prefix: keyPrefix('billing'), notifications };
 * ```
 */
export interface RedisContext {
  readonly client: RedisClient;
  /** `<namespace>:`, in front of every key and channel. */
  readonly prefix: string;
  readonly notifications: Notifications;
}

/**
 * The prefix of every key of a namespace. Namespaces never contain `:`, so
 * `billing:` never sees the keys of `billing/prod:`.
 *
 * @example
 * ```ts
 * keyPrefix('billing'); // 'billing:'
 * ```
 */
export function keyPrefix(namespace: string): string {
  return `${namespace}:`;
}

/**
 * The keys and channel of one session.
 *
 * @example
 * ```ts
 * sessionKeys('billing:', 'ab12').channel; // 'billing:wake:ab12'
 * ```
 */
export function sessionKeys(prefix: string, sessionId: string): { key: string; channel: string } {
  return { key: `${prefix}session:${sessionId}`, channel: `${prefix}wake:${sessionId}` };
}

/**
 * The channel the scripts publish to whenever a claim of `name` is created,
 * deleted or rewritten (lua.ts, `changed`), for Engine.watchName.
 *
 * @example
 * ```ts
 * nameChannel('billing:', 'jobs'); // 'billing:claims:jobs'
 * ```
 */
export function nameChannel(prefix: string, name: string): string {
  return `${prefix}claims:${name}`;
}
