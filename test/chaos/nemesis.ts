/**
 * The nemesis: applies one planned fault at a time, waits for it to play out,
 * heals it, and records what it did. Faults never overlap, so each effect in
 * the history can be traced to one cause and the liveness bound after a kill
 * is not muddied by a second fault.
 *
 * Aiming: a fault on a holder waits for a `read` event on its lock (a worker
 * that just read, holding the lock, about to think and then write) and strikes
 * that worker at once. A SIGSTOP then lands between its read and its write:
 * the worst place, where only the fence can save the resource.
 *
 * @module
 */
import type { Coordinator } from '../../src/index.js';
import type { Engine } from './drivers.js';
import type { EventOf, FaultRecord } from './events.js';
import type { History } from './history.js';
import type { FaultPlan } from './schedule.js';
import { monotonicMs, sleep } from './time.js';
import type { WorkerHandle } from './worker-handle.js';
import type { WorkerPool } from './worker-pool.js';

/** What the nemesis acts on. */
export interface NemesisTargets {
  history: History;
  pool: WorkerPool;
  engine: Engine;
  locks: readonly string[];
  /** The engine's lock name of a contended name (an election's is `@election/<name>`), for `break`. */
  breakName(lock: string): string;
  /** The operator's coordinator (connected straight to the engine), for `break`. */
  operator(): Promise<Coordinator>;
  /** How long to wait for a holder of the target lock to show up, ms. */
  aimTimeoutMs: number;
  /** How long to wait, after a kill, for the lock to be granted again before moving on, ms. */
  recoveryWaitMs: number;
}

/**
 * Applies faults.
 *
 * @example
 * ```ts
 * const nemesis = new Nemesis(targets);
 * history.addFault(await nemesis.inject(schedule.next()));
 * ```
 */
export class Nemesis {
  readonly #targets: NemesisTargets;

  constructor(targets: NemesisTargets) {
    this.#targets = targets;
  }

  /** Apply `plan`, heal it, and return the record of what happened. */
  async inject(plan: FaultPlan): Promise<FaultRecord> {
    const lock = this.#targets.locks[plan.lock]!;
    const record: FaultRecord = { seq: plan.seq, kind: plan.kind, lock, plannedMs: plan.durationMs, startedAt: monotonicMs(), healedAt: 0 };
    try {
      await this.#apply(plan, record);
    } catch (err) {
      record.skipped = `failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    record.healedAt = Math.max(record.healedAt, record.startedAt);
    return record;
  }

  async #apply(plan: FaultPlan, record: FaultRecord): Promise<void> {
    switch (plan.kind) {
      case 'pause-holder':
        await this.#onHolder(record, plan.durationMs, (worker) => worker.pause(), (worker) => worker.resume());
        return;
      case 'partition':
        record.heal = plan.heal;
        await this.#onHolder(record, plan.durationMs, (worker) => worker.partition(), (worker) => worker.heal(plan.heal));
        return;
      case 'kill-holder':
        return this.#kill(record);
      case 'break':
        return this.#break(record);
      case 'engine-pause': {
        const member = this.#member();
        record.startedAt = monotonicMs();
        member.pause();
        await sleep(plan.durationMs);
        record.healedAt = monotonicMs();
        member.resume();
        return;
      }
      case 'engine-restart': {
        record.startedAt = monotonicMs();
        await this.#member().restart();
        record.healedAt = monotonicMs();
        return;
      }
    }
  }

  /**
   * Wait for a holder of `record.lock` to read, `strike` it, and `heal` it
   * after `durationMs`. Times are taken just before each action, so every
   * event the victim reports after the heal is stamped after `healedAt`.
   */
  async #onHolder(record: FaultRecord, durationMs: number, strike: (worker: WorkerHandle) => unknown, heal?: (worker: WorkerHandle) => void): Promise<EventOf<'read'> | undefined> {
    const read = await this.#aim(record);
    if (read === undefined) return undefined;
    const worker = this.#targets.pool.byId(read.worker)!;
    record.worker = read.worker;
    record.startedAt = monotonicMs();
    await strike(worker);
    if (heal === undefined) return read;
    await sleep(durationMs);
    record.healedAt = monotonicMs();
    heal(worker);
    return read;
  }

  async #kill(record: FaultRecord): Promise<void> {
    const { pool, history, recoveryWaitMs } = this.#targets;
    const read = await this.#onHolder(record, 0, async (worker) => {
      const killed = worker.kill();
      record.replacement = pool.replace(worker.slot).id;
      await killed;
    });
    if (read === undefined) return;
    // Let the lock pass on (or the bound run out) before the next fault, so faults stay apart.
    const token = BigInt(read.token);
    await history.waitFor((e) => e.type === 'acquired' && e.name === record.lock && BigInt(e.token) > token, recoveryWaitMs);
  }

  async #break(record: FaultRecord): Promise<void> {
    const read = await this.#aim(record);
    if (read === undefined) return;
    record.worker = read.worker;
    const operator = await this.#targets.operator();
    record.startedAt = monotonicMs();
    const displaced = await operator.break(this.#targets.breakName(record.lock), { reason: `chaos fault #${record.seq}`, by: 'chaos-nemesis' });
    record.healedAt = monotonicMs();
    record.displaced = displaced.map((info) => info.token.toString());
  }

  /** The next read on the record's lock by a live worker; without one in time, a skip note on the record. */
  async #aim(record: FaultRecord): Promise<EventOf<'read'> | undefined> {
    const { history, pool, aimTimeoutMs } = this.#targets;
    const read = await history.waitFor((e) => e.type === 'read' && e.ok && e.name === record.lock && pool.isAlive(e.worker), aimTimeoutMs);
    if (read === undefined) record.skipped = `no holder of "${record.lock}" read within ${aimTimeoutMs} ms`;
    return read as EventOf<'read'> | undefined;
  }

  #member(): NonNullable<Engine['member']> {
    const member = this.#targets.engine.member;
    if (member === undefined) throw new Error('this engine has no process to pause or restart');
    return member;
  }
}
