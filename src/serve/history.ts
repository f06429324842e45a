/**
 * The history of breaks and losses the page shows: the backends' audit logs
 * (read at every poll) merged with the losses the monitor sees between polls,
 * newest last, bounded. Counters for /metrics count what was first seen after
 * the server started (a Prometheus counter restarts at 0 with the process).
 *
 * @module
 */
import type { HistoryEntry } from './lock-row.js';

/** How many entries are kept in memory. */
const LIMIT = 1000;

/**
 * Breaks and losses, deduplicated.
 *
 * @example
 * ```ts
 * const history = new History();
 * history.add({ at: Date.now(), backend: 'redis', name: 'jobs', kind: 'expired', token: '7', holder: 'pid 1 on web-1' });
 * history.entries(); // newest last
 * ```
 */
export class History {
  readonly #entries: HistoryEntry[] = [];
  readonly #keys = new Set<string>();
  /** Per backend and kind, entries first seen after start (the initial audit logs are not counted). */
  readonly #counts = new Map<string, number>();
  #version = 0;

  /** Grows each time an entry is added. */
  get version(): number {
    return this.#version;
  }

  /**
   * Add entries not seen before; `count: false` for what was on record before the server started.
   *
   * @example
   * ```ts
   * history.add(...(await source.history()));
   * ```
   */
  add(entries: HistoryEntry[], { count = true } = {}): void {
    let added = false;
    for (const entry of entries) {
      const key = `${entry.backend}\0${entry.name}\0${entry.token}\0${entry.kind}`;
      if (this.#keys.has(key)) continue;
      this.#keys.add(key);
      this.#entries.push(entry);
      added = true;
      if (count) this.#counts.set(`${entry.backend}\0${entry.kind}`, (this.#counts.get(`${entry.backend}\0${entry.kind}`) ?? 0) + 1);
    }
    if (!added) return;
    this.#entries.sort((a, b) => a.at - b.at);
    for (const old of this.#entries.splice(0, Math.max(0, this.#entries.length - LIMIT))) {
      this.#keys.delete(`${old.backend}\0${old.name}\0${old.token}\0${old.kind}`);
    }
    this.#version++;
  }

  /**
   * Whether an entry for this holder (token) of lock `name` is on record: a holder that vanished because it was broken is not also a loss.
   *
   * @example
   * ```ts
   * history.has('redis', 'jobs', '7', 'break');
   * ```
   */
  has(backend: string, name: string, token: string, kind: HistoryEntry['kind']): boolean {
    return this.#keys.has(`${backend}\0${name}\0${token}\0${kind}`);
  }

  /**
   * The entries, oldest first, optionally of one backend and lock.
   *
   * @example
   * ```ts
   * history.entries({ backend: 'file', name: 'nightly' });
   * ```
   */
  entries(filter: { backend?: string; name?: string } = {}): HistoryEntry[] {
    return this.#entries.filter((e) => (filter.backend === undefined || e.backend === filter.backend) && (filter.name === undefined || e.name === filter.name));
  }

  /**
   * How many entries of `kind` on `backend` were seen since the server started.
   *
   * @example
   * ```ts
   * history.count('redis', 'break');
   * ```
   */
  count(backend: string, kind: HistoryEntry['kind']): number {
    return this.#counts.get(`${backend}\0${kind}`) ?? 0;
  }
}
