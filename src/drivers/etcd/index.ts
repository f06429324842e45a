/**
 * The `etcd://` driver, on the `etcd3` package (an optional peer dependency,
 * loaded only when this driver is used).
 *
 * URL: `etcd://host:port[,host:port…]`, optionally `etcd://user:password@…`.
 * `driverOptions` go to `new Etcd3()` (auth, TLS `credentials`, `grpcOptions`,
 * …), plus `requestTimeout`: the deadline of each call to etcd (default: the
 * connect timeout).
 *
 * Layout: `?layout=concurrency` (or `driverOptions.layout: 'concurrency'`)
 * writes claims as Go's clientv3 `concurrency.Mutex` does (`etcdctl lock`), so
 * both exclude each other; `deadbolt` (the default) is deadbolt's own keys.
 * See docs/drivers/etcd.md.
 *
 * Limits: lock names up to 1 KiB of UTF-8, any well-formed Unicode; TTL at
 * least 2 s, in whole seconds. See driver.ts for the guarantees.
 *
 * @example
 * ```ts
 * import { connect } from 'deadbolt';
 * const locks = await connect('etcd://10.0.0.1:2379,10.0.0.2:2379', {
 *   ttl: 10_000,
 *   namespace: 'billing',
 *   driverOptions: { auth: { username: 'billing', password: process.env.ETCD_PASSWORD } },
 * });
 * await locks.run('invoices', async (guard) => { … });
 * ```
 *
 * @module
 */
import type { DriverFactory } from '../../distributed/driver.js';
import { openClient, parseEtcdUrl } from './client.js';
import { EtcdDriver } from './driver.js';
import { layoutOf } from './layout.js';

export { ETCD_CAPABILITIES, EtcdDriver, RECOVERY_BOUND_MS } from './driver.js';
export { MAX_NAME_BYTES } from './keys.js';
export { ETCD_LAYOUTS, type EtcdLayout } from './layout.js';
export { MIN_TTL_MS } from './session.js';

/**
 * Connect to etcd: resolves once a member answered a linearizable read, within
 * `connectTimeout` (BackendUnavailableError otherwise; BackendError for wrong
 * credentials; ConfigurationError when `etcd3` is not installed).
 *
 * @example
 * ```ts
 * const driver = await createDriver(new URL('etcd://127.0.0.1:2379'), { namespace: 'deadbolt', connectTimeout: 5_000, ttl: 10_000, endpoints: [], signal });
 * ```
 */
export const createDriver: DriverFactory = async (url, options) => {
  const layout = layoutOf(url, options.driverOptions); // before dialling: a wrong layout is a configuration error
  const config = parseEtcdUrl(url, options);
  options.probe?.(config.probeTargets);
  return new EtcdDriver(await openClient(config, options.signal), options.namespace, layout);
};

export default createDriver;
