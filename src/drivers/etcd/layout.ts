/**
 * Which key layout an etcd connection writes its claims in: deadbolt's own
 * (the default, `<namespace>/locks/<encoded name>/<lease>-<n>-<x|s>`), or
 * `concurrency`, the layout of Go's `go.etcd.io/etcd/client/v3/concurrency`
 * Mutex (what `etcdctl lock` uses): `<name>/<lease hex>`, empty value, on the
 * session's lease, so that deadbolt and Go's clients exclude each other.
 *
 * Chosen per connection, by the URL's `?layout=` or `driverOptions.layout`;
 * both given must agree. See docs/drivers/etcd.md for the mapping.
 *
 * @internal
 * @module
 */
import { ConfigurationError } from '../../errors.js';

/** The accepted layouts, the default first. */
export const ETCD_LAYOUTS = ['deadbolt', 'concurrency'] as const;

/** One of {@link ETCD_LAYOUTS}. */
export type EtcdLayout = (typeof ETCD_LAYOUTS)[number];

/**
 * The layout asked for by `url` (`?layout=`) and `driverOptions.layout`,
 * `'deadbolt'` when neither says; ConfigurationError naming the accepted
 * values for anything else, or when the two disagree.
 *
 * @example
 * ```ts
 * layoutOf(new URL('etcd://127.0.0.1:2379?layout=concurrency'), {}); // 'concurrency'
 * layoutOf('etcd://127.0.0.1:2379', { layout: 'concurrency' });       // 'concurrency'
 * layoutOf('etcd://127.0.0.1:2379', {});                              // 'deadbolt'
 * ```
 */
export function layoutOf(url: URL | string, driverOptions: Record<string, unknown> | undefined): EtcdLayout {
  const fromUrl = urlParameter(String(url), 'layout');
  const fromOptions = driverOptions?.layout;
  const a = fromUrl === undefined ? undefined : check(fromUrl, 'the URL parameter layout');
  const b = fromOptions === undefined ? undefined : check(fromOptions, 'driverOptions.layout');
  if (a !== undefined && b !== undefined && a !== b) {
    throw new ConfigurationError(`etcd layout given twice and differently: the URL says "${a}", driverOptions.layout says "${b}"`);
  }
  return a ?? b ?? 'deadbolt';
}

function check(value: unknown, where: string): EtcdLayout {
  if (typeof value === 'string' && (ETCD_LAYOUTS as readonly string[]).includes(value)) return value as EtcdLayout;
  // the value is the user's own text; shown only when it is a short string, never an object's contents
  const shown = typeof value === 'string' && value.length <= 40 ? JSON.stringify(value) : `a ${typeof value}`;
  throw new ConfigurationError(
    `${where} must be one of ${ETCD_LAYOUTS.map((l) => `"${l}"`).join(', ')} ` +
      `("deadbolt": deadbolt's own keys, the default; "concurrency": Go's clientv3 concurrency.Mutex, as etcdctl lock); got ${shown}`,
  );
}

/** One query parameter of a URL's text (a host list `h1:p1,h2:p2` is no WHATWG URL, so read the query by hand). */
function urlParameter(text: string, name: string): string | undefined {
  const query = /\?([^#]*)/.exec(text)?.[1];
  if (query === undefined) return undefined;
  return new URLSearchParams(query).get(name) ?? undefined;
}
