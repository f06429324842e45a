/**
 * The one door `deadbolt serve` has to its backends: a narrow interface
 * ("list locks", "show one", "break one expecting token T", "history"),
 * implemented for lock directories (file-source.ts) and for engines through
 * the library's `connect(url)` (engine-source.ts).
 *
 * Engines are opened exactly as the CLI's other commands open them
 * (cli/engine-options.ts: the same credential, TLS and timeout flags, the same
 * exit codes), and their breaks go to the same audit log as `deadbolt break
 * --backend`, so either shows the other's.
 *
 * @module
 */
import { redact } from '../distributed/connect-url.js';
import { openForCommand, type EngineOptions } from '../cli/engine-options.js';
import type { Output } from '../cli/output.js';
import { resolveTarget } from '../cli/target.js';
import { usageError } from '../cli/exit-codes.js';
import { EngineSource, type AuditLogPlace } from './engine-source.js';
import { FileSource } from './file-source.js';
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

/**
 * Options of `openSources`.
 *
 * @example
 * ```ts
 * const options: SourceOptions = { grace: 10_000, engine: { namespace: 'billing' }, auditLog: auditLogPath(undefined, process.env), io };
 * ```
 */
export interface SourceOptions {
  /** Lock directories: ms between SIGTERM and SIGKILL when breaking. */
  grace: number;
  /** Engines: how to reach them (namespace, credentials, TLS, timeouts), as on every command. */
  engine: EngineOptions;
  /** Engines: the audit log each break is appended to (`auditLogPath`, as `deadbolt break --backend`). */
  auditLog: AuditLogPlace;
  /** Where warnings go (a group-readable password file). */
  io: Output;
}

/**
 * Open every backend named by `urls` (`file:///dir` or an engine URL); closes
 * the ones already opened if one fails.
 *
 * @example
 * ```ts
 * const sources = await openSources(['file:///run/locks', 'redis://127.0.0.1:6379'], { grace: 10_000, engine: {}, auditLog: auditLogPath(undefined, process.env), io });
 * ```
 */
export async function openSources(urls: string[], options: SourceOptions): Promise<LockSource[]> {
  const sources: LockSource[] = [];
  const ids = new Map<string, number>();
  const nextId = (scheme: string) => {
    const n = (ids.get(scheme) ?? 0) + 1;
    ids.set(scheme, n);
    return n === 1 ? scheme : `${scheme}-${n}`;
  };
  try {
    for (const url of urls) {
      const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase() ?? '';
      if (scheme === 'file') {
        sources.push(new FileSource(nextId('file'), resolveTarget({ backend: url }), options.grace));
      } else {
        if (scheme === 'memory') throw usageError('memory:// lives inside one process: deadbolt serve cannot see its locks', 'Give a lock directory (file:///DIR) or an engine URL.');
        const coordinator = await openForCommand({ url, from: '--backend' }, options.engine, options.io);
        sources.push(new EngineSource(nextId(scheme.split('+')[0]!), redact(url), options.engine.namespace ?? 'deadbolt', coordinator, options.auditLog));
      }
    }
  } catch (err) {
    await Promise.allSettled(sources.map((s) => s.close()));
    throw err;
  }
  return sources;
}
