/**
 * A chaos worker inside the test process, for the memory driver, whose engine
 * exists only in this process (a worker in another process would see another
 * engine). Faults are simulated with the memory engine's own hooks:
 *
 * - pause: the worker is held at its next `checkpoint()` (every step of its loop
 *   has one; the nemesis aims right after a read, so the hold lands between the
 *   read and the write) and its session is cut off from the engine
 *   (`space.pause`): no keepalive arrives, no notification reaches it, as with
 *   SIGSTOP. Unlike SIGSTOP its timers keep running, so its session's local
 *   deadline fires during the pause instead of right after it; what it sees at
 *   its next write attempt is the same.
 * - kill: held forever, cut off forever, its resource connection dropped and its
 *   reports discarded: the engine learns of the death only when the lease expires.
 * - partition: cut off from the engine while it keeps running. Both heal modes
 *   deliver what was held (the memory engine has no connection to reset).
 *
 * @module
 */
import type { Coordinator } from '../../src/index.js';
import type { MemorySpace } from '../../src/drivers/memory/index.js';
import type { WorkerEvent } from './events.js';
import type { History } from './history.js';
import { monotonicMs, within } from './time.js';
import { ChaosWorker, type WorkerConfig } from './worker.js';
import type { WorkerHandle } from './worker-handle.js';

/** Where a paused worker waits. */
class Gate {
  #closed: { promise: Promise<void>; open: () => void } | undefined;

  /** Resolves at once while open. */
  pass(): Promise<void> {
    return this.#closed?.promise ?? Promise.resolve();
  }

  close(): void {
    if (this.#closed !== undefined) return;
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.#closed = { promise, open };
  }

  open(): void {
    this.#closed?.open();
    this.#closed = undefined;
  }
}

/**
 * A worker running in this process against `memory://`.
 *
 * @example
 * ```ts
 * const worker = InProcessWorker.start(config, 0, history, memorySpace('chaos-1'));
 * worker.partition();
 * ```
 */
export class InProcessWorker implements WorkerHandle {
  readonly id: string;
  readonly slot: number;
  readonly #space: MemorySpace;
  readonly #gate = new Gate();
  readonly #worker: ChaosWorker;
  readonly #done: Promise<void>;
  #coordinator: Coordinator | undefined;
  #dead = false;
  #finished = false;

  private constructor(config: WorkerConfig, slot: number, history: History, space: MemorySpace) {
    this.id = config.id;
    this.slot = slot;
    this.#space = space;
    this.#worker = new ChaosWorker(config, {
      emit: (event) => {
        if (!this.#dead) history.add({ ...event, worker: this.id } as WorkerEvent);
      },
      checkpoint: () => this.#gate.pass(),
      onCoordinator: (coordinator) => (this.#coordinator = coordinator),
    });
    this.#done = this.#worker.run().then(
      () => void (this.#finished = true),
      (err: unknown) => {
        this.#finished = true;
        history.add({ type: 'error', worker: this.id, t: monotonicMs(), message: String(err) });
      },
    );
  }

  /** Start a worker with `config` in `slot` on the memory engine `space`. */
  static start(config: WorkerConfig, slot: number, history: History, space: MemorySpace): InProcessWorker {
    return new InProcessWorker(config, slot, history, space);
  }

  get alive(): boolean {
    return !this.#dead && !this.#finished;
  }

  pause(): void {
    this.#gate.close();
    this.#cutOff(true);
  }

  resume(): void {
    this.#cutOff(false);
    this.#gate.open();
  }

  async kill(): Promise<void> {
    this.#dead = true;
    this.#gate.close();
    this.#cutOff(true);
  }

  partition(): void {
    this.#cutOff(true);
  }

  heal(): void {
    this.#cutOff(false);
  }

  async stop(timeoutMs: number): Promise<void> {
    if (this.#dead) {
      // Deliver what the dead session left pending (its revoke), and drop its socket, so nothing lingers.
      this.#cutOff(false);
      this.#worker.abandon();
      return;
    }
    this.resume();
    this.#worker.stop();
    await within(this.#done, timeoutMs, undefined);
  }

  #cutOff(cut: boolean): void {
    const id = this.#coordinator?.session.id;
    if (id === undefined) return;
    if (cut) this.#space.pause(id);
    else this.#space.resume(id);
  }
}
