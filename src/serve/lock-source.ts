/**
 * What `deadbolt serve` asks of one backend, a lock directory (file-source.ts)
 * or an engine (engine-source.ts): list its locks, show one, break one
 * expecting a token, read its history. sources.ts opens them from URLs.
 *
 * @module
 */
import type { HistoryEntry, LockRow } from './lock-row.js';

/**
 * What a break through the page did.
 *
 * @example
 * ```ts
 * const outcome: BreakOutcome = { broken: true, displaced: [], detail: 'SIGTERM, freed', record: {} };
 * ```
 */
export interface BreakOutcome {
  /** The displaced holder no longer holds the lock. */
  broken: boolean;
  /** The holders displaced (as rows). */
  displaced: LockRow['holders'];
  /** In words: signals sent, outcome. */
  detail: string;
  /** The audit record written (its shape depends on the backend: docs/serve.md). */
  record: unknown;
}

/**
 * A break refused before anything was done (the lock changed hands, is not
 * held, or its holder cannot be stopped safely). `status` is the HTTP status
 * to answer with.
 *
 * @example
 * ```ts
 * throw new BreakRefused(409, 'lock "jobs" changed hands: its token is now 8, not 7');
 * ```
 */
export class BreakRefused extends Error {
  constructor(
    readonly status: 403 | 409 | 422 | 502,
    message: string,
  ) {
    super(message);
    this.name = 'BreakRefused';
  }
}

/**
 * What `POST /api/break` asks of a backend, checked.
 *
 * @example
 * ```ts
 * const request: BreakRequest = { expectToken: '7', expectTokens: ['7'], reason: 'hung', by: '127.0.0.1:50122' };
 * ```
 */
export interface BreakRequest {
  /** The token of the holder the operator saw first (the one a lock directory proves). */
  expectToken: string;
  /** Every holder token the operator saw (a shared lock has several); includes `expectToken`. */
  expectTokens?: string[];
  reason: string;
  /** The client, as `address:port`. */
  by: string;
}

/**
 * One backend, as the server sees it.
 *
 * @example
 * ```ts
 * const rows = await source.list();
 * await source.break('jobs', { expectToken: rows[0]!.holders[0]!.token, reason: 'hung', by: 'alice' });
 * ```
 */
export interface LockSource {
  /** Short and unique among the server's backends: `file`, `redis`, `etcd-2`, … (used in URLs and metrics labels). */
  readonly id: string;
  readonly kind: 'file' | 'engine';
  /** The backend's URL with any password removed, for display. */
  readonly url: string;
  /** Every held lock. */
  list(): Promise<LockRow[]>;
  /** One lock, or undefined when it is not held. */
  show(name: string): Promise<LockRow | undefined>;
  /**
   * Displace the holder of `name`, only if its token is still `expectToken`
   * (and, on an engine, only if its holders are exactly `expectTokens`, which
   * defaults to `[expectToken]`: compared atomically with the break). Rejects
   * with BreakRefused when it refuses.
   */
  break(name: string, request: BreakRequest): Promise<BreakOutcome>;
  /** Breaks recorded by the backend's audit log (newest last). */
  history(): Promise<HistoryEntry[]>;
  close(): Promise<void>;
}
