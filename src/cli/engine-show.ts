/**
 * `deadbolt show NAME --backend etcd://…`: one lock on an engine in detail —
 * each holder with its lease and session state, the waiters in queue order,
 * the break record the engine keeps, and the breaks of this lock in the local
 * audit log. Exit 1 when the engine knows nothing of the name.
 *
 * @module
 */
import { redact } from '../distributed/connect-url.js';
import type { Coordinator } from '../distributed/coordinator.js';
import { formatDuration } from './durations.js';
import { auditLogPath, readEngineAudit, type EngineBreakAuditRecord } from './engine-audit.js';
import { engineBreakLine } from './engine-ls.js';
import { engineLock, readSurvey, waiterViews, type EngineHolderView, type EngineLockView, type WaiterView } from './engine-view.js';
import { CliError, ExitCode } from './exit-codes.js';
import type { Colors, Output } from './output.js';
import { alignRows, styled, type Cell } from './table.js';
import type { EngineTarget } from './target.js';

/**
 * `show --json` on an engine (docs/cli.md).
 *
 * @example
 * ```ts
 * const detail: EngineLockDetail = await engineDetail(coordinator, target, 'deadbolt', 'jobs', auditPath);
 * ```
 */
export interface EngineLockDetail {
  version: 1;
  backend: string;
  namespace: string;
  name: string;
  lock: EngineLockView;
  /** In queue order; null when the engine cannot tell. */
  queue: WaiterView[] | null;
  /** This lock's breaks in the local audit log, oldest first. */
  audit: EngineBreakAuditRecord[];
}

/**
 * Read lock `name` on the coordinator's engine.
 *
 * @example
 * ```ts
 * const detail = await engineDetail(coordinator, target, 'deadbolt', 'jobs', '/home/ops/.local/state/deadbolt/audit.log');
 * ```
 */
export async function engineDetail(coordinator: Coordinator, target: EngineTarget, namespace: string, name: string, auditPath: string): Promise<EngineLockDetail> {
  // A survey of the prefix NAME, of which only NAME itself is kept.
  const { entries, waitersKnown } = await readSurvey(coordinator, name);
  const entry = entries.find((e) => e.name === name) ?? { name, holders: [], waiters: [] };
  const now = Date.now();
  const backend = redact(target.url);
  return {
    version: 1,
    backend,
    namespace,
    name,
    lock: engineLock(entry, waitersKnown, now),
    queue: waitersKnown ? waiterViews(entry.waiters, now) : null,
    audit: readEngineAudit(auditPath, backend, namespace, name, 20),
  };
}

/**
 * `show NAME` on an engine; resolves with the exit code.
 *
 * @example
 * ```ts
 * await showEngineLock(coordinator, target, 'jobs', { json: true }, io);
 * ```
 */
export async function showEngineLock(
  coordinator: Coordinator,
  target: EngineTarget,
  name: string,
  options: { json?: boolean; namespace?: string; auditLog?: string },
  io: Output,
): Promise<number> {
  const detail = await engineDetail(coordinator, target, options.namespace ?? 'deadbolt', name, auditLogPath(options.auditLog, process.env).path);
  const { lock, queue } = detail;
  if (lock.state === 'free' && (queue?.length ?? 0) === 0 && lock.lastBreak === null && detail.audit.length === 0) {
    throw new CliError(ExitCode.UNKNOWN_LOCK, `no lock "${name}" on ${detail.backend} (namespace ${detail.namespace}): nobody holds it, waits for it or broke it`, {
      hint: '`deadbolt ls` lists the locks of the namespace; --namespace chooses another.',
    });
  }
  if (options.json) {
    io.json(detail);
    return 0;
  }
  const c = io.color;
  const words = WORDS[lock.kind];
  const rows: Row[] = [
    [lock.kind === 'lock' ? 'lock' : `lock (${lock.kind})`, name],
    ['backend', `${detail.backend} (namespace ${detail.namespace})`],
    ['state', lock.state === 'free' ? styled('free', c.green) : styled(`${lock.state}${lock.holders.length > 1 ? ` by ${lock.holders.length} holders` : ''}`, c.yellow)],
  ];
  lock.holders.forEach((h, i) => rows.push(...holderRows(h, lock.holders.length > 1 ? `${words.holder} ${i + 1}` : words.holder, words, c)));
  if (queue === null) rows.push([words.waiters, 'unknown (the engine does not tell)']);
  else if (queue.length === 0) rows.push([words.waiters, 'none']);
  else queue.forEach((w, i) => rows.push([i === 0 ? words.waiters : '', `${i + 1}. ${w.mode} ${w.host} pid ${w.pid} ${w.command}${w.waitedMs === null ? '' : ` (waiting ${formatDuration(w.waitedMs)})`}`]));
  rows.push(['last break', lock.lastBreak === null ? 'none kept by the engine' : '']);
  // alignRows escapes every value: the name and the holders' fields are untrusted.
  io.out(alignRows(rows.map(([k, v]) => [styled(k, c.bold), v])));
  if (lock.lastBreak !== null) io.out(engineBreakLine(name, lock.lastBreak));
  if (detail.audit.length > 0) {
    io.out(c.bold('\nBreaks in the local audit log:'));
    for (const r of detail.audit) {
      io.out(engineBreakLine(name, { at: r.at, by: `${r.by.sudoUser ?? r.by.user}@${r.by.host}`, reason: r.reason, displaced: r.displaced }));
    }
  }
  return 0;
}

/** One line of `show`: a label and its value. */
type Row = [string, Cell];

const SESSION_WORDS = {
  renewing: 'renewing',
  late: 'late: it missed a renewal (paused, partitioned or overloaded?)',
  expired: 'expired',
  unknown: 'unknown (the engine gives no lease TTL)',
} as const;

/** What `show` calls the holders, the waiters and the stored data of each kind of name. */
const WORDS = {
  lock: { holder: 'holder', waiters: 'waiters', data: 'data', token: 'token' },
  election: { holder: 'leader', waiters: 'candidates', data: 'value', token: 'term' },
  group: { holder: 'member', waiters: 'waiters', data: 'metadata', token: 'member id' },
  semaphore: { holder: 'permit holder', waiters: 'waiters', data: 'data', token: 'token' },
} as const;

function holderRows(h: EngineHolderView, label: string, words: (typeof WORDS)[keyof typeof WORDS], c: Colors): Row[] {
  const rows: Row[] = [
    [label, `${h.host} pid ${h.pid}`],
    ['command', h.command],
    ['mode', h.mode],
    [words.token, h.token],
    ['since', `${h.since} (held for ${formatDuration(h.heldMs)})`],
    ['lease left', h.expiresAt === null ? 'unknown' : `${formatDuration(h.leaseLeftMs ?? 0)} (expires ${h.expiresAt})`],
    ['session', h.session === 'late' || h.session === 'expired' ? styled(SESSION_WORDS[h.session], c.red) : SESSION_WORDS[h.session]],
    ['owner id', h.id],
  ];
  // untrusted like every field: alignRows escapes it
  if (h.data !== null) rows.splice(4, 0, [words.data, h.data]);
  return rows;
}
