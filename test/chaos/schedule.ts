/**
 * The nemesis's plan: which fault comes next, on which lock, for how long, and
 * how long to wait before the one after. Everything here follows from the seed,
 * so `--seed N` replays the same sequence of faults (the machine's timing, and
 * so the exact interleaving of workers, still varies from run to run).
 *
 * Coverage first: the first faults are every kind the driver supports, once
 * each, in a seeded order; after that each kind is drawn uniformly.
 *
 * @module
 */
import { Prng } from './prng.js';

/**
 * The faults the nemesis knows.
 * - `pause-holder`: SIGSTOP a lock holder (between its read and its write), SIGCONT after the duration.
 * - `kill-holder`: SIGKILL a lock holder, start a new worker in its place.
 * - `partition`: black-hole one holder's TCP connections to the engine, then heal.
 * - `engine-pause`: SIGSTOP the engine, SIGCONT after the duration.
 * - `engine-restart`: SIGKILL the engine and start it again on the same data.
 * - `break`: the operator breaks a held lock with `coordinator.break(name, { reason })`.
 */
export type FaultKind = 'pause-holder' | 'kill-holder' | 'partition' | 'engine-pause' | 'engine-restart' | 'break';

/** Every fault kind, in a fixed order (the report's columns). */
export const FAULT_KINDS: readonly FaultKind[] = ['pause-holder', 'kill-holder', 'partition', 'engine-pause', 'engine-restart', 'break'];

/** How a partition ends. `flush`: what was held back is delivered (TCP retransmits); `reset`: every connection is reset. */
export type HealMode = 'flush' | 'reset';

/** One planned fault. */
export interface FaultPlan {
  /** 1, 2, 3… in the order the schedule produced them. */
  readonly seq: number;
  readonly kind: FaultKind;
  /** Index into the run's lock names: the lock whose holder is the target. */
  readonly lock: number;
  /** How long the fault lasts before it is healed, in ms (0 for instantaneous faults). */
  readonly durationMs: number;
  /** Quiet time after the fault is healed, before the next one, in ms. */
  readonly gapMs: number;
  /** For `partition`: how it heals. */
  readonly heal: HealMode;
}

/** Ranges, in ms, the schedule draws from: `[min, max)`. */
export interface ScheduleTiming {
  /** Duration of each fault kind; kinds absent here last 0 ms. */
  durationMs: Partial<Record<FaultKind, readonly [number, number]>>;
  gapMs: readonly [number, number];
}

/**
 * A seeded, endless sequence of faults.
 *
 * @example
 * ```ts
 * const schedule = new Schedule(7, ['pause-holder', 'kill-holder'], 2, { durationMs: { 'pause-holder': [2_800, 4_000] }, gapMs: [500, 1_000] });
 * schedule.next(); // { seq: 1, kind: 'kill-holder', lock: 1, durationMs: 0, gapMs: 731, heal: 'flush' } (for example)
 * ```
 */
export class Schedule {
  readonly #rng: Prng;
  readonly #kinds: readonly FaultKind[];
  readonly #locks: number;
  readonly #timing: ScheduleTiming;
  readonly #coverage: FaultKind[];
  #seq = 0;

  constructor(seed: number, kinds: readonly FaultKind[], locks: number, timing: ScheduleTiming) {
    if (kinds.length === 0) throw new RangeError('a schedule needs at least one fault kind');
    this.#rng = new Prng(seed).fork('schedule');
    this.#kinds = kinds;
    this.#locks = locks;
    this.#timing = timing;
    this.#coverage = this.#rng.shuffle(kinds);
  }

  /** Whether every kind has been drawn at least once. */
  get covered(): boolean {
    return this.#coverage.length === 0;
  }

  /** The next fault. */
  next(): FaultPlan {
    const kind = this.#coverage.shift() ?? this.#rng.pick(this.#kinds);
    const range = this.#timing.durationMs[kind];
    return {
      seq: ++this.#seq,
      kind,
      lock: this.#rng.int(0, this.#locks - 1),
      durationMs: range === undefined ? 0 : Math.round(this.#rng.float(range[0], range[1])),
      gapMs: Math.round(this.#rng.float(this.#timing.gapMs[0], this.#timing.gapMs[1])),
      heal: this.#rng.next() < 0.5 ? 'flush' : 'reset',
    };
  }
}
