/**
 * The `zookeeper://` driver, on the `node-zookeeper-client` package (an
 * optional peer dependency, loaded only when this driver is used).
 *
 * URL: `zookeeper://host:port[,host:port…][/chroot]`. The chroot must exist;
 * the namespace's nodes are created under it on demand. `driverOptions`:
 * `authInfo`, a list of `{ scheme, auth }` sent on every connection (e.g.
 * `[{ scheme: 'digest', auth: 'user:password' }]`); `layout`, `'deadbolt'` (the
 * default) or `'kazoo'` (claims named as kazoo's and tooz's lock recipes, at
 * `<chroot>/<namespace>/<name>`: docs/drivers/zookeeper.md), also read from a
 * `?layout=` query. A child of a lock node deadbolt did not write is an
 * exclusive claim under either layout (layout.ts).
 *
 * Mapping (see driver.ts for the guarantees): a coordinator's session is one
 * ZooKeeper session, whose timeout is the TTL; disconnected means suspended,
 * session expired means lost; a lock is an ephemeral sequential node whose
 * `czxid` is the fencing token; waiters watch only the claim just before them.
 *
 * @example
 * ```ts
 * import { connect } from 'deadbolt';
 * const locks = await connect('zookeeper://10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181/apps', {
 *   ttl: 10_000,
 *   namespace: 'billing',
 * });
 * await locks.run('invoices', async (guard) => { … });
 * ```
 *
 * @module
 */
import type { DriverFactory } from '../../distributed/driver.js';
import { parseZooKeeperUrl } from './config.js';
import { ZooKeeperDriver } from './driver.js';

export { MIN_TTL_MS, RECOVERY_BOUND_MS, ZOOKEEPER_CAPABILITIES, ZooKeeperDriver } from './driver.js';

/**
 * Connect to ZooKeeper: resolves once a session is established and the
 * ensemble checked, within `connectTimeout` (BackendUnavailableError
 * otherwise); ConfigurationError for a chroot that does not exist or when
 * `node-zookeeper-client` is not installed; UnsupportedError for a server older
 * than 3.4.
 *
 * @example
 * ```ts
 * const driver = await createDriver(new URL('zookeeper://127.0.0.1:2181'), { namespace: 'deadbolt', connectTimeout: 5_000, ttl: 10_000, endpoints: [], signal });
 * ```
 */
export const createDriver: DriverFactory = async (url, options) => {
  const config = parseZooKeeperUrl(url, options);
  options.probe?.(config.probeTargets);
  return ZooKeeperDriver.connect(config, options.namespace, options.ttl, options.signal);
};

export default createDriver;
