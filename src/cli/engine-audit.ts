/**
 * The local audit log of breaks on engines: one JSON object per line,
 * appended by `deadbolt break --backend …` (and `deadbolt serve`'s break),
 * read back by `show`.
 *
 * Where: `--audit-log FILE`, else `$DEADBOLT_AUDIT_LOG`, else
 * `$XDG_STATE_HOME/deadbolt/audit.log`, else `~/.local/state/deadbolt/audit.log`
 * (the default's directories are created 0700). The rules of the lock
 * directory's audit log apply (docs/security.md): the file is created 0600,
 * opened `O_NOFOLLOW|O_NONBLOCK` (a symlink or a FIFO planted at its name is
 * refused, never followed or blocked on), must then prove to be a regular
 * file with one link, owned by this user; it is opened before the break acts,
 * so a log that cannot be written stops the break; each record is one
 * `O_APPEND` write, so concurrent breaks never interleave within a line. What
 * is read back is untrusted (escaped when shown).
 *
 * @module
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { LockInfo } from '../contracts/fenced-guard.js';
import { CliError, ExitCode } from './exit-codes.js';
import { isoTime } from './format.js';

/**
 * One break on an engine, as recorded (schema in docs/cli.md).
 *
 * @example
 * ```ts
 * const r: EngineBreakAuditRecord = JSON.parse(line);
 * console.log(r.backend, r.lock.name, r.reason);
 * ```
 */
export interface EngineBreakAuditRecord {
  version: 1;
  event: 'break';
  at: string;
  /** The backend URL, password hidden. */
  backend: string;
  namespace: string;
  lock: { name: string };
  /** Who broke it; `via` and `client` when it was broken from `deadbolt serve`'s page. */
  by: { user: string; uid: number; sudoUser?: string; host: string; pid: number; via?: 'deadbolt serve'; client?: string };
  reason: string;
  /** The holders the engine displaced. */
  displaced: Array<{ id: string; host: string; pid: number; command: string; mode: 'exclusive' | 'shared'; token: string; since: string }>;
  outcome: 'broken';
}

/**
 * Who is running this command, for audit records: the user (its uid when it
 * has no passwd entry, as in containers), `SUDO_USER` when run through sudo,
 * the host and this pid.
 *
 * @example
 * ```ts
 * operator(); // { user: 'root', uid: 0, sudoUser: 'alice', host: 'ops-1', pid: 4242 }
 * ```
 */
export function operator(): EngineBreakAuditRecord['by'] {
  let user: string;
  let uid: number;
  try {
    ({ username: user, uid } = userInfo());
  } catch {
    uid = process.getuid?.() ?? -1;
    user = String(uid);
  }
  const by: EngineBreakAuditRecord['by'] = { user, uid, host: hostname(), pid: process.pid };
  if (process.env.SUDO_USER) by.sudoUser = process.env.SUDO_USER;
  return by;
}

/**
 * The record of one break: what `break --backend` and `deadbolt serve` append.
 *
 * @example
 * ```ts
 * const record = engineBreakRecord({ backend: 'redis://10.0.0.5:6379', namespace: 'deadbolt', name: 'jobs', reason: 'hung', by: operator(), displaced });
 * ```
 */
export function engineBreakRecord(what: {
  backend: string;
  namespace: string;
  name: string;
  reason: string;
  by: EngineBreakAuditRecord['by'];
  displaced: readonly LockInfo[];
}): EngineBreakAuditRecord {
  return {
    version: 1,
    event: 'break',
    at: new Date().toISOString(),
    backend: what.backend,
    namespace: what.namespace,
    lock: { name: what.name },
    by: what.by,
    reason: what.reason,
    displaced: what.displaced.map((d) => ({
      id: d.owner.id,
      host: d.owner.host,
      pid: d.owner.pid,
      command: d.owner.command ?? '',
      mode: d.mode,
      token: d.token.toString(),
      since: isoTime(d.since),
    })),
    outcome: 'broken',
  };
}

/**
 * The audit log's path for `option` (`--audit-log`) and `env`.
 *
 * @example
 * ```ts
 * auditLogPath(undefined, { HOME: '/home/ops' }); // '/home/ops/.local/state/deadbolt/audit.log'
 * ```
 */
export function auditLogPath(option: string | undefined, env: NodeJS.ProcessEnv): { path: string; isDefault: boolean } {
  if (option !== undefined && option !== '') return { path: resolve(option), isDefault: false };
  if (env.DEADBOLT_AUDIT_LOG) return { path: resolve(env.DEADBOLT_AUDIT_LOG), isDefault: false };
  const state = env.XDG_STATE_HOME ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return { path: join(state, 'deadbolt', 'audit.log'), isDefault: true };
}

