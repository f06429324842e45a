/**
 * Helpers of the conformance suite: per-test coordinators that are always
 * closed, unique namespaces, and bounded waits for events.
 */
import type { TestContext } from 'node:test';
import diagnosticsChannel from 'node:diagnostics_channel';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import type { ConnectOptions } from '../../src/distributed/driver.js';
import { CONNECT_TIMEOUT_MS } from '../harness/bounds.js';

export { EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

/** What a driver's test file gives the suite. */
export interface ConformanceOptions {
  /** The URL every coordinator of one test connects to (called once per test). */
  connectUrl(): Promise<string> | string;
  /** Session TTL for the suite's coordinators, in ms (at least the driver's minTtlMs). */
  ttl: number;
  /** Extra connect options (driverOptions, connectTimeout…; connectTimeout defaults to CONNECT_TIMEOUT_MS). */
  connectOptions?: Omit<ConnectOptions, 'ttl' | 'namespace' | 'identity'>;
  /**
   * Cut a coordinator off from the engine, as a partition or a SIGSTOP would:
   * its keepalives stop arriving and it stops hearing from the engine.
   * Without it, the session-loss tests are skipped.
   */
  pause?(coordinator: Coordinator): void | Promise<void>;
  /** Undo `pause`. */
  resume?(coordinator: Coordinator): void | Promise<void>;
  /**
   * How soon after a release a waiter is typically granted, in ms (default 50):
   * reported as a diagnostic when exceeded, never asserted (a loaded machine
   * would break it). The assertion is that the grant comes well before any
   * fallback could have woken the waiter (half the session TTL).
   */
  handoffMs?: number;
  /**
   * How long a claim takes to reach the engine, in ms (default 25): the suite
   * waits this long where the order in which claims arrive matters, since no
   * event says "your claim is queued".
   */
  claimSettleMs?: number;
  /**
   * Whether the next holder learns how its predecessor let go (default true). A
   * lock directory deletes a released lock file, so nothing of the predecessor remains.
   */
  reportsPredecessor?: boolean;
  /** Whether a holder hears that its lock was broken by another process (default true). */
  observesBreak?: boolean;
  /** Bound on each test, in ms (default max(HANG_GUARD_MS, 8 × ttl)). */
  testTimeout?: number;
}

let namespaces = 0;

/** The coordinators of one test: every one is resumed and closed when the test ends. */
export class TestEnv {
  readonly namespace = `conformance-${process.pid}-${++namespaces}`;
  readonly #opened: Coordinator[] = [];
  readonly #paused = new Set<Coordinator>();

  constructor(
    readonly url: string,
    readonly options: ConformanceOptions,
  ) {}

  static async open(t: TestContext, options: ConformanceOptions): Promise<TestEnv> {
    const env = new TestEnv(await options.connectUrl(), options);
    t.after(() => env.closeAll());
    return env;
  }

  /** A new coordinator on this test's namespace. */
  connect(identity?: ConnectOptions['identity']): Promise<Coordinator> {
    return this.connectIn(this.namespace, identity);
  }

  /** A new coordinator on `namespace` (tests of namespaces themselves). */
  async connectIn(namespace: string, identity?: ConnectOptions['identity']): Promise<Coordinator> {
    const coordinator = await connect(this.url, {
      connectTimeout: CONNECT_TIMEOUT_MS, // a starved process may miss the default 5 s; no test here is about it
      ...this.options.connectOptions,
      ttl: this.options.ttl,
      namespace,
      ...(identity === undefined ? {} : { identity }),
    });
    this.#opened.push(coordinator);
    return coordinator;
  }

  async pause(coordinator: Coordinator): Promise<void> {
    await this.options.pause!(coordinator);
    this.#paused.add(coordinator);
  }

  async resume(coordinator: Coordinator): Promise<void> {
    if (!this.#paused.delete(coordinator)) return;
    await this.options.resume?.(coordinator);
  }

  async closeAll(): Promise<void> {
    for (const coordinator of [...this.#paused]) await this.resume(coordinator);
    await Promise.allSettled(this.#opened.map((c) => c.close()));
  }
}

/** Resolve when `signal` aborts (at once if it has); reject after `ms` saying what was awaited. */
export function whenAborted(signal: AbortSignal, ms: number, what: string): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return bounded(
    new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true })),
    ms,
    what,
  );
}

/** `promise`, or a rejection naming `what` if it takes longer than `ms`. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** A promise's state without waiting for it, after letting pending callbacks run. */
export async function peek(promise: Promise<unknown>): Promise<'pending' | 'fulfilled' | 'rejected'> {
  let state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  promise.then(
    () => (state = 'fulfilled'),
    () => (state = 'rejected'),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return state;
}

/** Wait `ms` (only where no event exists to wait for: a claim travelling to the engine). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Record the messages of a diagnostics channel until the test ends. */
export function record(t: TestContext, channel: string): object[] {
  const seen: object[] = [];
  const listener = (message: unknown): void => void seen.push(message as object);
  diagnosticsChannel.subscribe(channel, listener);
  t.after(() => diagnosticsChannel.unsubscribe(channel, listener));
  return seen;
}
