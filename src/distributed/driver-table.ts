/**
 * The static table of driver modules `connect()` loads, one entry per
 * directory under `src/drivers/`. Each entry is a literal `import()`, so
 * bundlers and the type checker see every driver, nothing is imported until
 * its scheme is used (each engine's client library stays an optional peer
 * dependency), and no module path is ever built from a string.
 *
 * @internal
 * @module
 */

/**
 * Driver name (SchemeEntry.driver) → its module, loaded on first use.
 *
 * @example
 * ```ts
 * const module = await DRIVER_MODULES.etcd();
 * ```
 */
export const DRIVER_MODULES = Object.freeze({
  memory: () => import('../drivers/memory/index.js'),
  file: () => import('../drivers/file/index.js'),
  etcd: () => import('../drivers/etcd/index.js'),
  redis: () => import('../drivers/redis/index.js'),
  postgres: () => import('../drivers/postgres/index.js'),
  zookeeper: () => import('../drivers/zookeeper/index.js'),
}) satisfies Readonly<Record<string, () => Promise<unknown>>>;

/**
 * The module of driver `name`; rejects for a name not in the table.
 *
 * @example
 * ```ts
 * const module = await loadDriverModule('zookeeper');
 * ```
 */
export function loadDriverModule(name: string): Promise<unknown> {
  const load = Object.hasOwn(DRIVER_MODULES, name) ? DRIVER_MODULES[name as keyof typeof DRIVER_MODULES] : undefined;
  if (load === undefined) return Promise.reject(new Error(`no driver module named "${name}" in the driver table`));
  return load();
}
