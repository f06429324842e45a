/**
 * `deadbolt run NAME --backend etcd://… -- CMD`: hold a lock on an engine
 * while a command runs, like `etcdctl lock` / `consul lock`.
 *
 * Order of events: open a session (TTL `--ttl`), take the lock (at once with
 * `--no-wait`, exit 75 if busy; else waiting, up to `--timeout`, exit 124),
 * start the command with `DEADBOLT_TOKEN` and `DEADBOLT_LOCK_NAME`, wait for
 * it, release, close the session, leave the way the command left.
 *
 * Loss: unlike a kernel lock, an engine's lock can be taken away while the
 * command runs — its lease expired (deadbolt was paused, or cut off from the
 * engine, for longer than the TTL) or an operator broke it. Then the guard's
 * signal fires, the command gets SIGTERM, SIGKILL after `--grace`, and run
 * exits 76 (LOCK_LOST), whatever the command's own status: whatever it did
 * after the loss was not protected by the lock. Signals, the child's
 * environment and exit statuses are run.ts's (the same code).
 *
 * @module
 */
import { LockTimeoutError } from '../errors.js';
import type { Coordinator } from '../distributed/coordinator.js';
import type { DistributedGuard } from '../distributed/guard.js';
import { formatDuration } from './durations.js';
import { escapeText } from './escape.js';
import { engineLockName, openForCommand, type EngineOptions } from './engine-options.js';
import { CliError, ExitCode } from './exit-codes.js';
import type { Output } from './output.js';
import { runHolding, runOwner } from './run-holding.js';
import { Interrupted, SignalRelay } from './signal-relay.js';
import type { EngineTarget } from './target.js';

/** Default time between SIGTERM and SIGKILL when the lock is lost. */
export const DEFAULT_GRACE_MS = 10_000;

/**
 * Options of `run` on an engine.
 *
 * @example
 * ```ts
 * const options: EngineRunOptions = { wait: true, timeout: 30_000, ttl: 10_000, grace: 5_000 };
 * ```
 */
export interface EngineRunOptions extends EngineOptions {
  shared?: boolean;
  /** `--no-wait` sets this to false. */
  wait: boolean;
  /** ms; undefined: wait as long as it takes. */
  timeout?: number;
  /** `--record-args`: put deadbolt's whole command line, the command's arguments included, in the holder record. */
  recordArgs?: boolean;
  /** ms between SIGTERM and SIGKILL when the lock is lost. */
  grace?: number;
}

/**
 * Run `command` holding `name` on the target's engine; resolves with the exit code.
 *
 * @example
 * ```ts
 * await runOnEngine(target, 'nightly', ['./report.sh'], { wait: true }, io);
 * ```
 */
export async function runOnEngine(target: EngineTarget, name: string, command: string[], options: EngineRunOptions, io: Output): Promise<number> {
  engineLockName(name);
  const signals = new SignalRelay();
  try {
    const coordinator = await openForCommand(target, options, io, runOwner(name, command[0]!, options.recordArgs === true));
    signals.beforeExit = () => coordinator.close();
    try {
      const guard = await take(coordinator, name, options, signals, io);
      return await runHolding(guard, command, signals, io, { grace: options.grace ?? DEFAULT_GRACE_MS });
    } finally {
      await coordinator.close();
    }
  } finally {
    signals.dispose();
  }
}

async function take(coordinator: Coordinator, name: string, options: EngineRunOptions, signals: SignalRelay, io: Output): Promise<DistributedGuard> {
  const mode = options.shared ? 'shared' : 'exclusive';
  try {
    const now = await coordinator.tryAcquire(name, { mode });
    if (now !== undefined) return now;
    if (!options.wait) throw new CliError(ExitCode.BUSY, `lock "${name}" is ${await heldBy(coordinator, name)}; not waiting (--no-wait)`);
    if (io.stderrIsTTY) io.err(escapeText(`waiting for lock "${name}": it is ${await heldBy(coordinator, name)}`));
    return await coordinator.acquire(name, { mode, signal: signals.waitSignal, ...(options.timeout !== undefined && { timeout: options.timeout }) });
  } catch (err) {
    if (err instanceof Interrupted) return await signals.exitBy(err.signal);
    if (signals.waitSignal.reason instanceof Interrupted) return await signals.exitBy(signals.waitSignal.reason.signal);
    if (err instanceof LockTimeoutError) {
      throw new CliError(ExitCode.TIMEOUT, `timed out after ${formatDuration(err.timeout)} waiting for lock "${name}": it is ${await heldBy(coordinator, name)}`);
    }
    throw err;
  }
}

/** Who holds `name`, for messages (display only). */
async function heldBy(coordinator: Coordinator, name: string): Promise<string> {
  const holders = await coordinator.holders(name).catch(() => undefined);
  if (holders === undefined) return 'busy';
  if (holders.length === 0) return 'busy (its holder just left)';
  const [h] = holders;
  const more = holders.length > 1 ? ` and ${holders.length - 1} more` : '';
  return `held ${h!.mode} by ${h!.owner.host} pid ${h!.owner.pid} (token ${h!.token})${more}`;
}
