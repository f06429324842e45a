/**
 * The JSON API of `deadbolt serve` (docs/serve.md): every read answers from
 * the monitor's snapshot (no backend request per viewer); `POST /api/break`
 * is the one write, behind request-guard.ts's checks.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessToken } from './access-token.js';
import type { LockRow } from './lock-row.js';
import type { Monitor } from './monitor.js';
import { answer, checkWrite } from './request-guard.js';
import { BreakRefused } from './lock-source.js';

/** The largest page of rows one request may ask for. */
const MAX_LIMIT = 1000;
/** The largest request body accepted (a break request is a few hundred bytes). */
const MAX_BODY = 16 * 1024;
/** The most holders a break request may name (a shared lock's holders, as the page shows them). */
const MAX_TOKENS = 1000;
/** The longest reason accepted, as in `Coordinator.break()`. */
const MAX_REASON = 1024;

/**
 * What the API needs to answer.
 *
 * @example
 * ```ts
 * const api: ApiContext = { monitor, token: undefined, warnAfterMs: 600_000, intervalMs: 500 };
 * ```
 */
export interface ApiContext {
  monitor: Monitor;
  /** Present only with --allow-break. */
  token: AccessToken | undefined;
  warnAfterMs: number;
  intervalMs: number;
}

/**
 * `GET /api/config`: what the page needs to know about the server.
 *
 * @example
 * ```ts
 * getConfig(ctx, response);
 * ```
 */
export function getConfig(ctx: ApiContext, response: ServerResponse): void {
  answer(response, 200, pageConfig(ctx));
}

/**
 * What `GET /api/config` answers (also inlined in the page).
 *
 * @example
 * ```ts
 * const { allowBreak } = pageConfig(ctx);
 * ```
 */
export function pageConfig(ctx: ApiContext): { allowBreak: boolean; warnAfterMs: number; intervalMs: number; now: number } {
  return { allowBreak: ctx.token !== undefined, warnAfterMs: ctx.warnAfterMs, intervalMs: ctx.intervalMs, now: Date.now() };
}

/**
 * One page of the snapshot's held locks, as `GET /api/locks` answers it (also
 * inlined in the page for its first paint).
 *
 * @example
 * ```ts
 * const first = locksPage(ctx, { backend: null, q: '', offset: 0, limit: 100 });
 * ```
 */
export function locksPage(ctx: ApiContext, { backend, q, offset, limit }: { backend: string | null; q: string; offset: number; limit: number }) {
  const { monitor } = ctx;
  let rows: readonly LockRow[] = monitor.rows;
  if (backend !== null && backend !== '') rows = rows.filter((r) => r.backend === backend);
  if (q !== '') rows = rows.filter((r) => r.name.includes(q));
  return { version: monitor.version, now: Date.now(), total: rows.length, offset, limit, locks: rows.slice(offset, offset + limit), backends: monitor.backends };
}

/**
 * `GET /api/locks?backend=&q=&offset=&limit=`: one page of the held locks, with the total.
 *
 * @example
 * ```ts
 * getLocks(ctx, new URL('http://x/api/locks?limit=100'), response);
 * ```
 */
export function getLocks(ctx: ApiContext, url: URL, response: ServerResponse): void {
  const backend = url.searchParams.get('backend');
  const q = url.searchParams.get('q') ?? '';
  const offset = integer(url.searchParams.get('offset'), 0);
  const limit = integer(url.searchParams.get('limit'), 100);
  if (offset === undefined || limit === undefined || limit > MAX_LIMIT) {
    return answer(response, 400, { error: `offset and limit must be integers ≥ 0 (limit at most ${MAX_LIMIT})` });
  }
  answer(response, 200, locksPage(ctx, { backend, q, offset, limit }));
}

/**
 * `GET /api/locks/BACKEND/NAME` (NAME percent-encoded): one lock from the
 * snapshot and its history; `?fresh=1` asks the backend itself.
 *
 * @example
 * ```ts
 * await getLock(ctx, 'redis', 'jobs', false, response);
 * ```
 */
