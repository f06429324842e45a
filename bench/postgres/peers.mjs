/**
 * The peers, behind one small interface (`acquire(name)` resolving with a
 * release function):
 * - `advisory-lock` (npm): a session-level advisory lock on a connection it
 *   opens for each `lock()` and closes after `unlock()`; waiting is the server
 *   blocking `pg_advisory_lock`. No lease (a paused holder keeps the lock),
 *   no token.
 * - raw `pg_advisory_lock` on one long-lived connection per client: the
 *   reference for what a blocking wait on the server costs, not a peer.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import pg from 'pg';

const require = createRequire(import.meta.url);

/** advisory-lock's own key for a name: two int4 from sha256 (so both peers lock the same key). */
export function advisoryKey(name) {
  const digest = createHash('sha256').update(name).digest();
  return [digest.readInt32LE(0), digest.readInt32LE(4)];
}

/**
 * The `advisory-lock` package, or undefined (reported) when it is not installed.
 * @returns {((url: string) => Promise<{ acquire(name: string): Promise<() => Promise<void>>, close(): Promise<void> }>) | undefined}
 */
export function advisoryLockPeer() {
  let factory;
  try {
    const mod = require('advisory-lock');
    factory = mod.default ?? mod;
  } catch (error) {
    console.error(`(skipping advisory-lock: ${error.message}; run npm install in bench/)`);
    return undefined;
  }
  return async (url) => {
    const mutexes = new Map();
    const mutexFor = (name) => {
      if (!mutexes.has(name)) mutexes.set(name, factory(url)(name));
      return mutexes.get(name);
    };
    return {
      acquire: (name) => mutexFor(name).lock(),
      close: async () => {},
    };
  };
}

/**
 * Raw `pg_advisory_lock(int4, int4)` on one connection (prepared statements).
 * @param {string} url
 */
export async function rawAdvisoryClient(url) {
  const client = new pg.Client(url);
  await client.connect();
  return {
    async acquire(name) {
      const [a, b] = advisoryKey(name);
      await client.query({ name: 'adv_lock', text: 'SELECT pg_advisory_lock($1, $2)', values: [a, b] });
      return async () => {
        await client.query({ name: 'adv_unlock', text: 'SELECT pg_advisory_unlock($1, $2)', values: [a, b] });
      };
    },
    close: () => client.end(),
  };
}
