/**
 * The floor: the least a client can send for the same guarantees, on raw
 * ioredis. Acquire is one EVALSHA doing `INCR` (the fencing token) and
 * `SET NX PX` (the lease); release is one EVALSHA deleting the key only if it
 * still holds our token. For hand-off, the least a notified hand-off costs:
 * the release script also pops the next waiter off a list and PUBLISHes to it,
 * and the waiter then runs the acquire script.
 *
 * No session, no keepalive, no FIFO beyond the list, no loss detection: it is
 * a floor, not a lock service.
 */
import Redis from 'ioredis';

const ACQUIRE = `
local t = redis.call('INCR', KEYS[2])
if redis.call('SET', KEYS[1], t .. '|' .. ARGV[2], 'NX', 'PX', ARGV[1]) then return t end
return false`;

const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local next = redis.call('LPOP', KEYS[2])
if next then redis.call('PUBLISH', 'floor:wake:' .. next, '1') end
return 1`;

let nextOwner = 0;

/**
 * One floor client: a command connection, and a subscriber when it will wait.
 * @param {string} url
 */
export async function floorClient(url) {
  const redis = new Redis(url);
  redis.defineCommand('floorAcquire', { numberOfKeys: 2, lua: ACQUIRE });
  redis.defineCommand('floorRelease', { numberOfKeys: 2, lua: RELEASE });
  await redis.ping();
  const owner = `${process.pid}-${++nextOwner}`;
  let subscriber;
  return {
    redis,
    /** Try once: the token, or null. */
    async tryAcquire(name, ttl) {
      const token = await redis.floorAcquire(`floor:lock:${name}`, `floor:token:${name}`, ttl, owner);
      return token === null ? null : { name, value: `${token}|${owner}` };
    },
    /** Queue on the list, wait for the PUBLISH, then acquire. */
    async acquire(name, ttl) {
      const first = await this.tryAcquire(name, ttl);
      if (first) return first;
      if (!subscriber) {
        subscriber = redis.duplicate();
        await subscriber.subscribe(`floor:wake:${owner}`);
      }
      for (;;) {
        const woken = new Promise((resolve) => subscriber.once('message', resolve));
        await redis.rpush(`floor:queue:${name}`, owner);
        await woken;
        const lock = await this.tryAcquire(name, ttl);
        if (lock) return lock;
      }
    },
    release(lock) {
      return redis.floorRelease(`floor:lock:${lock.name}`, `floor:queue:${lock.name}`, lock.value);
    },
    close() {
      redis.disconnect();
      subscriber?.disconnect();
    },
  };
}
