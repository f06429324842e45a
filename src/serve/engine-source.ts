/**
 * An engine (etcd, Redis, PostgreSQL, ZooKeeper) as a backend of `deadbolt
 * serve`, through the library's Coordinator: `list()` for the table,
 * `holders(name)` for a detail view and for the token check before a break,
 * `break(name, { reason, by })` to displace a holder (the engine stores its
 * break record and the holder's `guard.signal` fires).
 *
 * "Changed hands" is checked by the engine: `break(name, { expect })` with the
 * tokens the operator saw compares them with the holders in the same atomic
 * step as the break, so a holder granted after the page showed the lock is
 * never displaced (409, nothing done).
 *
 * @module
 */
import type { Coordinator } from '../distributed/coordinator.js';
import type { BreakRecord } from '../distributed/driver.js';
import { HolderChangedError } from '../errors.js';
import type { LockInfo } from '../contracts/fenced-guard.js';
import { engineBreakRecord, openEngineAudit, operator, readEngineAuditAll, type EngineBreakAuditRecord } from '../cli/engine-audit.js';
import { CliError, ExitCode } from '../cli/exit-codes.js';
import type { HistoryEntry, HolderRow, LockRow } from './lock-row.js';
import { BreakRefused, type BreakOutcome, type BreakRequest, type LockSource } from './lock-source.js';

/** Where breaks are recorded: the CLI's engine audit log (`auditLogPath`), shared with `deadbolt break --backend`. */
export interface AuditLogPlace {
  path: string;
  isDefault: boolean;
}

/**
 * An engine, read through one Coordinator.
 *
 * @example
 * ```ts
 * const source = new EngineSource('redis', 'redis://127.0.0.1:6379', 'deadbolt', await connect('redis://127.0.0.1:6379'), auditLogPath(undefined, process.env));
 * ```
 */
export class EngineSource implements LockSource {
  readonly kind = 'engine';
  /** The longest lease left seen per holder (by token): a lease far below it is not being renewed. */
  readonly #longestLease = new Map<string, number>();
  /** The break records the engine keeps, by lock name, as the last survey saw them. */
  #engineBreaks = new Map<string, BreakRecord>();

  constructor(
    readonly id: string,
    /** The URL as shown and recorded: password hidden (`redact`), as `deadbolt break --backend` records it. */
    readonly url: string,
    private readonly namespace: string,
    private readonly coordinator: Coordinator,
    private readonly auditLog: AuditLogPlace,
  ) {}

