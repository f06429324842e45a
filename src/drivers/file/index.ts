/**
 * `file:///path/to/dir`: a Coordinator over a LockDirectory, the embedded
 * default.
 *
 * Namespaces. The default namespace (`deadbolt`) is the directory itself,
 * shared with `new LockDirectory(dir)` and the CLI's `--lock-path dir`: all
 * three see and exclude each other's locks. Any other namespace is a lock
 * directory of its own, `<dir>/.deadbolt-namespaces/<namespace>` with `%` written `%25`, `/`
 * written `%2F` and a leading `.` written `%2E` (one flat directory per
 * namespace, so `a` and `a/locks` never meet; `.deadbolt*` entries are
 * bookkeeping that no lock name maps to, so no lock file collides with it).
 * Point LockDirectory or the CLI at that directory to share its locks.
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
import { join } from 'node:path';
import { CONNECT_DEFAULTS } from '../../distributed/connect-options.js';
import { ConfigurationError } from '../../errors.js';
import type { DriverFactory } from '../../distributed/driver.js';
import { DirectoryHandle } from '../../file/directory-handle.js';
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
export const createDriver: DriverFactory = async (url, options) => {
  if (url.host !== '' && url.host !== 'localhost') {
    throw new ConfigurationError(`file:// URLs name a local directory; "${url.host}" is a host (write file:///path, with three slashes)`);
  }
  const path = decodeURIComponent(url.pathname);
  if (path === '' || path === '/') throw new ConfigurationError('file:// URL needs a lock directory path, e.g. file:///run/myapp/locks');
  const prefix = url.searchParams.get('prefix') ?? undefined;
  const cleanup = cleanupParameter(url.searchParams.get('cleanup'));
  const namespace = options.namespace;
  if (namespace !== CONNECT_DEFAULTS.namespace) prepareNamespaces(path);
  const directory = new LockDirectory(namespaceDirectory(path, namespace), { prefix, cleanup, quiet: true });
  directory.open(); // a bad directory fails at connect, not at the first acquire
  return new FileDriver(directory);
};

/** `?cleanup=`: `never` or `on-release` (the default); anything else is a mistake worth naming. */
function cleanupParameter(value: string | null): 'never' | 'on-release' {
  if (value === null || value === 'on-release') return 'on-release';
  if (value === 'never') return 'never';
  throw new ConfigurationError(`file:// URL parameter cleanup=${JSON.stringify(value)} is not one of never, on-release`);
}

/** Where the locks of `namespace` live under the lock directory `path`. @internal */
export function namespaceDirectory(path: string, namespace: string): string {
  if (namespace === CONNECT_DEFAULTS.namespace) return path;
  const flat = namespace.replaceAll('%', '%25').replaceAll('/', '%2F').replace(/^\./, '%2E');
  return join(path, NAMESPACES_DIRECTORY, flat);
}

/** The directory holding one lock directory per non-default namespace. */
const NAMESPACES_DIRECTORY = '.deadbolt-namespaces';

/**
 * The namespaces' directory lives inside the shared lock directory, which must
 * be one first. It is created (or found) through the lock directory's handle,
 * so a symlink or a foreign directory planted at its name is refused
 * (UnsafeFileError) instead of followed when the namespace's LockDirectory
 * opens its path.
 */
function prepareNamespaces(path: string): void {
  new LockDirectory(path, { quiet: true }).open().close();
  const handle = DirectoryHandle.open(path, { fileMode: 0o600, cleanup: false });
  try {
    handle.subdirectory(NAMESPACES_DIRECTORY, true)?.close();
  } finally {
    handle.close();
  }
}
