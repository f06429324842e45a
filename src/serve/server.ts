/**
 * The HTTP server of `deadbolt serve`, on Node's own `node:http`: a page, its
 * script and style, the JSON API (api.ts), server-sent events and /metrics.
 *
 * Why node:http and no framework: the server has eleven fixed routes, one small
 * JSON body and one event stream; a router would add a dependency (and its
 * supply chain) to a security-sensitive tool for about twenty lines of
 * `switch`. Every answer carries request-guard.ts's headers, and every request
 * passes its Host check first.
 *
 * The page (`/`) carries its style, its script, the first page of rows
 * inline (page/html.ts) and the first screen of them as table rows
 * (page/row-html.ts), so its first paint costs one request and no script.
 *
 * Server-sent events (`GET /api/events`) carry only "something changed"
 * (`version`) and each backend's status; a page then fetches the rows it
 * shows from the snapshot. Viewers never cause a backend request.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getConfig, getHistory, getLock, getLocks, locksPage, pageConfig, postBreak, type ApiContext } from './api.js';
import { renderMetrics } from './metrics.js';
import { pageShell } from './page/html.js';
import { rowsHtml } from './page/row-html.js';
import { PAGE_CSS } from './page/style.js';
import { allowedHosts, answer, checkHost, SECURITY_HEADERS } from './request-guard.js';

/** Rows inlined in the page for its first paint: the page's own page size (app.ts). */
const FIRST_PAGE = 100;

/**
 * Of those, the rows written as HTML: about half of what bench/serve.mjs's
 * 900-pixel window shows (rows start ~110 px down, ~22 px each: 37 are
 * seen). The page adds the rest of the 100 itself, a frame later: every row
 * in the first frame costs its style, layout, paint and raster before
 * anything is on screen. With 40 (a full 1080-pixel screen) the first paint
 * came 25–55 ms later, and the whole page of rows no sooner than with 20
 * (docs/performance.md, serve).
 */
const FIRST_SCREEN = 20;

/** How often an idle event stream gets a comment line (so proxies and browsers keep it open). */
const HEARTBEAT_MS = 15_000;

/**
 * A running server.
 *
 * @example
 * ```ts
 * const server = await startServer(ctx, { host: '127.0.0.1', port: 0 });
 * console.log(server.url);
 * await server.close();
 * ```
 */
export interface RunningServer {
  /** `http://HOST:PORT/`, with the port actually bound. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Listen on `host:port` (port 0: any free port) and serve `ctx`'s monitor.
 *
 * @example
 * ```ts
 * const server = await startServer({ monitor, token, warnAfterMs: 600_000, intervalMs: 500 }, { host: '127.0.0.1', port: 7070 });
 * ```
 */
export async function startServer(ctx: ApiContext, listen: { host: string; port: number }): Promise<RunningServer> {
  const script = readFileSync(new URL('./page/app.js', import.meta.url), 'utf8');
  const rowView = { specifier: './row-view.js', code: readFileSync(new URL('./page/row-view.js', import.meta.url), 'utf8') };
  const shell = pageShell(PAGE_CSS, script, [rowView]);
  const streams = new Set<ServerResponse>();
  let hosts = new Set<string>();
  const server: Server = createServer((request, response) => {
    const refused = checkHost(request, hosts);
    if (refused !== undefined) return answer(response, refused.status, { error: refused.error });
    route(request, response).catch((err: unknown) => {
      if (!response.headersSent) answer(response, 500, { error: `internal error: ${(err as Error)?.message ?? String(err)}` });
      else response.destroy();
    });
  });

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://server');
    const path = url.pathname;
    if (request.method === 'POST' && path === '/api/break') return postBreak(ctx, request, response);
    if (request.method !== 'GET' && request.method !== 'HEAD') return answer(response, 405, { error: `${request.method} is not allowed here` }, { Allow: 'GET, HEAD' });
    switch (path) {
      case '/':
        return asset(response, 'text/html; charset=utf-8', page(), shell.csp);
      case '/favicon.ico':
        response.writeHead(204, SECURITY_HEADERS).end();
        return;
      case '/metrics':
        return asset(response, 'text/plain; version=0.0.4; charset=utf-8', renderMetrics(ctx.monitor, { viewers: streams.size, warnAfterMs: ctx.warnAfterMs }));
      case '/api/config':
        return getConfig(ctx, response);
      case '/api/locks':
        return getLocks(ctx, url, response);
      case '/api/history':
        return getHistory(ctx, url, response);
      case '/api/events':
        return events(request, response);
    }
    const one = /^\/api\/locks\/([^/]+)\/(.+)$/.exec(path);
    if (one !== null) return getLock(ctx, decode(one[1]!), decode(one[2]!), url.searchParams.get('fresh') === '1', response);
    answer(response, 404, { error: `nothing at ${path}` });
  }

  /** The document: the first page of rows travels with it, the first screen of them as HTML, so the first paint waits for no API request and no script. */
  function page(): string {
    const first = locksPage(ctx, { backend: null, q: '', offset: 0, limit: FIRST_PAGE });
    return shell.html({ config: pageConfig(ctx), locks: first }, rowsHtml(first.locks.slice(0, FIRST_SCREEN), first.now, ctx.warnAfterMs));
  }

  function events(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    const send = () => response.write(`event: update\ndata: ${JSON.stringify({ version: ctx.monitor.version, historyVersion: ctx.monitor.history.version, backends: ctx.monitor.backends })}\n\n`);
    response.write('retry: 2000\n\n');
    send();
    streams.add(response);
    const off = ctx.monitor.onChange(send);
    const heartbeat = setInterval(() => response.write(': keepalive\n\n'), HEARTBEAT_MS);
    request.once('close', () => {
      off();
      clearInterval(heartbeat);
      streams.delete(response);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  hosts = allowedHosts(listen.host, port);
  const shown = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${shown}:${port}/`,
    host: listen.host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const stream of streams) stream.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function asset(response: ServerResponse, type: string, body: string, csp?: string): void {
  const headers: Record<string, string> = { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)) };
  if (csp !== undefined) headers['Content-Security-Policy'] = csp;
  response.writeHead(200, headers);
  response.end(body);
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
