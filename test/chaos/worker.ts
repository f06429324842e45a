/**
 * A chaos worker: contends for a few named locks through the public API
 * (`connect(url)`) and, holding one, does read-modify-write cycles on the
 * resource server, reporting every step with monotonic timestamps.
 *
 * One hold:
 *   acquire(name) → [check signal → fenced read → think → write attempt] × 1..3 → release
 * - The cycle-start check is what a careful application does: a holder that
 *   knows its lock is gone stops there (`check` event).
 * - The write attempt records `guard.signal.aborted` as of that moment, then
 *   sends the write *regardless*. A real pause (GC, SIGSTOP, a slow disk) can
 *   always fall between an application's check and its write; sending anyway
 *   makes every pause exercise the fence, not only the rare ones that land in
 *   that gap. Whether the resource admitted it is the fence's verdict.
 * - The "think" step between read and write is where the nemesis aims its
 *   SIGSTOP: it waits for a `read` event, then stops that worker.
 *
 * A lost session (pause, partition, engine trouble) ends the coordinator: the
 * worker closes it (bounded: the engine may be unreachable) and connects anew,
 * as an application would.
 *
 * The same class runs in a child process (worker-process.ts) and, for the
 * memory driver whose engine lives in one process, inside the test process
 * (in-process-worker.ts), which pauses it at its `checkpoint()`s.
 *
 * @module
 */
import { connect, type Coordinator, type Leadership, type LockLostError, type PredecessorReport } from '../../src/index.js';
import type { WorkerEvent } from './events.js';
import { Prng } from './prng.js';
import { ResourceClient } from './resource-client.js';
import { monotonicMs, sleep, within } from './time.js';

/** Everything a worker needs to know; JSON-serialisable (it is a process argument). */
export interface WorkerConfig {
  /** `w<slot>.<generation>`. */
  id: string;
  url: string;
  ttl: number;
  namespace: string;
  locks: string[];
  resourcePort: number;
  /** The run's seed: the worker's own choices come from a stream forked off it by id. */
  seed: number;
  /** Think time between read and write, ms. */
  thinkMs: [number, number];
  /** Read-modify-write cycles per hold. */
  cycles: [number, number];
  /** Rest between holds, ms. */
  restMs: [number, number];
  /** Bound on one acquire; on timeout the worker simply tries again. */
  acquireTimeoutMs: number;
  /** `'lock'`: acquire the names; `'election'`: campaign for them, the term as the fencing token. */
  workload: Workload;
}

/** What the workers contend through. */
export type Workload = 'lock' | 'election';

/** What a worker holds: a lock guard, or a leadership seen as one (its term is the token). */
interface Held {
  readonly name: string;
  readonly token: bigint;
  readonly signal: AbortSignal;
  readonly predecessor?: PredecessorReport | undefined;
  release(): Promise<void>;
}

/** A leadership as a worker holds it: the term fences, resigning releases. */
function heldLeadership(leadership: Leadership): Held {
  return {
    name: leadership.name,
    token: leadership.term,
    get signal() {
      return leadership.signal;
    },
    release: () => leadership.resign(),
  };
}

/** A worker event before the worker stamps its id on it. */
export type Unsigned = WorkerEvent extends infer E ? (E extends WorkerEvent ? Omit<E, 'worker'> : never) : never;

/** How a worker talks to whoever hosts it. */
export interface WorkerIO {
  /** Report an event. */
  emit(event: Unsigned): void;
  /** Resolves at once, unless the host is holding the worker here (an in-process pause). */
  checkpoint(): Promise<void>;
  /** Told each time a new coordinator is open (the in-process host needs its session id). */
  onCoordinator?(coordinator: Coordinator): void;
}

const RECONNECT_DELAY_MS = 100;

/**
 * One worker's loop.
 *
 * @example
 * ```ts
 * const worker = new ChaosWorker(config, { emit: (e) => process.send!(e), checkpoint: async () => {} });
 * process.once('message', () => worker.stop());
 * await worker.run();
 * ```
 */
export class ChaosWorker {
  readonly #config: WorkerConfig;
  readonly #io: WorkerIO;
  readonly #rng: Prng;
  readonly #stopping = new AbortController();
  #coordinator: Coordinator | undefined;
  #resource: ResourceClient | undefined;

  constructor(config: WorkerConfig, io: WorkerIO) {
    this.#config = config;
    this.#io = io;
    this.#rng = new Prng(config.seed).fork(`worker:${config.id}`);
  }

  /** Ask the worker to finish: the current hold completes and is released, then `run()` resolves. */
  stop(): void {
    this.#stopping.abort(new Error('worker asked to stop'));
  }

  /**
   * For a host that declared this worker dead while its loop is parked at a
   * closed `checkpoint()`: drop the resource connection, release nothing.
   */
  abandon(): void {
    this.#resource?.close();
  }

