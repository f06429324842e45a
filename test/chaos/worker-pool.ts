/**
 * The run's workers, by slot. A slot keeps its partition proxy across
 * generations: the worker started after a kill (`w2.2` after `w2.1`) takes the
 * dead one's slot and proxy.
 *
 * @module
 */
import { join } from 'node:path';
import type { ChaosDriver, Engine } from './drivers.js';
import type { History } from './history.js';
import { InProcessWorker } from './in-process-worker.js';
import { ProcessWorker } from './process-worker.js';
import { PartitionProxy } from './proxy.js';
import type { WorkerConfig } from './worker.js';
import type { WorkerHandle } from './worker-handle.js';

/** What every worker of the run shares; the pool adds `id` and `url`. */
export type SharedConfig = Omit<WorkerConfig, 'id' | 'url'>;

/**
 * A run's workers.
 *
 * @example
 * ```ts
 * const pool = await WorkerPool.start({ driver, engine, history, dir, config, size: 4 });
 * const next = pool.replace(victim.slot);
 * ```
 */
export class WorkerPool {
  readonly #driver: ChaosDriver;
  readonly #engine: Engine;
  readonly #history: History;
  readonly #dir: string;
  readonly #config: SharedConfig;
  readonly #proxies: (PartitionProxy | undefined)[];
  readonly #generations: number[];
  readonly #all = new Map<string, WorkerHandle>();

  private constructor(options: PoolOptions, proxies: (PartitionProxy | undefined)[]) {
    this.#driver = options.driver;
    this.#engine = options.engine;
    this.#history = options.history;
    this.#dir = options.dir;
    this.#config = options.config;
    this.#proxies = proxies;
    this.#generations = proxies.map(() => 0);
  }

  /** Start `size` workers (and, for a TCP engine, one proxy per slot). */
  static async start(options: PoolOptions): Promise<WorkerPool> {
    const { engine, size } = options;
    const proxies = await Promise.all(
      Array.from({ length: size }, () => (engine.upstream === undefined ? undefined : PartitionProxy.start(engine.upstream))),
    );
    const pool = new WorkerPool(options, proxies);
    for (let slot = 0; slot < size; slot++) pool.#spawn(slot);
    return pool;
  }

  /** The worker with this id (any generation). */
  byId(id: string): WorkerHandle | undefined {
    return this.#all.get(id);
  }

  /** Whether the worker with this id is alive. */
  isAlive(id: string): boolean {
    return this.#all.get(id)?.alive === true;
  }

  /** Start a new generation in `slot` (after its worker was killed); returns it. */
  replace(slot: number): WorkerHandle {
    return this.#spawn(slot);
  }

  /** Ask every current worker to finish, each bounded by `timeoutMs`. */
  async stopAll(timeoutMs: number): Promise<void> {
    await Promise.all([...this.#all.values()].map((worker) => worker.stop(timeoutMs)));
  }

  /** Kill whatever is still running and close the proxies. */
  async close(): Promise<void> {
    await Promise.all([...this.#all.values()].filter((w) => w.alive).map((w) => w.kill()));
    await Promise.all([...this.#all.values()].map((w) => w.stop(1_000)));
    await Promise.all(this.#proxies.map((proxy) => proxy?.close()));
  }

  #spawn(slot: number): WorkerHandle {
    const id = `w${slot}.${++this.#generations[slot]!}`;
    const proxy = this.#proxies[slot];
    const url = proxy === undefined || this.#engine.urlThrough === undefined ? this.#engine.url : this.#engine.urlThrough(proxy.port);
    const config: WorkerConfig = { ...this.#config, id, url };
    const worker =
      this.#driver.hosting === 'in-process'
        ? InProcessWorker.start(config, slot, this.#history, this.#engine.space!)
        : ProcessWorker.spawn(config, slot, this.#history, proxy, join(this.#dir, `${id}.log`));
    this.#all.set(id, worker);
    return worker;
  }
}

/** What {@link WorkerPool.start} needs. */
export interface PoolOptions {
  driver: ChaosDriver;
  engine: Engine;
  history: History;
  /** Where worker logs go. */
  dir: string;
  config: SharedConfig;
  size: number;
}
