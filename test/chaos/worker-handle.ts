/**
 * What the nemesis can do to a worker, whoever hosts it: a child process
 * (process-worker.ts: signals and a TCP proxy) or the test process itself
 * (in-process-worker.ts: a gate and the memory engine's pause hook).
 *
 * @module
 */
import type { HealMode } from './schedule.js';

/**
 * A worker under the nemesis's control.
 *
 * @example
 * ```ts
 * handle.pause();           // SIGSTOP
 * await sleep(3_000);
 * handle.resume();          // SIGCONT
 * ```
 */
export interface WorkerHandle {
  /** `w<slot>.<generation>`. */
  readonly id: string;
  /** The slot it occupies; a replacement after a kill takes the same slot. */
  readonly slot: number;
  /** Whether it has not been killed and has not exited. */
  readonly alive: boolean;
  /** Freeze it (SIGSTOP): no code runs, no keepalive is sent. */
  pause(): void;
  /** Unfreeze it (SIGCONT). */
  resume(): void;
  /** Kill it (SIGKILL): it never releases anything; resolves once it is gone. */
  kill(): Promise<void>;
  /** Cut it off from the engine (only the engine: the resource stays reachable). */
  partition(): void;
  /** Restore its link to the engine. */
  heal(mode: HealMode): void;
  /** Ask it to finish its hold, release and exit; kill it if it has not within `timeoutMs`. */
  stop(timeoutMs: number): Promise<void>;
}
