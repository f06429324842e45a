/**
 * `file:///path/to/dir`: a Coordinator over a LockDirectory, the embedded
 * default. The directory is shared with `new LockDirectory(dir)` and the CLI's
 * `--lock-path dir`: all three see and exclude each other's locks. A lock
 * directory is its own namespace, so `options.namespace` does not apply; use
 * another directory to separate applications.
 *
 * @example
 * ```ts
 * import { connect } from 'deadbolt';
 * const coordinator = await connect('file:///run/myapp/locks');
 * await coordinator.run('nightly', () => report());
 * ```
 *
 * @module
 */
import { ConfigurationError } from '../../errors.js';
import type { DriverFactory } from '../../distributed/driver.js';
import { LockDirectory } from '../../file/lock-directory.js';
import { FileDriver } from './driver.js';

export { fileCapabilities } from './driver.js';

/**
 * The factory `connect()` calls for `file:` URLs.
 *
 * @internal
 * @example
 * ```ts
 * const coordinator = await connect('file:///var/lock/myapp');
 * ```
 */
export const createDriver: DriverFactory = async (url) => {
  if (url.host !== '' && url.host !== 'localhost') {
    throw new ConfigurationError(`file:// URLs name a local directory; "${url.host}" is a host (write file:///path, with three slashes)`);
  }
  const path = decodeURIComponent(url.pathname);
  if (path === '' || path === '/') throw new ConfigurationError('file:// URL needs a lock directory path, e.g. file:///run/myapp/locks');
  const prefix = url.searchParams.get('prefix') ?? undefined;
  const cleanup = url.searchParams.get('cleanup') === 'never' ? 'never' : 'on-release';
  const directory = new LockDirectory(path, { prefix, cleanup, quiet: true });
  directory.open(); // a bad directory fails at connect, not at the first acquire
  return new FileDriver(directory);
};
