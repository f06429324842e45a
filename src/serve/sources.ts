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
import type { LockSource } from './lock-source.js';

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
