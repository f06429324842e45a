/**
 * A chaos worker in its own process (worker-process.ts), controlled with
 * signals, and partitioned through its slot's TCP proxy.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { WorkerEvent } from './events.js';
import type { History } from './history.js';
import type { PartitionProxy } from './proxy.js';
import type { HealMode } from './schedule.js';
import { within } from './time.js';
import type { WorkerConfig } from './worker.js';
import type { WorkerHandle } from './worker-handle.js';

const ENTRY = new URL('./worker-process.js', import.meta.url);

/** Every live worker process, so a crashing test process takes none with it into the next test. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
});

/**
 * A worker process.
 *
 * @example
 * ```ts
 * const worker = ProcessWorker.spawn(config, 0, history, proxy, join(dir, 'w0.1.log'));
 * worker.pause();
 * ```
 */
export class ProcessWorker implements WorkerHandle {
  readonly id: string;
  readonly slot: number;
  readonly #child: ChildProcess;
  readonly #proxy: PartitionProxy | undefined;
  readonly #exited: Promise<void>;
  #killed = false;

  private constructor(config: WorkerConfig, slot: number, history: History, proxy: PartitionProxy | undefined, logFile: string) {
    this.id = config.id;
    this.slot = slot;
    this.#proxy = proxy;
    const log = openSync(logFile, 'a');
    try {
      this.#child = fork(ENTRY, [JSON.stringify(config)], { stdio: ['ignore', log, log, 'ipc'] });
    } finally {
      closeSync(log);
    }
    live.add(this.#child);
    // A `stop` sent just as the worker exits fails on the closed channel; the exit is what matters.
    this.#child.on('error', () => {});
    this.#child.on('message', (message: WorkerEvent | { type: 'bye' }) => {
      if (message.type !== 'bye') history.add(message);
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', () => {
        live.delete(this.#child);
        resolve();
      });
    });
  }

  /** Fork a worker with `config` in `slot`, reporting to `history`; its output goes to `logFile`. */
  static spawn(config: WorkerConfig, slot: number, history: History, proxy: PartitionProxy | undefined, logFile: string): ProcessWorker {
    return new ProcessWorker(config, slot, history, proxy, logFile);
  }

  get alive(): boolean {
    return !this.#killed && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  pause(): void {
    this.#child.kill('SIGSTOP');
  }

  resume(): void {
    this.#child.kill('SIGCONT');
  }

  async kill(): Promise<void> {
    this.#killed = true;
    this.#child.kill('SIGKILL');
    await this.#exited;
  }

  partition(): void {
    this.#requireProxy().partition();
  }

  heal(mode: HealMode): void {
    this.#requireProxy().heal(mode);
  }

  async stop(timeoutMs: number): Promise<void> {
    if (!this.alive) return this.#exited;
    this.#child.kill('SIGCONT');
    this.#child.send({ type: 'stop' });
    const exited = await within(this.#exited.then(() => true), timeoutMs, false);
    if (!exited) await this.kill();
  }

  #requireProxy(): PartitionProxy {
    if (this.#proxy === undefined) throw new Error(`worker ${this.id} has no proxy: this driver's engine is not reached over TCP`);
    return this.#proxy;
  }
}
