/**
 * Real-server test harness: start etcd, Redis, PostgreSQL and ZooKeeper on free loopback ports
 * in throwaway directories, and make sure nothing is left running.
 *
 * ```ts
 * import { requireServer, startEtcd } from '../harness/index.js';
 *
 * const r = requireServer('etcd');
 * test('etcd driver', { skip: r.available ? false : r.reason }, async (t) => {
 *   const etcd = await startEtcd({ members: 3 });
 *   t.after(() => etcd.stop());
 *   const coordinator = await connect(etcd.url, { ttl: 2_000 });
 *   ...
 * });
 * ```
 *
 * @module
 */
export { HOST, freePort, freePorts, isPortOpen, waitPortClosed } from './ports.js';
export { isAlive, descendants, liveServerPids, tailFile, harnessTmpRoot } from './process.js';
export {
  DEFAULT_READY_TIMEOUT_MS,
  type Member,
  type ServerHandle,
  type ServerName,
} from './server.js';
export { requireServer, locateServer, isCI, type Requirement } from './require-server.js';
export { requireClient, missingClient, python, type ClientName } from './require-client.js';
export { startEtcd, etcdRequest, b64, type EtcdHandle, type EtcdOptions } from './etcd.js';
export {
  startRedis,
  respCommand,
  respCommands,
  RespError,
  SENTINEL_MASTER_NAME,
  type RedisHandle,
  type RedisOptions,
  type RespValue,
} from './redis.js';
export { startPostgres, pgPing, type PostgresHandle, type PostgresOptions } from './postgres.js';
export {
  startZooKeeper,
  fourLetterWord,
  zkMode,
  zkHandshake,
  ZOOKEEPER_JVM_FLAGS,
  type ZooKeeperHandle,
  type ZooKeeperOptions,
} from './zookeeper.js';