  async list(): Promise<LockRow[]> {
    const survey = await this.coordinator.survey();
    const rows = survey === undefined ? groupByName(this.id, await this.coordinator.list(), (info, now) => this.#holderRow(info, now)) : this.#surveyRows(survey);
    const live = new Set(rows.flatMap((r) => r.holders.map((h) => h.token)));
    for (const token of this.#longestLease.keys()) if (!live.has(token)) this.#longestLease.delete(token);
    return rows;
  }

  async show(name: string): Promise<LockRow | undefined> {
    return groupByName(this.id, await this.coordinator.holders(name), (info, now) => this.#holderRow(info, now))[0];
  }

  async break(name: string, { expectToken, expectTokens, reason, by }: BreakRequest): Promise<BreakOutcome> {
    const expect = (expectTokens ?? [expectToken]).map((t) => BigInt(t));
    const log = openLog(this.auditLog); // proven writable before anything is broken
    const operatorNow = { ...operator(), via: 'deadbolt serve' as const, client: by };
    let displaced: LockInfo[];
    try {
      displaced = await this.coordinator.break(name, { reason, by: `${operatorNow.sudoUser ?? operatorNow.user}@${operatorNow.host} via deadbolt serve (${by})`, expect });
    } catch (err) {
      log.close();
      if (err instanceof HolderChangedError) throw refusal(name, err);
      throw err;
    }
    const record = engineBreakRecord({ backend: this.url, namespace: this.namespace, name, reason, by: operatorNow, displaced });
    log.append(record);
    return {
      broken: displaced.length > 0,
      displaced: displaced.map((info) => toHolderRow(info, 'gone')),
      detail: displaced.length === 0 ? 'released before the break: nobody displaced' : `displaced ${displaced.length} holder(s); the engine keeps the break record`,
      record,
    };
  }

  /** Breaks recorded in the audit log (by this page or `deadbolt break --backend` on this host), and those the engine keeps. */
  async history(): Promise<HistoryEntry[]> {
    const audited = readEngineAuditAll(this.auditLog.path, this.url, this.namespace).flatMap((r) => auditEntries(this.id, r));
    const seen = new Set(audited.map((e) => `${e.name}\u0000${e.token}`));
    const kept = [...this.#engineBreaks].flatMap(([name, record]) =>
      (record.displaced ?? [])
        .filter((d) => !seen.has(`${name}\u0000${d.token}`))
        .map((d) => ({
          at: record.at.getTime(),
          backend: this.id,
          name,
          kind: 'break' as const,
          token: d.token.toString(),
          holder: `pid ${d.owner.pid} on ${d.owner.host}: ${d.owner.command ?? ''}`,
          by: record.by,
          reason: record.reason,
          detail: 'the engine\'s break record',
        })),
    );
    return [...audited, ...kept];
  }

  close(): Promise<void> {
    return this.coordinator.close();
  }

  #surveyRows(survey: NonNullable<Awaited<ReturnType<Coordinator['survey']>>>): LockRow[] {
    const now = Date.now();
    const rows: LockRow[] = [];
    this.#engineBreaks = new Map();
    for (const entry of survey) {
      if (entry.lastBreak !== undefined) this.#engineBreaks.set(entry.name, entry.lastBreak);
      if (entry.holders.length === 0 && entry.waiters.length === 0) continue;
      const mode = entry.holders[0]?.mode ?? entry.waiters[0]!.mode;
      rows.push({ backend: this.id, name: entry.name, mode, holders: entry.holders.map((info) => this.#holderRow(info, now)), waiters: entry.waiters.length });
    }
    return rows;
  }

  #holderRow(info: LockInfo, now: number): HolderRow {
    const token = info.token.toString();
    let state: HolderRow['state'] = 'running';
    if (info.expiresAt !== undefined) {
      const left = info.expiresAt.getTime() - now;
      const longest = Math.max(left, this.#longestLease.get(token) ?? 0);
      this.#longestLease.set(token, longest);
      // Keepalives renew at a fraction of the TTL, so a renewing holder never falls below half.
      if (left < longest / 2) state = 'expiring';
    }
    return toHolderRow(info, state);
  }
}

/** The engine found other holders than the page showed: 409, as before any break. */
function refusal(name: string, err: HolderChangedError): BreakRefused {
  if (err.found.length === 0) return new BreakRefused(409, `lock "${name}" is not held: nothing to break`);
  return new BreakRefused(409, `lock "${name}" changed hands: its holder's token is now ${err.found.join(', ')}, not ${err.expected.join(', ')}; nothing was done`);
}

/** The audit log, opened before the break; its refusals become the page's answers. */
function openLog(place: AuditLogPlace): ReturnType<typeof openEngineAudit> {
  try {
    return openEngineAudit(place);
  } catch (err) {
    if (err instanceof CliError) throw new BreakRefused(err.exitCode === ExitCode.NO_PERMISSION ? 403 : 502, err.message);
    throw err;
  }
}

function auditEntries(backend: string, r: EngineBreakAuditRecord): HistoryEntry[] {
  return r.displaced.map((d) => ({
    at: Date.parse(r.at),
    backend,
    name: r.lock.name,
    kind: 'break' as const,
    token: d.token,
    holder: `pid ${d.pid} on ${d.host}: ${d.command}`,
    by: `${r.by.user}@${r.by.host}${r.by.via === undefined ? '' : ` (${r.by.via}${r.by.client === undefined ? '' : `, ${r.by.client}`})`}`,
    reason: r.reason,
    detail: 'displaced; the engine keeps the break record',
  }));
}

function groupByName(backend: string, infos: LockInfo[], row: (info: LockInfo, now: number) => HolderRow): LockRow[] {
  const now = Date.now();
  const byName = new Map<string, LockRow>();
  for (const info of infos) {
    let lock = byName.get(info.name);
    if (lock === undefined) byName.set(info.name, (lock = { backend, name: info.name, mode: info.mode, holders: [], waiters: null }));
    lock.holders.push(row(info, now));
  }
  return [...byName.values()];
}

function toHolderRow(info: LockInfo, state: HolderRow['state']): HolderRow {
  return {
    id: info.owner.id,
    host: info.owner.host,
    pid: info.owner.pid,
    command: info.owner.command ?? '',
    token: info.token.toString(),
    since: info.since.getTime(),
    expiresAt: info.expiresAt?.getTime() ?? null,
    state,
    data: info.data ?? null,
  };
}
