/**
 * `deadbolt break NAME --backend etcd://…`: displace the holders of a lock on
 * an engine, as an operator.
 *
 * Order: read the holders and show exactly who will be displaced (host, pid,
 * command, token, held for, lease left, whether its session still renews);
 * ask (or `--yes`, which needs `--reason`: the engine and the audit log keep
 * it); read the holders again and refuse (exit 1) if their tokens changed
 * meanwhile — the operator confirmed those holders, not whoever came next;
 * open the local audit log (a log that cannot be written safely stops the
 * break); `coordinator.break()`, which revokes the claims on the engine and
 * stores who, when and why in the engine's break record (the displaced
 * holders' `guard.signal` fires, with that record); append the audit record.
 *
 * Unlike a lock directory's break, no process is signalled: the engine takes
 * the lock away and tells the holder, whose own code must stop (deadbolt run
 * does: it stops its command). A holder that took the lock between the second
 * read and the break (a window of one round trip) would be displaced too:
 * the result names every displaced token, and warns when one was not confirmed.
 *
 * @module
 */
import { redact } from '../distributed/connect-url.js';
import type { Coordinator } from '../distributed/coordinator.js';
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
  // The lock may have changed hands while the operator read the prompt.
  const now = await coordinator.holders(name);
  if (tokens(now) !== tokens(seen)) {
    throw new CliError(ExitCode.NOT_BROKEN, `lock "${name}" changed hands meanwhile (tokens ${tokens(seen) || 'none'} → ${tokens(now) || 'none'}): nothing was broken`, {
      hint: 'Run the command again to see its holders now.',
    });
  }
  const log = openEngineAudit(auditLogPath(options.auditLog, process.env));
  let displaced: LockInfo[];
  const by = operator();
  try {
    displaced = await coordinator.break(name, { reason, by: `${by.sudoUser ?? by.user}@${by.host}` });
  } catch (err) {
    log.close();
    throw err;
  }
  const record = engineBreakRecord({ backend, namespace, name, reason, by, displaced });
  log.append(record);
  const unconfirmed = displaced.filter((d) => !seen.some((s) => s.token === d.token));
  if (unconfirmed.length > 0) {
    io.err(io.errColor.yellow(`deadbolt: warning: also displaced token(s) ${unconfirmed.map((d) => d.token).join(', ')}, granted between the last check and the break`));
  }
  if (options.json) io.json(record);
  else if (displaced.length === 0) io.out(escapeText(`lock "${name}" was released before the break: nothing displaced (recorded in ${log.path})`));
  else io.out(escapeText(`lock "${name}" broken: displaced token ${displaced.map((d) => d.token).join(', ')}; recorded by the engine and in ${log.path}`));
  return displaced.length === 0 ? ExitCode.NOT_BROKEN : ExitCode.OK;
}

function tokens(infos: readonly LockInfo[]): string {
  return infos.map((i) => i.token).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).join(',');
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
