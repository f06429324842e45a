/**
 * Reading owner records back from an engine. Every engine stores who holds a
 * claim in its own wire format (etcd and ZooKeeper: a JSON object with one
 * field of their own; Redis: `token|session|claim|since|owner JSON`;
 * PostgreSQL: a jsonb column), and those formats stay as they are, so records
 * written by other deadbolt versions still read. What is the same everywhere
 * is the distrust: whatever comes back may have been written by someone else,
 * so each field is checked for its type and replaced by a placeholder when it
 * is wrong, and nothing here ever throws.
 *
 * @internal
 * @module
 */
import type { LockOwner } from '../contracts/lock-info.js';
import { MAX_CLAIM_DATA_BYTES } from './engine.js';

/**
 * The owner in a decoded record: `id` and `host` strings, `pid` a number,
 * `command` kept only when a string; placeholders (`'?'`, `0`) otherwise.
 *
 * @example
 * ```ts
 * ownerFrom({ id: 'a1', host: 'web-1', pid: 42, extra: 1 }); // { id: 'a1', host: 'web-1', pid: 42 }
 * ownerFrom('junk'); // { id: '?', host: '?', pid: 0 }
 * ```
 */
export function ownerFrom(value: unknown): LockOwner {
  const o = (typeof value === 'object' && value !== null ? value : {}) as { id?: unknown; host?: unknown; pid?: unknown; command?: unknown };
  const owner: LockOwner = {
    id: typeof o.id === 'string' ? o.id : '?',
    host: typeof o.host === 'string' ? o.host : '?',
    pid: typeof o.pid === 'number' ? o.pid : 0,
  };
  if (typeof o.command === 'string') owner.command = o.command;
  return owner;
}

/**
 * The JSON object in `text` (UTF-8 bytes or a string); `{}` when it is absent,
 * not JSON, or not an object.
 *
 * @example
 * ```ts
 * jsonObject(Buffer.from('{"pid":7}')).pid; // 7
 * jsonObject('[1]'); // {}
 * ```
 */
export function jsonObject(text: Buffer | string | undefined): Record<string, unknown> {
  if (text === undefined || text.length === 0) return {};
  try {
    const value: unknown = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {}; // not written by deadbolt: show what we can
  }
}

/**
 * A claim's recipe data as read back from an engine: kept only when it is a
 * string of at most MAX_CLAIM_DATA_BYTES of UTF-8, else `undefined` (someone
 * else wrote it; a listing shows the claim without it).
 *
 * @example
 * ```ts
 * dataFrom('leader at 10.0.0.7'); // 'leader at 10.0.0.7'
 * dataFrom(42); // undefined
 * ```
 */
export function dataFrom(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return Buffer.byteLength(value, 'utf8') <= MAX_CLAIM_DATA_BYTES ? value : undefined;
}
