/**
 * The recorded history of a run: every worker event and every fault, in the
 * order they reached the test process, mirrored to JSON-lines files in the run
 * directory (so a failing seed leaves its evidence). The nemesis also waits
 * here for the next event of interest ("a holder of lock a has just read").
 *
 * @module
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { FaultRecord, WorkerEvent } from './events.js';

interface Waiter {
  match: (event: WorkerEvent) => boolean;
  resolve: (event: WorkerEvent | undefined) => void;
}

/**
 * A run's history.
 *
 * @example
 * ```ts
 * const history = new History(join(dir, 'events.jsonl'));
 * const read = await history.waitFor((e) => e.type === 'read' && e.name === 'a', 2_000);
 * ```
 */
export class History {
  readonly events: WorkerEvent[] = [];
  readonly faults: FaultRecord[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #log: WriteStream | undefined;

  /** Mirror events to `logFile` (JSON lines) when given. */
  constructor(logFile?: string) {
    this.#log = logFile === undefined ? undefined : createWriteStream(logFile, { flags: 'a' });
  }

  /** Record a worker event and wake whoever waits for one like it. */
  add(event: WorkerEvent): void {
    this.events.push(event);
    this.#log?.write(`${JSON.stringify(event)}\n`);
    for (const waiter of this.#waiters) {
      if (waiter.match(event)) {
        this.#waiters.delete(waiter);
        waiter.resolve(event);
      }
    }
  }

  /** Record a fault (once it has played out). */
  addFault(record: FaultRecord): void {
    this.faults.push(record);
    this.#log?.write(`${JSON.stringify({ fault: record })}\n`);
  }

  /** The next event (from now on) that `match`es, or `undefined` after `timeoutMs`. */
  waitFor(match: (event: WorkerEvent) => boolean, timeoutMs: number): Promise<WorkerEvent | undefined> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        match,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve(undefined);
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Flush and close the mirror file. */
  close(): Promise<void> {
    const log = this.#log;
    if (log === undefined) return Promise.resolve();
    return new Promise((resolve) => log.end(() => resolve()));
  }
}
