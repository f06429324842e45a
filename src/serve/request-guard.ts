/**
 * What every request must pass before the API looks at it, and the headers
 * every answer carries.
 *
 * - Host: only the address the server listens on (or localhost at its port).
 *   A page on another site that rebinds its DNS name to 127.0.0.1 sends its
 *   own name as Host and is refused, so it can read nothing.
 * - Writes (POST): same-origin only. The browser's `Origin` must be this
 *   server's, `Sec-Fetch-Site` (when sent) `same-origin`, and the body
 *   `application/json`, a type no HTML form can send and that needs a CORS
 *   preflight from any other origin (which this server never answers).
 * - Authorisation is a bearer token in the `Authorization` header, never a
 *   cookie: a browser attaches cookies to cross-site requests on its own, a
 *   header only when the page's own script sets it.
 * - Answers: a strict Content-Security-Policy (only this server's script and
 *   style, no inline code, no frames, no other origin), no sniffing, no
 *   referrer, no caching.
 * - No Cross-Origin-Opener-Policy, on purpose. `same-origin` would cut a
 *   cross-origin opener's handle on this window, but it makes every opening of
 *   the page switch browsing-context group, i.e. start a new renderer process:
 *   measured +170 ms on first paint (343 → 176 ms, bench/serve.mjs's setup),
 *   which alone broke the page's < 200 ms target. What an opener can do with
 *   the handle here is small: the page cannot be framed, answers no
 *   postMessage, keeps the access token in memory only; it can navigate the
 *   tab elsewhere, which the address bar shows.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessToken } from './access-token.js';

/**
 * The security headers of every answer.
 *
 * @example
 * ```ts
 * for (const [k, v] of Object.entries(SECURITY_HEADERS)) response.setHeader(k, v);
 * ```
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy':
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
});

/**
 * A refusal: the HTTP status and why.
 *
 * @example
 * ```ts
 * const refused: Refusal = { status: 403, error: 'cross-origin write refused' };
 * ```
 */
export interface Refusal {
  status: number;
  error: string;
}

/**
 * The Host values this server answers to, for a server listening on `host:port`.
 *
 * @example
 * ```ts
 * allowedHosts('127.0.0.1', 8080); // Set { '127.0.0.1:8080', 'localhost:8080' }
 * ```
 */
export function allowedHosts(host: string, port: number): Set<string> {
  const name = host.includes(':') ? `[${host}]` : host;
  return new Set([`${name}:${port}`, `localhost:${port}`]);
}

/**
 * Refuse a request whose Host is not this server (DNS rebinding).
 *
 * @example
 * ```ts
 * const refused = checkHost(request, hosts);
 * ```
 */
export function checkHost(request: IncomingMessage, hosts: Set<string>): Refusal | undefined {
  const host = request.headers.host?.toLowerCase();
  if (host === undefined || !hosts.has(host)) return { status: 421, error: 'this server answers only to its own address (Host header)' };
  return undefined;
}

/**
 * Refuse a write that is not a same-origin JSON request with the right bearer token.
 * Order: origin (403), content type (415), token (401 absent, 403 wrong).
 *
 * @example
 * ```ts
 * const refused = checkWrite(request, token);
 * if (refused) return answer(response, refused.status, { error: refused.error });
 * ```
 */
export function checkWrite(request: IncomingMessage, token: AccessToken): Refusal | undefined {
  const host = request.headers.host!;
  const origin = request.headers.origin;
  const site = request.headers['sec-fetch-site'];
  if (origin !== undefined && origin !== `http://${host}`) return { status: 403, error: 'cross-origin write refused (Origin is not this server)' };
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return { status: 403, error: `cross-origin write refused (Sec-Fetch-Site: ${site})` };
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') return { status: 415, error: 'send the request body as Content-Type: application/json' };
  const auth = request.headers.authorization;
  const match = auth === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(auth);
  if (match === null) return { status: 401, error: 'breaking needs the access token: Authorization: Bearer TOKEN' };
  if (!token.matches(match[1]!)) return { status: 403, error: 'wrong access token' };
  return undefined;
}

/**
 * Send a JSON answer with the security headers.
 *
 * @example
 * ```ts
 * answer(response, 200, { locks: [] });
 * ```
 */
export function answer(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  response.end(text);
}
