/**
 * The handle and member types every harness start function returns, and the one member
 * implementation behind them: start → wait ready (bounded, with the log tail on failure), pause,
 * resume, kill, restart on the same port and data directory, stop.
 *
 * @module
 */
import { HOST, waitPortClosed } from './ports.js';
import {
  signalTree,
  sleep,
  spawnServer,
  tailFile,
  waitPidsGone,
  withTimeout,
  removeTempDir,
  type ExitInfo,
  type Spawned,
} from './process.js';
import { EVENT_BOUND_MS } from './bounds.js';

/** The servers the harness knows how to start. */
export type ServerName = 'etcd' | 'redis' | 'postgres' | 'zookeeper';

/** Default bound on how long one member may take to become ready. */
export const DEFAULT_READY_TIMEOUT_MS = Number(process.env.DEADBOLT_HARNESS_READY_MS ?? 120_000);

/** One server process of a {@link ServerHandle} (a cluster member, a replica, a sentinel...). */
export interface Member {
  /** e.g. `etcd-2`, `redis-1`, `sentinel-3`. */
  readonly name: string;
  /** PID of the current (or, once it has exited, the last) process; changes on restart. */
  readonly pid: number;
  /** The client port on 127.0.0.1. */
  readonly port: number;
  /** `127.0.0.1:port`. */
  readonly endpoint: string;
  /** Every port the member listens on (client port first, then peer/election ports). */
  readonly ports: readonly number[];
  /** Server output (stdout and stderr), appended to across restarts. */
  readonly logFile: string;
  /** The member's data directory, kept across restarts. */
  readonly dataDir: string;
  /** Whether the process is running (a paused process is running). */
  readonly running: boolean;
  /** Whether {@link pause} was called and {@link resume} was not since. */
  readonly paused: boolean;
  /** SIGSTOP (for PostgreSQL: the postmaster and every backend). */
  pause(): void;
  /** SIGCONT (same processes as {@link pause}). */
  resume(): void;
  /**
   * Sends `signal` (default SIGKILL; PostgreSQL: to the postmaster and its backends) and resolves
   * once the process has exited and its ports are closed. A paused member is resumed after a
   * non-KILL signal so it can act on it. Rejects if it has not exited within 15 s. No-op if not
   * running.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Kills the member if it is running (SIGKILL: a crash, not a clean shutdown), then starts it
   * again with the same configuration, port and data directory, and resolves when it is ready
   * (serves requests: for cluster members, that needs a quorum).
   */
  restart(): Promise<void>;
  /** Resolves when the member answers its readiness request; rejects with its log tail after `timeoutMs`. */
  waitReady(timeoutMs?: number): Promise<void>;
}

/** A running server (single node or cluster) started by the harness. */
export interface ServerHandle {
  readonly name: ServerName;
  /** deadbolt connection URL, e.g. `etcd://127.0.0.1:p1,127.0.0.1:p2`. */
  readonly url: string;
  /** `host:port` of each member's client port: `endpoints[i]` belongs to `members[i]`. */
  readonly endpoints: string[];
  readonly members: Member[];
  /** The temporary directory holding every member's data, config and log. */
  readonly dir: string;
  /** Milliseconds the start function took, from the call to every member ready. */
  readonly startupMs: number;
  /**
   * Kills every member (SIGKILL for etcd; a graceful signal then SIGKILL after 5 s for the
   * others), waits until their processes are gone and ports closed, and removes {@link dir}.
   * Idempotent: later calls return the same promise.
   */
  stop(): Promise<void>;
  /** Same as {@link stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** How to run and probe one member. */
export interface MemberSpec {
  readonly name: string;
  /** Client port first, then any other port the member listens on. */
  readonly ports: readonly number[];
  readonly dataDir: string;
  readonly logFile: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly uid?: number;
  readonly gid?: number;
  /** Signal pause/kill/stop to the process's descendants too (PostgreSQL's backends). */
  readonly tree?: boolean;
  /** Signal for a graceful stop, or null to stop with SIGKILL straight away. */
  readonly stopSignal: NodeJS.Signals | null;
  /** One readiness request: resolves true when the member serves requests. May throw. */
  readonly probe: () => Promise<boolean>;
  readonly readyTimeoutMs?: number;
}

/** The harness's {@link Member} implementation. */
export class ManagedMember implements Member {
  readonly #spec: MemberSpec;
  #proc: Spawned | undefined;
  #paused = false;
  #lastProbeError: unknown;

  constructor(spec: MemberSpec) {
    this.#spec = spec;
  }

  get name(): string {
    return this.#spec.name;
  }
  get pid(): number {
    return this.#proc?.pid ?? 0;
  }
  get port(): number {
    return this.#spec.ports[0]!;
  }
  get endpoint(): string {
    return `${HOST}:${this.port}`;
  }
  get ports(): readonly number[] {
    return this.#spec.ports;
  }
  get logFile(): string {
    return this.#spec.logFile;
  }
  get dataDir(): string {
    return this.#spec.dataDir;
  }
  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitInfo() === undefined;
  }
  get paused(): boolean {
    return this.#paused && this.running;
  }

