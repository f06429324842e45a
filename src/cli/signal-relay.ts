/**
 * The signals `deadbolt run` forwards, and how it leaves by one: while the
 * lock is awaited, SIGINT, SIGTERM and SIGHUP stop the wait; while the command
 * runs they are passed to it; when a signal ended the command, deadbolt ends
 * the same way, so its parent sees what it would have seen from the command.
 *
 * @internal
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

/** Signals passed on to the command (and that stop a wait). */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Forwarded = (typeof FORWARDED)[number];

/**
 * Signals deadbolt re-raises on itself when they ended the command, so its
 * parent sees exactly what it would have seen from the command (a shell stops
 * a loop on Ctrl-C only if the child died of SIGINT). Signals that dump core
 * are reported as 128 + n instead of dumping Node's core.
 */
const RERAISED = new Set(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL', 'SIGPIPE', 'SIGALRM', 'SIGUSR1', 'SIGUSR2']);

/**
 * The reason a wait was aborted by a signal.
 *
 * @internal
 * @example
 * ```ts
 * if (err instanceof Interrupted) return await signals.exitBy(err.signal);
 * ```
 */
export class Interrupted extends Error {
  constructor(readonly signal: Forwarded) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * Owns deadbolt's handlers for the forwarded signals: while waiting they abort
 * the wait; while the command runs they are passed to it. Installing a handler
 * also keeps Node from dying on the signal before the lock is released.
 *
 * @internal
 * @example
 * ```ts
 * const signals = new SignalRelay();
 * signals.beforeExit = () => coordinator.close();
 * ```
 */
export class SignalRelay {
  /** Run (and awaited) before `exitBy` ends the process: e.g. close an engine's session. */
  beforeExit: (() => Promise<void>) | undefined;
  readonly #wait = new AbortController();
  #child: ChildProcess | undefined;
  readonly #handlers = new Map<Forwarded, () => void>();

  constructor() {
    for (const signal of FORWARDED) {
      const handler = () => {
        if (this.#child === undefined) this.#wait.abort(new Interrupted(signal));
        // A Ctrl-C on a terminal reaches the whole foreground process group, the
        // command included: passing it on again would be a second Ctrl-C, which
        // many programs take as "quit now, skip the clean shutdown".
        else if (!(signal === 'SIGINT' && process.stdin.isTTY)) this.#child.kill(signal);
      };
      this.#handlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  get waitSignal(): AbortSignal {
    return this.#wait.signal;
  }

  forwardTo(child: ChildProcess): void {
    this.#child = child;
  }

  /**
   * Leave the way a process killed by `signal` would. With our handler gone
   * the signal's default action ends the process; the kernel may deliver it to
   * another thread a moment after kill() returns, hence the grace before the
   * fallback exit (which core-dumping signals take at once).
   */
  async exitBy(signal: NodeJS.Signals, line?: { stop(): void }): Promise<never> {
    line?.stop();
    this.dispose();
    await this.beforeExit?.().catch(() => {});
    const code = 128 + (constants.signals[signal] ?? 0);
    if (RERAISED.has(signal)) {
      process.kill(process.pid, signal);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    process.exit(code);
  }

  dispose(): void {
    for (const [signal, handler] of this.#handlers) process.off(signal, handler);
    this.#handlers.clear();
  }
}
