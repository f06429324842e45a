/**
 * The monitor: one poll loop per backend, shared by every viewer. Each loop
 * lists its backend, waits `intervalMs`, and lists again (one list in flight
 * per backend at any time, however many pages are open); pages and the API
 * only ever read the monitor's latest snapshot, so the cost to an engine does
 * not grow with the number of viewers.
 *
 * Between two polls it also notices losses: an engine holder that vanished
 * once its lease had run out (its `expiresAt` passed) is recorded as
 * `expired`. A holder that vanished earlier released its lock (or was broken
 * by someone whose record the monitor cannot read). Lock directories have no
 * leases: their holders lose a lock only by being stopped, which `break`
 * records in the audit log, read at every poll.
 *
 * @module
 */
import { History } from './history.js';
import { sameRows, type LockRow } from './lock-row.js';
import type { LockSource } from './lock-source.js';

/** An expiry seen this close to the moment a holder vanished still counts as one (etcd reports whole seconds). */
const EXPIRY_SLACK_MS = 1000;

/**
 * How one backend is doing, for the page's header, the API and /metrics.
 *
 * @example
 * ```ts
 * const s: BackendStatus = { id: 'redis', kind: 'engine', url: 'redis://127.0.0.1:6379', up: true, error: null, lastPollAt: Date.now(), polls: 12, pollErrors: 0, pollMs: 3 };
 * ```
 */
export interface BackendStatus {
  id: string;
  kind: 'file' | 'engine';
  url: string;
  /** The last poll succeeded. */
  up: boolean;
  /** Why the last poll failed (escaped on the page like any text). */
  error: string | null;
  lastPollAt: number | null;
  polls: number;
  pollErrors: number;
  /** How long the last poll took. */
  pollMs: number | null;
}

/**
 * Shared polling of every backend, with a snapshot and a change signal.
 *
 * @example
 * ```ts
 * const monitor = new Monitor(sources, { intervalMs: 500 });
 * monitor.onChange(() => console.log(monitor.version, monitor.rows.length));
 * monitor.start();
 * ```
 */
export class Monitor {
  readonly history = new History();
  readonly #sources: LockSource[];
  readonly #intervalMs: number;
  readonly #rows = new Map<string, LockRow[]>();
  readonly #status = new Map<string, BackendStatus>();
  /** The backends listed at least once (their first list is a change even when empty). */
  readonly #listed = new Set<string>();
  readonly #listeners = new Set<() => void>();
  readonly #wakers = new Map<string, () => void>();
  readonly #stopping = new AbortController();
  readonly #loops: Promise<void>[] = [];
  #all: LockRow[] = [];
  #version = 0;

  constructor(sources: LockSource[], { intervalMs }: { intervalMs: number }) {
    this.#sources = sources;
    this.#intervalMs = intervalMs;
    for (const s of sources) {
      this.#rows.set(s.id, []);
      this.#status.set(s.id, { id: s.id, kind: s.kind, url: s.url, up: false, error: 'not polled yet', lastPollAt: null, polls: 0, pollErrors: 0, pollMs: null });
    }
  }

  /** Every held lock of every backend, by backend (in the order given) then name. */
  get rows(): readonly LockRow[] {
    return this.#all;
  }

  /** Grows each time the rows or the history change. */
  get version(): number {
    return this.#version + this.history.version;
  }

  /** Each backend's status (copies), in the order given. */
  get backends(): BackendStatus[] {
    return this.#sources.map((s) => ({ ...this.#status.get(s.id)! }));
  }

  /** The backend with id `id`. */
  source(id: string): LockSource | undefined {
    return this.#sources.find((s) => s.id === id);
  }

  /**
   * Call `listener` after every poll that changed something; returns a function that unsubscribes.
   *
   * @example
   * ```ts
   * const off = monitor.onChange(() => send(monitor.version));
   * ```
   */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Start every poll loop; resolves once each backend was polled once. */
  async start(): Promise<void> {
    const first = this.#sources.map((source) => new Promise<void>((resolve) => this.#loops.push(this.#loop(source, resolve))));
    await Promise.all(first);
  }

