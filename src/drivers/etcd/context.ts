/**
 * What the etcd engine's parts share: the client and the key layout.
 *
 * @internal
 * @module
 */
import type { EtcdClient } from './client.js';
import type { KeyLayout } from './keys.js';

/**
 * The etcd driver's client and key layout.
 *
 * @example
 * ```ts
 * const ctx: LockContext = { client, keys: new KeyLayout('deadbolt') };
 * ```
 */
export interface LockContext {
  readonly client: EtcdClient;
  readonly keys: KeyLayout;
}
