/**
 * An engine (etcd, Redis, PostgreSQL, ZooKeeper) as a backend of `deadbolt
 * serve`, through the library's Coordinator: `list()` for the table,
 * `holders(name)` for a detail view and for the token check before a break,
 * `break(name, { reason, by })` to displace a holder (the engine stores its
 * break record and the holder's `guard.signal` fires).
 *
 * "Changed hands" is checked by comparing tokens right before the break: the
 * Coordinator has no conditional break, so a new holder granted in the few
 * milliseconds between the check and the break would be displaced too (and is
 * listed as displaced in the answer and the audit record).
 *
 * @module
 */
import { hostname, userInfo } from 'node:os';
import { closeSync } from 'node:fs';
import type { Coordinator } from '../distributed/coordinator.js';
import type { LockInfo } from '../local/fenced-guard.js';
import { appendEngineBreak, openLog, readEngineBreaks, recordedHolder, type EngineBreakRecord } from './engine-audit.js';
import type { HistoryEntry, HolderRow, LockRow } from './lock-row.js';
import { BreakRefused, type BreakOutcome, type LockSource } from './sources.js';

/**
 * An engine, read through one Coordinator.
 *
 * @example
 * ```ts
 * const source = new EngineSource('redis', 'redis://127.0.0.1:6379', await connect('redis://127.0.0.1:6379'), '/var/log/deadbolt-serve.log');
 * ```
 */
export class EngineSource implements LockSource {
  readonly kind = 'engine';
  /** The longest lease left seen per holder (by token): a lease far below it is not being renewed. */
  readonly #longestLease = new Map<string, number>();

  constructor(
    readonly id: string,
    readonly url: string,
    private readonly coordinator: Coordinator,
    private readonly auditLog: string | undefined,
  ) {}

  async list(): Promise<LockRow[]> {
    const rows = groupByName(this.id, await this.coordinator.list(), (info, now) => this.#holderRow(info, now));
    const live = new Set(rows.flatMap((r) => r.holders.map((h) => h.token)));
    for (const token of this.#longestLease.keys()) if (!live.has(token)) this.#longestLease.delete(token);
    return rows;
  }

  async show(name: string): Promise<LockRow | undefined> {
    return groupByName(this.id, await this.coordinator.holders(name), (info, now) => this.#holderRow(info, now))[0];
  }

  async break(name: string, { expectToken, reason, by }: { expectToken: string; reason: string; by: string }): Promise<BreakOutcome> {
    if (this.auditLog === undefined) throw new BreakRefused(403, 'breaking engine locks needs --audit-log FILE');
    const holders = await this.coordinator.holders(name);
    if (holders.length === 0) throw new BreakRefused(409, `lock "${name}" is not held: nothing to break`);
    if (!holders.some((h) => h.token.toString() === expectToken)) {
      throw new BreakRefused(409, `lock "${name}" changed hands: its holder's token is now ${holders.map((h) => h.token).join(', ')}, not ${expectToken}; nothing was done`);
    }
    closeSync(openLog(this.auditLog)); // proven writable before anything is broken
    const displaced = await this.coordinator.break(name, { reason, by: `${operator().user}@${hostname()} via deadbolt serve (${by})` });
    const record = auditRecord(this.url, name, reason, by, displaced);
    appendEngineBreak(this.auditLog, record);
    return {
      broken: displaced.length > 0,
      displaced: displaced.map((info) => toHolderRow(info, 'gone')),
      detail: displaced.length === 0 ? 'released before the break: nobody displaced' : `displaced ${displaced.length} holder(s); the engine keeps the break record`,
      record,
    };
  }

  async history(): Promise<HistoryEntry[]> {
    if (this.auditLog === undefined) return [];
    return readEngineBreaks(this.auditLog, this.url).flatMap((r) =>
      r.displaced.map((d) => ({
        at: Date.parse(r.at),
        backend: this.id,
        name: r.lock.name,
        kind: 'break' as const,
        token: d.token,
        holder: `pid ${d.pid} on ${d.host}: ${d.command}`,
        by: `${r.by.user}@${r.by.host} (${r.by.client})`,
        reason: r.reason,
        detail: 'displaced; the engine keeps the break record',
      })),
    );
  }

  close(): Promise<void> {
    return this.coordinator.close();
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
  };
}

function operator(): { user: string; uid: number } {
  try {
    const { username, uid } = userInfo();
    return { user: username, uid };
  } catch {
    const uid = process.getuid?.() ?? -1;
    return { user: String(uid), uid };
  }
}

function auditRecord(backend: string, name: string, reason: string, client: string, displaced: LockInfo[]): EngineBreakRecord {
  return {
    version: 1,
    event: 'break',
    at: new Date().toISOString(),
    backend,
    lock: { name },
    by: { ...operator(), host: hostname(), pid: process.pid, via: 'deadbolt serve', client },
    reason,
    displaced: displaced.map(recordedHolder),
  };
}