  /**
   * Poll `id` now instead of at the end of its interval (after a break, so the page shows it at once).
   *
   * @example
   * ```ts
   * monitor.pollSoon('file');
   * ```
   */
  pollSoon(id: string): void {
    this.#wakers.get(id)?.();
  }

  /**
   * Read `id`'s audit log now and count what is new (after a break through the page, so its history shows it at once).
   *
   * @example
   * ```ts
   * await monitor.recordHistory('redis');
   * ```
   */
  async recordHistory(id: string): Promise<void> {
    const source = this.source(id);
    if (source !== undefined) await this.#syncHistory(source, true);
  }

  /** Stop polling (the loops end after their current poll). */
  async stop(): Promise<void> {
    this.#stopping.abort();
    for (const wake of this.#wakers.values()) wake();
    await Promise.allSettled(this.#loops);
  }

  async #loop(source: LockSource, polled: () => void): Promise<void> {
    // What was on record before the server started is shown, not counted.
    await this.#syncHistory(source, false);
    while (!this.#stopping.signal.aborted) {
      await this.#poll(source);
      polled();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#intervalMs);
        this.#wakers.set(source.id, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async #poll(source: LockSource): Promise<void> {
    const status = this.#status.get(source.id)!;
    const started = performance.now();
    const wasUp = status.up;
    try {
      const rows = await source.list();
      rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      await this.#syncHistory(source, true);
      Object.assign(status, { up: true, error: null });
      const before = this.#rows.get(source.id)!;
      // Most polls see nothing new: with 10 000 locks, skipping the rest of this work is most of the poll's CPU.
      if (!this.#listed.has(source.id) || !sameRows(before, rows)) {
        this.#listed.add(source.id);
        this.#noticeLosses(source.id, before, rows);
        this.#setRows(source.id, rows);
      }
    } catch (err) {
      Object.assign(status, { up: false, error: (err as Error)?.message ?? String(err) });
      status.pollErrors++;
    }
    status.polls++;
    status.lastPollAt = Date.now();
    status.pollMs = Math.round((performance.now() - started) * 10) / 10;
    if (wasUp !== status.up) this.#changed();
  }

  async #syncHistory(source: LockSource, count: boolean): Promise<void> {
    const before = this.history.version;
    try {
      this.history.add(await source.history(), { count });
    } catch {
      // An unreadable audit log hides nothing from the table; the next poll tries again.
    }
    if (this.history.version !== before) this.#changed();
  }

  /** Record the engine holders that vanished after their lease ran out. */
  #noticeLosses(backend: string, before: LockRow[], after: LockRow[]): void {
    const now = Date.now();
    const still = new Set(after.flatMap((row) => row.holders.map((h) => `${row.name}\0${h.token}`)));
    const lost = before.flatMap((row) =>
      row.holders
        .filter((h) => !still.has(`${row.name}\0${h.token}`) && h.expiresAt !== null && h.expiresAt <= now + EXPIRY_SLACK_MS)
        .filter((h) => !this.history.has(backend, row.name, h.token, 'break'))
        .map((h) => ({
          at: h.expiresAt!,
          backend,
          name: row.name,
          kind: 'expired' as const,
          token: h.token,
          holder: `pid ${h.pid} on ${h.host}: ${h.command}`,
          detail: `its lease ran out (held ${Math.round((h.expiresAt! - h.since) / 1000)} s) and was not renewed`,
        })),
    );
    if (lost.length > 0) this.history.add(lost);
  }

  #setRows(id: string, rows: LockRow[]): void {
    this.#rows.set(id, rows);
    this.#all = this.#sources.flatMap((s) => this.#rows.get(s.id)!);
    this.#version++;
    this.#changed();
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}
