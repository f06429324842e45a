/**
 * `deadbolt break NAME --backend etcd://…`: displace the holders of a lock on
 * an engine, as an operator.
 *
 * Order: read the holders and show exactly who will be displaced (host, pid,
 * command, token, held for, lease left, whether its session still renews);
 * ask (or `--yes`, which needs `--reason`: the engine and the audit log keep
 * it); open the local audit log (a log that cannot be written safely stops the
 * break); `coordinator.break(name, { expect })` with the tokens shown, which
 * the engine compares with the holders in the same atomic step as it revokes
 * their claims — the operator confirmed those holders, not whoever came next,
 * so if they changed nothing is broken (exit 1) — and stores who, when and
 * why in the engine's break record (the displaced holders' `guard.signal`
 * fires, with that record); append the audit record.
 *
 * Unlike a lock directory's break, no process is signalled: the engine takes
 * the lock away and tells the holder, whose own code must stop (deadbolt run
 * does: it stops its command).
 *
 * @module
 */
import { redact } from '../distributed/connect-url.js';
import type { Coordinator } from '../distributed/coordinator.js';
import { HolderChangedError } from '../errors.js';
import type { LockInfo } from '../contracts/fenced-guard.js';
import { confirm } from './confirm.js';
import { formatDuration } from './durations.js';
import { auditLogPath, engineBreakRecord, openEngineAudit, operator } from './engine-audit.js';
import { engineLock, type EngineHolderView } from './engine-view.js';
import { escapeText } from './escape.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';
import type { Output } from './output.js';
import type { EngineTarget } from './target.js';

/**
 * Options of `break` on an engine.
 *
 * @example
 * ```ts
 * const options: EngineBreakOptions = { reason: 'holder hung since 03:00', yes: true, namespace: 'billing' };
 * ```
 */
export interface EngineBreakOptions {
  reason?: string;
  yes?: boolean;
  json?: boolean;
  namespace?: string;
  auditLog?: string;
}

/**
 * Break `name` on the coordinator's engine; resolves with the exit code.
 *
 * @example
 * ```ts
 * await breakEngineLock(coordinator, target, 'jobs', { yes: true, reason: 'stuck' }, io);
 * ```
 */
export async function breakEngineLock(coordinator: Coordinator, target: EngineTarget, name: string, options: EngineBreakOptions, io: Output): Promise<number> {
  const reason = options.reason?.trim();
  if (reason === undefined || reason === '') {
    throw usageError('breaking a lock on an engine needs --reason TEXT: the engine keeps it for the next holder, and the audit log for you');
  }
  const namespace = options.namespace ?? 'deadbolt';
  const backend = redact(target.url);
  const seen = await coordinator.holders(name);
  if (seen.length === 0) throw new CliError(ExitCode.NOT_BROKEN, `lock "${name}" is not held on ${backend} (namespace ${namespace}): nothing to break`);
  io.err(describe(name, backend, namespace, seen));
  if (!options.yes) {
    if (!process.stdin.isTTY) throw usageError('refusing to break a lock without confirmation: stdin is not a terminal', 'Add --yes to confirm non-interactively.');
    const whom = seen.length === 1 ? 'this holder' : `these ${seen.length} holders`;
    if (!(await confirm(`Displace ${whom} (their lease claims are revoked on the engine)? [y/N] `))) {
      throw new CliError(ExitCode.NOT_BROKEN, 'not confirmed: nothing was done');
    }
  }
  const log = openEngineAudit(auditLogPath(options.auditLog, process.env));
  let displaced: LockInfo[];
  const by = operator();
  try {
    // The lock may have changed hands while the operator read the prompt: the engine compares, atomically.
    displaced = await coordinator.break(name, { reason, by: `${by.sudoUser ?? by.user}@${by.host}`, expect: seen.map((h) => h.token) });
  } catch (err) {
    log.close();
    if (err instanceof HolderChangedError) {
      throw new CliError(ExitCode.NOT_BROKEN, `lock "${name}" changed hands meanwhile (tokens ${err.expected.join(',')} → ${err.found.join(',') || 'none'}): nothing was broken`, {
        hint: 'Run the command again to see its holders now.',
      });
    }
    throw err;
  }
  const record = engineBreakRecord({ backend, namespace, name, reason, by, displaced });
  log.append(record);
  if (options.json) io.json(record);
  else if (displaced.length === 0) io.out(escapeText(`lock "${name}" was released before the break: nothing displaced (recorded in ${log.path})`));
  else io.out(escapeText(`lock "${name}" broken: displaced token ${displaced.map((d) => d.token).join(', ')}; recorded by the engine and in ${log.path}`));
  return displaced.length === 0 ? ExitCode.NOT_BROKEN : ExitCode.OK;
}

/** Who will be displaced, for the operator. Every field but the numbers is from the engine: escaped. */
function describe(name: string, backend: string, namespace: string, infos: LockInfo[]): string {
  const view = engineLock({ name, holders: infos, waiters: [] }, false, Date.now());
  const lines = [`lock "${name}" on ${backend} (namespace ${namespace}) is held ${view.state} by:`];
  for (const h of view.holders) lines.push(...holderLines(h));
  return lines.map(escapeText).join('\n');
}

function holderLines(h: EngineHolderView): string[] {
  const lease = h.leaseLeftMs === null ? 'unknown' : formatDuration(h.leaseLeftMs);
  return [
    `  ${h.host} pid ${h.pid}  token ${h.token}`,
    `    command     ${h.command}`,
    `    held for    ${formatDuration(h.heldMs)} (since ${h.since})`,
    `    lease left  ${lease}; session ${h.session === 'renewing' ? 'still renewing' : h.session === 'late' ? 'NOT renewing (missed a renewal)' : h.session}`,
  ];
}
