/**
 * A lock directory as a backend of `deadbolt serve`: the CLI's own listing
 * (lock-view.ts) and break (break.ts), through one directory descriptor per
 * operation, opened with the CLI's rules (target.ts: only a marked lock
 * directory, never following a symlink).
 *
 * Breaking stops the holder process (SIGTERM, then SIGKILL after the grace),
 * only after the kernel proves it holds the lock, and appends the CLI's audit
 * record to the directory's .deadbolt-audit.log.
 *
 * @module
 */
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { readAudit, type BreakAuditRecord } from '../cli/audit.js';
import { breakIdentified, identifyHolder } from '../cli/break.js';
import { CliError, ExitCode } from '../cli/exit-codes.js';
import { lockView, type HolderView } from '../cli/lock-view.js';
import type { Output } from '../cli/output.js';
import { openLockDirectory, type FileTarget } from '../cli/target.js';
import type { DirectoryHandle } from '../file/directory-handle.js';
import { listDirectory } from '../file/list.js';
import { checkLockName, lockFileName } from '../file/lock-name.js';
import { blockedRequests, isStopped } from './kernel-state.js';
import type { HistoryEntry, HolderRow, LockRow } from './lock-row.js';
import { BreakRefused, type BreakOutcome, type LockSource } from './lock-source.js';

/** How many audit records the history shows per directory. */
const HISTORY_LIMIT = 200;

/**
 * A lock directory, read and broken with the CLI's rules.
 *
 * @example
 * ```ts
 * const source = new FileSource('file', resolveTarget({ lockPath: '/run/locks' }), 10_000);
 * console.log(await source.list());
 * ```
 */
export class FileSource implements LockSource {
  readonly kind = 'file';
  readonly url: string;

  constructor(
    readonly id: string,
    private readonly target: FileTarget,
    private readonly grace: number,
  ) {
    this.url = pathToFileURL(target.directory).toString();
  }

  async list(): Promise<LockRow[]> {
    return this.#withHandle(async (handle) => {
      const now = Date.now();
      const waiting = blockedRequests();
      const rows: LockRow[] = [];
      for (const info of await listDirectory(handle, this.target.prefix)) {
        const view = lockView(info, now);
        if (view === undefined || view.state === 'free') continue;
        const inode = handle.stat(info.file)?.ino;
        rows.push({
          backend: this.id,
          name: view.name ?? info.file,
          mode: view.state,
          holders: view.holders.map(holderRow),
          waiters: inode === undefined ? null : (waiting.get(inode) ?? 0),
        });
      }
      return rows;
    });
  }

  async show(name: string): Promise<LockRow | undefined> {
    return (await this.list()).find((row) => row.name === name);
  }

  async break(name: string, { expectToken, reason }: { expectToken: string; reason: string; by: string }): Promise<BreakOutcome> {
    checkLockName(name);
    const file = lockFileName(name, this.target.prefix);
    return this.#withHandle(async (handle) => {
      try {
        const holder = identifyHolder(handle, name, file);
        if (holder.record.token.toString() !== expectToken) {
          throw new BreakRefused(409, `lock "${name}" changed hands: its holder's token is now ${holder.record.token}, not ${expectToken}; nothing was done`);
        }
        const notes: string[] = [];
        const { entry, failure } = await breakIdentified(handle, { name, file }, holder, { reason, grace: this.grace }, collecting(notes));
        return {
          broken: failure === undefined,
          displaced: [auditHolder(entry)],
          detail: [`${entry.signals.join(', then ')}, ${entry.outcome}`, ...notes, ...(failure === undefined ? [] : [failure.message])].join('; '),
          record: entry,
        };
      } catch (err) {
        throw refusal(err);
      }
    }, true);
  }

  async history(): Promise<HistoryEntry[]> {
    return this.#withHandle(async (handle) => readAudit(handle, HISTORY_LIMIT).map((r) => auditEntry(this.id, r)));
  }

  async close(): Promise<void> {}

  /** Run `fn` with the directory opened for this one operation (a directory replaced meanwhile is seen anew). */
  async #withHandle<T>(fn: (handle: DirectoryHandle) => Promise<T>, act = false): Promise<T> {
    const handle = openLockDirectory(this.target, { act });
    try {
      return await fn(handle);
    } finally {
      handle.close();
    }
  }
}

function holderRow(h: HolderView): HolderRow {
  const local = h.host === hostname();
  let state: HolderRow['state'];
  if (!local) state = 'remote';
  else if (h.process === 'gone' || h.process === 'reused') state = 'gone';
  else if (h.process === 'unknown') state = 'unknown';
  else state = isStopped(h.pid) ? 'stopped' : 'running';
  return { id: h.id, host: h.host, pid: h.pid, command: h.command, token: h.token, since: Date.parse(h.since), expiresAt: null, state, data: null };
}

function auditHolder(r: BreakAuditRecord): HolderRow {
  const d = r.displaced;
  return { id: d.id, host: d.host, pid: d.pid, command: d.command, token: d.token, since: Date.parse(d.since), expiresAt: null, state: 'gone', data: null };
}

/** An audit record (untrusted: anyone who can write the directory can append one) as a history entry. */
function auditEntry(backend: string, r: BreakAuditRecord): HistoryEntry {
  const by = r.by.sudoUser === undefined ? `${r.by.user}@${r.by.host}` : `${r.by.sudoUser} (as ${r.by.user})@${r.by.host}`;
  return {
    at: Date.parse(r.at),
    backend,
    name: r.lock.name,
    kind: 'break',
    token: r.displaced.token,
    holder: `pid ${r.displaced.pid} on ${r.displaced.host}: ${r.displaced.command}`,
    by,
    reason: r.reason,
    detail: `${r.signals.join(', then ')}, ${r.outcome}`,
  };
}

/** The CLI's refusals, as the HTTP statuses the API answers with. */
function refusal(err: unknown): unknown {
  if (!(err instanceof CliError)) return err;
  if (err.exitCode === ExitCode.NOT_BROKEN) return new BreakRefused(409, err.message);
  if (err.exitCode === ExitCode.NO_PERMISSION) return new BreakRefused(403, err.message);
  return new BreakRefused(422, err.hint === undefined ? err.message : `${err.message}. ${err.hint}`);
}

/** An Output that keeps what break.ts says along the way (e.g. "sending SIGKILL") for the answer. */
function collecting(notes: string[]): Output {
  const plain = new Proxy({}, { get: () => (s: string) => s }) as Output['color'];
  return { out: (l) => notes.push(l), err: (l) => notes.push(l), json: () => {}, color: plain, errColor: plain, stderrIsTTY: false, stdoutIsTTY: false, columns: 80 };
}