/**
 * Open the log for one append, before anything is broken.
 *
 * @throws CliError 73 when it cannot be created or opened, 77 when what is at its name is unsafe.
 * @example
 * ```ts
 * const log = openEngineAudit(auditLogPath(options.auditLog, process.env));
 * try { log.append(record); } finally { log.close(); }
 * ```
 */
export function openEngineAudit(where: { path: string; isDefault: boolean }): { path: string; append(record: EngineBreakAuditRecord): void; close(): void } {
  const { path } = where;
  if (where.isDefault) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new CliError(ExitCode.NO_PERMISSION, `refusing the audit log ${path}: it is a symbolic link`);
    throw new CliError(ExitCode.CANT_CREATE, `cannot open the audit log ${path}: ${code ?? (err as Error).message}`, {
      hint: 'Choose another with --audit-log FILE or DEADBOLT_AUDIT_LOG. Nothing was broken.',
    });
  }
  const stat = fstatSync(fd);
  const uid = process.getuid?.();
  const why = !stat.isFile() ? 'it is not a regular file' : stat.nlink !== 1 ? 'it has other hard links' : uid !== undefined && stat.uid !== uid ? `it belongs to uid ${stat.uid}` : undefined;
  if (why !== undefined) {
    closeSync(fd);
    throw new CliError(ExitCode.NO_PERMISSION, `refusing the audit log ${path}: ${why}. Nothing was broken.`);
  }
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    path,
    append(record) {
      try {
        writeSync(fd, `${JSON.stringify(record)}\n`);
      } finally {
        close();
      }
    },
    close,
  };
}

/** How much of the end of the log `readEngineAudit` looks at. */
const TAIL_BYTES = 256 * 1024;

/**
 * The last `limit` records for `name` on `backend`/`namespace`, oldest first;
 * nothing when the log is absent or unsafe to read (a symlink, a FIFO).
 *
 * @example
 * ```ts
 * readEngineAudit(auditLogPath(undefined, process.env).path, 'redis://10.0.0.5:6379', 'deadbolt', 'jobs', 20);
 * ```
 */
export function readEngineAudit(path: string, backend: string, namespace: string, name: string, limit: number): EngineBreakAuditRecord[] {
  return readEngineAuditOf(path, backend, namespace, (r) => r.lock.name === name).slice(-limit);
}

/**
 * Every record for `backend`/`namespace` in the log's tail, oldest first
 * (`deadbolt serve`'s history); nothing when the log is absent or unsafe to read.
 *
 * @example
 * ```ts
 * readEngineAuditAll(auditLogPath(undefined, process.env).path, 'redis://10.0.0.5:6379', 'deadbolt');
 * ```
 */
export function readEngineAuditAll(path: string, backend: string, namespace: string): EngineBreakAuditRecord[] {
  return readEngineAuditOf(path, backend, namespace, () => true);
}

function readEngineAuditOf(path: string, backend: string, namespace: string, keep: (r: EngineBreakAuditRecord) => boolean): EngineBreakAuditRecord[] {
  let text: string;
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    try {
      if (!fstatSync(fd).isFile()) return [];
      text = readFileSync(fd).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
  if (text.length > TAIL_BYTES) text = text.slice(text.indexOf('\n', text.length - TAIL_BYTES) + 1);
  const records: EngineBreakAuditRecord[] = [];
  for (const line of text.split('\n')) {
    const r = parse(line);
    if (r !== undefined && r.backend === backend && r.namespace === namespace && keep(r)) records.push(r);
  }
  return records;
}

/** A line that is a record with every field `show` prints, of the right type; anything else is skipped. */
function parse(line: string): EngineBreakAuditRecord | undefined {
  if (line.trim() === '') return undefined;
  let v: any;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  const ok =
    v !== null && typeof v === 'object' && v.event === 'break' &&
    ['at', 'backend', 'namespace', 'reason'].every((k) => typeof v[k] === 'string') &&
    typeof v.lock?.name === 'string' && typeof v.by?.user === 'string' && typeof v.by?.host === 'string' &&
    Array.isArray(v.displaced) && v.displaced.every((d: any) => d !== null && typeof d === 'object' && typeof d.token === 'string' && typeof d.host === 'string');
  return ok ? (v as EngineBreakAuditRecord) : undefined;
}