  /** Spawns the process without waiting for readiness. */
  async spawn(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    const s = this.#spec;
    this.#paused = false;
    this.#proc = await spawnServer({
      command: s.command,
      args: s.args,
      logFile: s.logFile,
      tree: s.tree ?? false,
      ...(s.cwd !== undefined && { cwd: s.cwd }),
      ...(s.env !== undefined && { env: s.env }),
      ...(s.uid !== undefined && { uid: s.uid }),
      ...(s.gid !== undefined && { gid: s.gid }),
    });
  }

  async waitReady(timeoutMs = this.#spec.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS): Promise<void> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    let interval = 5;
    for (;;) {
      const proc = this.#proc;
      const exit = proc?.exitInfo();
      if (proc === undefined || exit !== undefined) {
        throw new Error(`${this.name} exited before it was ready (${describeExit(exit)})\n${this.#tail()}`);
      }
      try {
        if (await this.#spec.probe()) return;
      } catch (error) {
        this.#lastProbeError = error;
      }
      if (Date.now() > deadline) {
        const last = this.#lastProbeError instanceof Error ? `; last probe error: ${this.#lastProbeError.message}` : '';
        throw new Error(`${this.name} (pid ${this.pid}) not ready within ${timeoutMs} ms${last}\n${this.#tail()}`);
      }
      await sleep(interval);
      interval = Math.min(interval * 2, 100);
    }
  }

  /** Spawns and waits until ready; kills the process again if it does not become ready. */
  async start(): Promise<void> {
    await this.spawn();
    try {
      await this.waitReady();
    } catch (error) {
      await this.kill('SIGKILL').catch(() => {});
      throw error;
    }
  }

  pause(): void {
    if (!this.running) throw new Error(`${this.name} is not running`);
    signalTree(this.pid, 'SIGSTOP', this.#spec.tree ?? false);
    this.#paused = true;
  }

  resume(): void {
    if (!this.running) return;
    signalTree(this.pid, 'SIGCONT', this.#spec.tree ?? false);
    this.#paused = false;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return this.#kill(signal, EVENT_BOUND_MS);
  }

  async #kill(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined || proc.exitInfo() !== undefined) return;
    const tree = this.#spec.tree ?? false;
    const pids = signalTree(proc.pid, signal, tree);
    if (this.#paused && signal !== 'SIGKILL') signalTree(proc.pid, 'SIGCONT', tree);
    await withTimeout(
      proc.exited,
      timeoutMs,
      () => `${this.name} (pid ${proc.pid}) did not exit within ${timeoutMs} ms of ${signal}\n${this.#tail()}`,
    );
    this.#paused = false;
    // The root is reaped; forked workers (PostgreSQL backends) are not our children.
    if (tree) {
      const left = pids.slice(1);
      await waitPidsGone(left, 5_000).catch(() => {
        for (const pid of left) signalTree(pid, 'SIGKILL', false);
        return waitPidsGone(left, EVENT_BOUND_MS);
      });
    }
    await Promise.all(this.#spec.ports.map((port) => waitPortClosed(port, EVENT_BOUND_MS)));
  }

  /** Graceful stop (the spec's stop signal, SIGKILL after `graceMs`), or SIGKILL right away. */
  async stop(graceMs = 5_000): Promise<void> {
    const signal = this.#spec.stopSignal;
    if (signal !== null) {
      try {
        await this.#kill(signal, graceMs);
        return;
      } catch {
        // fall through to SIGKILL
      }
    }
    await this.#kill('SIGKILL', EVENT_BOUND_MS);
  }

  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    await this.start();
  }

  #tail(): string {
    return `--- last lines of ${this.logFile} ---\n${tailFile(this.logFile)}`;
  }
}

function describeExit(exit: ExitInfo | undefined): string {
  if (exit === undefined) return 'never started';
  if (exit.error !== undefined) return exit.error.message;
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

/**
 * Spawns the members not running yet, then waits until every one is ready (concurrently); on any
 * failure kills every one of them and rethrows.
 */
export async function startMembers(members: readonly ManagedMember[]): Promise<void> {
  try {
    await Promise.all(members.filter((m) => !m.running).map((m) => m.spawn()));
    await Promise.all(members.map((m) => m.waitReady()));
  } catch (error) {
    await Promise.allSettled(members.map((m) => m.kill('SIGKILL')));
    throw error;
  }
}

/** Builds the {@link ServerHandle} fields shared by every server. */
export function makeHandle(fields: {
  name: ServerName;
  url: string;
  members: ManagedMember[];
  dir: string;
  started: number;
}): ServerHandle {
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      const results = await Promise.allSettled(fields.members.map((m) => m.stop()));
      await removeTempDir(fields.dir);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    })());
  return {
    name: fields.name,
    url: fields.url,
    endpoints: fields.members.map((m) => m.endpoint),
    members: fields.members,
    dir: fields.dir,
    startupMs: Date.now() - fields.started,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Runs `attempt` up to `attempts` times while it fails because a port picked for it was taken
 * in the meantime ("address already in use" in the error, which carries the server's log tail).
 * `attempt` must clean up after itself when it fails.
 */
export async function retryOnPortClash<T>(attempt: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= attempts || !/address already in use|EADDRINUSE/i.test(String((error as Error)?.message))) throw error;
    }
  }
}
