/**
 * A namespace as the leading `/`-separated segments of a key or node path,
 * for engines whose keys form a tree (etcd, ZooKeeper).
 *
 * The problem: with `<namespace>/locks/<name>/…`, namespace `a` and namespace
 * `a/locks` overlap (`a`'s lock `locks` is `a/locks/locks/`, the root of
 * `a/locks`'s locks). The fix: a namespace segment equal to one of the
 * driver's own directory names (`locks`, `broken`, …) is written with a `%`
 * in front. A namespace never contains `%` (connect() allows letters, digits,
 * `.`, `_`, `-` and `/`), so the mapping is one to one, and no namespace's
 * tree can reach into another's directories: to get below `<a>/locks/`, a
 * namespace would need a literal `locks` segment there, which is always
 * escaped. Namespaces without such a segment keep the layout they always had.
 *
 * @internal
 * @module
 */

/**
 * `namespace` with every segment that is one of `reserved` escaped, and
 * leading, trailing and doubled `/` dropped.
 *
 * @example
 * ```ts
 * namespacePath('billing/prod', ['locks', 'broken']); // 'billing/prod'
 * namespacePath('a/locks', ['locks', 'broken']);      // 'a/%locks'
 * ```
 * @internal
 */
export function namespacePath(namespace: string, reserved: readonly string[]): string {
  return namespace
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => (reserved.includes(segment) ? `%${segment}` : segment))
    .join('/');
}
