/**
 * The peers, behind one small interface: `redlock` (v5 beta, the npm `latest`
 * is 4.x with a callback-era API) and `@sesamecare-oss/redlock` (its
 * maintained TypeScript fork), each on one Redis (a quorum of one).
 *
 * Both wait by polling: a taken lock is retried every `retryDelay` ± `retryJitter`
 * ms. Their default is 200 ± 200 ms, which would make any hand-off comparison
 * meaningless; we give them `retryDelay` (default 2 ms, `--peerRetryDelay`) and
 * a jitter of the same size, and retry for ever.
 */
import Redis from 'ioredis';

/**
 * The peers that could be loaded (a missing one is reported, not fatal).
 * @param {number} retryDelay
 * @returns {Promise<Array<{ name: string, client(url: string): Promise<object> }>>}
 */
export async function loadPeers(retryDelay) {
  const peers = [];
  const settings = { retryCount: -1, retryDelay, retryJitter: retryDelay, automaticExtensionThreshold: 0 };
  for (const [name, specifier, pick] of [
    ['redlock 5 beta', 'redlock', (m) => m.default],
    ['@sesamecare-oss/redlock', '@sesamecare-oss/redlock', (m) => m.Redlock ?? m.default?.Redlock],
  ]) {
    let Redlock;
    try {
      Redlock = pick(await import(specifier));
    } catch (error) {
      console.error(`(skipping ${name}: ${error.message})`);
      continue;
    }
    peers.push({
      name,
      async client(url) {
        const redis = new Redis(url);
        await redis.ping();
        const redlock = new Redlock([redis], settings);
        redlock.on('error', () => {});
        return {
          tryAcquire: (resource, ttl) => redlock.acquire([resource], ttl, { retryCount: 0 }).catch(() => null),
          acquire: (resource, ttl) => redlock.acquire([resource], ttl),
          release: (lock) => lock.release(),
          close: () => redis.disconnect(),
        };
      },
    });
  }
  return peers;
}