  /** Contend and work until stopped. */
  async run(): Promise<void> {
    this.#resource = await ResourceClient.connect(this.#config.resourcePort, this.#config.id);
    try {
      while (!this.#stopping.signal.aborted) {
        const coordinator = await this.#connected();
        if (coordinator === undefined) break;
        const guard = await this.#acquire(coordinator);
        if (guard !== undefined) await this.#hold(guard, this.#resource);
        await sleep(this.#rng.float(...this.#config.restMs));
      }
    } finally {
      await this.#closeCoordinator();
      this.#resource.close();
      this.#emit({ type: 'stopped', t: monotonicMs() });
    }
  }

  #emit(event: Unsigned): void {
    this.#io.emit(event);
  }

  /** The open coordinator, reconnecting after a lost session; `undefined` once stopping. */
  async #connected(): Promise<Coordinator | undefined> {
    if (this.#coordinator !== undefined && !this.#coordinator.signal.aborted) return this.#coordinator;
    if (this.#coordinator !== undefined) {
      this.#emit({ type: 'session-lost', t: monotonicMs() });
      await this.#closeCoordinator();
    }
    while (!this.#stopping.signal.aborted) {
      try {
        const { url, ttl, namespace, id } = this.#config;
        this.#coordinator = await connect(url, { ttl, namespace, identity: { id }, connectTimeout: Math.max(2_000, ttl) });
        this.#io.onCoordinator?.(this.#coordinator);
        this.#emit({ type: 'connected', t: monotonicMs(), sessionId: this.#coordinator.session.id });
        return this.#coordinator;
      } catch (err) {
        this.#emit({ type: 'connect-failed', t: monotonicMs(), error: describe(err) });
        await sleep(RECONNECT_DELAY_MS);
      }
    }
    return undefined;
  }

  async #acquire(coordinator: Coordinator): Promise<Held | undefined> {
    const name = this.#rng.pick(this.#config.locks);
    this.#emit({ type: 'waiting', t: monotonicMs(), name });
    const options = { timeout: this.#config.acquireTimeoutMs, signal: this.#stopping.signal };
    try {
      if (this.#config.workload === 'election') return heldLeadership(await coordinator.campaign(name, options));
      return await coordinator.acquire(name, options);
    } catch (err) {
      this.#emit({ type: 'acquire-failed', t: monotonicMs(), name, error: describe(err) });
      return undefined;
    }
  }

  async #hold(guard: Held, resource: ResourceClient): Promise<void> {
    const { name, token } = guard;
    const tokenText = token.toString();
    this.#emit({ type: 'acquired', t: monotonicMs(), name, token: tokenText, ...predecessor(guard) });
    const onLost = (): void => {
      const reason = (guard.signal.reason as LockLostError | undefined)?.reason ?? 'unknown';
      this.#emit({ type: 'lost', t: monotonicMs(), name, token: tokenText, reason: String(reason) });
    };
    if (guard.signal.aborted) onLost();
    else guard.signal.addEventListener('abort', onLost, { once: true });

    const cycles = this.#rng.int(...this.#config.cycles);
    for (let i = 0; i < cycles; i++) {
      if (!(await this.#cycle(guard, resource, tokenText))) break;
    }
    await this.#io.checkpoint();
    this.#emit({ type: 'release-start', t: monotonicMs(), name, token: tokenText, lost: guard.signal.aborted });
    try {
      await guard.release();
      this.#emit({ type: 'released', t: monotonicMs(), name, token: tokenText });
    } catch (err) {
      this.#emit({ type: 'released', t: monotonicMs(), name, token: tokenText, error: describe(err) });
    }
  }

  /** One read-modify-write cycle; whether the hold may go on. */
  async #cycle(guard: Held, resource: ResourceClient, token: string): Promise<boolean> {
    const { name } = guard;
    await this.#io.checkpoint();
    const checkedAt = monotonicMs();
    if (guard.signal.aborted) {
      this.#emit({ type: 'check', t: checkedAt, name, token, aborted: true });
      return false;
    }
    const read = await resource.read(name, guard.token);
    const readAt = monotonicMs();
    this.#emit({ type: 'read', t: readAt, name, token, checkedAt, value: read.value, ok: read.ok });
    if (!read.ok) return false;
    await sleep(this.#rng.float(...this.#config.thinkMs));
    await this.#io.checkpoint();
    // Sent whatever the signal says: see the module note.
    const aborted = guard.signal.aborted;
    const attemptAt = monotonicMs();
    const wrote = await resource.write(name, guard.token, read.value + 1);
    this.#emit({ type: 'write', t: attemptAt, name, token, aborted, readAt, value: read.value + 1, ok: wrote.ok });
    return wrote.ok && !aborted;
  }

  /** Close the coordinator, bounded: through a partition or a paused engine a close can hang. */
  async #closeCoordinator(): Promise<void> {
    const coordinator = this.#coordinator;
    this.#coordinator = undefined;
    if (coordinator !== undefined) await within(coordinator.close().catch(() => {}), this.#config.ttl, undefined);
  }
}

function predecessor(guard: Held): { predecessor?: string } {
  return guard.predecessor === undefined ? {} : { predecessor: guard.predecessor.outcome };
}

/** An error as the report shows it: its stable code when it has one. */
function describe(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