export async function getLock(ctx: ApiContext, backend: string, name: string, fresh: boolean, response: ServerResponse): Promise<void> {
  const source = ctx.monitor.source(backend);
  if (source === undefined) return answer(response, 404, { error: `no backend "${backend}"` });
  const lock = fresh ? await source.show(name) : ctx.monitor.rows.find((r) => r.backend === backend && r.name === name);
  answer(response, 200, { now: Date.now(), lock: lock ?? null, history: ctx.monitor.history.entries({ backend, name }) });
}

/**
 * `GET /api/history?backend=&name=`: breaks and losses, oldest first.
 *
 * @example
 * ```ts
 * getHistory(ctx, new URL('http://x/api/history'), response);
 * ```
 */
export function getHistory(ctx: ApiContext, url: URL, response: ServerResponse): void {
  const filter: { backend?: string; name?: string } = {};
  for (const key of ['backend', 'name'] as const) {
    const value = url.searchParams.get(key);
    if (value !== null && value !== '') filter[key] = value;
  }
  answer(response, 200, { version: ctx.monitor.history.version, entries: ctx.monitor.history.entries(filter) });
}

/**
 * `POST /api/break` with `{ backend, name, confirm, token, tokens?, reason }`:
 * break lock `name` if its holder's token is still `token` — on an engine, if
 * its holders are still exactly `tokens` (default `[token]`), compared by the
 * engine atomically with the break; `confirm` must repeat the name (typed by
 * the operator).
 *
 * @example
 * ```ts
 * await postBreak(ctx, request, response);
 * ```
 */
export async function postBreak(ctx: ApiContext, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (ctx.token === undefined) return answer(response, 403, { error: 'breaking is off: start deadbolt serve with --allow-break --token-file FILE' });
  const refused = checkWrite(request, ctx.token);
  if (refused !== undefined) return answer(response, refused.status, { error: refused.error });
  const body = await readJson(request);
  if (typeof body === 'string') return answer(response, 400, { error: body });
  const problem = checkBreakRequest(body);
  if (problem !== undefined) return answer(response, 400, { error: problem });
  const { backend, name, token, tokens, reason } = body as { backend: string; name: string; token: string; tokens?: string[]; reason: string };
  const source = ctx.monitor.source(backend);
  if (source === undefined) return answer(response, 404, { error: `no backend "${backend}"` });
  try {
    const client = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
    const outcome = await source.break(name, { expectToken: token, expectTokens: tokens ?? [token], reason, by: client });
    await ctx.monitor.recordHistory(backend);
    ctx.monitor.pollSoon(backend);
    answer(response, 200, outcome);
  } catch (err) {
    if (err instanceof BreakRefused) return answer(response, err.status, { error: err.message });
    answer(response, 502, { error: `the break failed: ${(err as Error)?.message ?? String(err)}` });
  }
}

function checkBreakRequest(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'send a JSON object { backend, name, confirm, token, reason }';
  const b = body as Record<string, unknown>;
  for (const key of ['backend', 'name', 'confirm', 'token', 'reason']) if (typeof b[key] !== 'string') return `"${key}" must be a string`;
  if (b.confirm !== b.name) return '"confirm" must repeat the lock\'s name exactly: type it to confirm';
  if (!/^[0-9]+$/.test(b.token as string)) return '"token" must be the holder\'s fencing token as a decimal string';
  if (b.tokens !== undefined) {
    const tokens = b.tokens;
    if (!Array.isArray(tokens) || tokens.length === 0 || tokens.length > MAX_TOKENS || !tokens.every((t) => typeof t === 'string' && /^[0-9]+$/.test(t))) {
      return `"tokens", when sent, must list every holder's token as decimal strings (1 to ${MAX_TOKENS})`;
    }
    if (!tokens.includes(b.token)) return '"tokens" must include "token"';
  }
  const reason = (b.reason as string).trim();
  if (reason.length === 0 || reason.length > MAX_REASON) return `"reason" must say why, in 1 to ${MAX_REASON} characters`;
  return undefined;
}

/** The request body as JSON, or a message saying what is wrong with it. */
async function readJson(request: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return `the request body is larger than ${MAX_BODY} bytes`;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return 'the request body is not JSON';
  }
}

function integer(text: string | null, fallback: number): number | undefined {
  if (text === null || text === '') return fallback;
  return /^[0-9]{1,9}$/.test(text) ? Number(text) : undefined;
}
