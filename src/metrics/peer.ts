/**
 * Loading a metrics library, an optional peer dependency, only when a bridge
 * is installed: synchronously (installing a bridge is a plain call at
 * startup), and with an error that says what to install when it is missing.
 *
 * `require` is the right loader for both: prom-client is CommonJS only, and
 * @opentelemetry/api resolves to its CommonJS build under Node's conditions,
 * so the application's `import` and ours share one module instance (and
 * OpenTelemetry's global registry would bridge two copies anyway).
 *
 * @module
 */
import { createRequire } from 'node:module';
import { ConfigurationError } from '../errors.js';

const require = createRequire(import.meta.url);

/**
 * The package `name`, for the subpath `subpath` that needs it.
 *
 * @throws ConfigurationError naming the package to install when it cannot be found.
 * @example
 * ```ts
 * const client = loadPeer<typeof import('prom-client')>('prom-client', 'deadbolt/metrics/prometheus');
 * ```
 */
export function loadPeer<T>(name: string, subpath: string): T {
  try {
    return require(name) as T;
  } catch (err) {
    const missing = (err as { code?: unknown }).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${name}'`);
    if (!missing) throw err;
    throw new ConfigurationError(`${subpath} needs the "${name}" package, an optional peer dependency of deadbolt: run \`npm install ${name}\``, { cause: err });
  }
}
