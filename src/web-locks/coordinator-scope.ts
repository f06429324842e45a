/**
 * The Web Locks scope of the hosts that share a Coordinator's engine. Two
 * levels, each with the guarantee it can give:
 * - among the requests made through this coordinator, the specification's
 *   queue, exactly (local-queue.ts, one realm per coordinator);
 * - across coordinators (hosts), the engine: a request at the head of the
 *   local queue takes the coordinator lock (a lease the engine ends if the
 *   holder dies), so the callback's lock carries that grant's fencing token and
 *   loss signal. Between hosts the engine decides who is next.
 *
 * Steal is an operator's break, allowed only with `allowSteal`: the local
 * holders are displaced, then `coordinator.break(name, { reason })` records
 * who, when and why in the engine (the next holder reads it as its
 * predecessor) and displaces the holders on other hosts, whose locks' signals
 * abort (LockLostError `broken`) and whose `request()` rejects with
 * AbortError; then the stealer acquires. Unlike the specification's steal, a
 * request queued on the engine by another host may be granted between the
 * break and the stealer's acquire; the stealer then waits behind it.
 *
 * A lock lost in any other way (session lost, lease expired) also rejects the
 * holder's `request()` with AbortError: the callback may still be running, and
 * must watch `lock.signal`.
 *
 * @internal
 * @module
 */
import { threadId } from 'node:worker_threads';
import type { Coordinator } from '../distributed/coordinator.js';
import type { DistributedGuard } from '../distributed/guard.js';
import type { BaseFencedGuard } from '../contracts/fenced-guard.js';
import { LocalQueue } from './local-queue.js';
import { createFencedLock } from './lock.js';
import { notSupported, report, stolenError, type GrantSink, type HeldLock, type LockManagerSnapshot, type LockScope, type ScopeRequest } from './scope.js';
import { onAbort } from '../internal/on-abort.js';

/** One local queue per coordinator, whichever managers use it. */
const queues = new WeakMap<Coordinator, LocalQueue>();
let realms = 0;

/** @internal */
export class CoordinatorScope implements LockScope {
  readonly #coordinator: Coordinator;
  readonly #allowSteal: boolean;
  readonly #queue: LocalQueue;

  constructor(coordinator: Coordinator, allowSteal: boolean) {
    this.#coordinator = coordinator;
    this.#allowSteal = allowSteal;
    let queue = queues.get(coordinator);
    if (queue === undefined) queues.set(coordinator, (queue = new LocalQueue(`c:${threadId}:${++realms}\u0000`)));
    this.#queue = queue;
  }

  acquire(request: ScopeRequest, sink: GrantSink): void {
    report(this.#acquire(request, sink), sink);
  }

  async #acquire(request: ScopeRequest, sink: GrantSink): Promise<HeldLock | null> {
    const { name, mode, signal } = request;
    if (request.steal && !this.#allowSteal) {
      throw notSupported(`steal on a coordinator is an operator's break: create the manager with LockManager.forCoordinator(coordinator, { allowSteal: true })`);
    }
    const held = await this.#queue.through(request, async () => {
      if (request.steal) await this.#break(name);
      return request.ifAvailable ? this.#coordinator.tryAcquire(name, { mode }) : this.#coordinator.acquire(name, { mode, signal });
    });
    return held === null ? null : this.#held(held.id, held.guard, sink);
  }

  async query(): Promise<LockManagerSnapshot> {
    const infos = await this.#coordinator.list();
    const me = this.#coordinator.owner.id;
    return {
      held: infos.map((info) => ({ name: info.name, mode: info.mode, clientId: info.owner.id })),
      pending: this.#queue.pending().map((r) => ({ ...r, clientId: me })),
    };
  }

  async #break(name: string): Promise<void> {
    const { host, pid } = this.#coordinator.owner;
    await this.#coordinator.break(name, { reason: 'Web Locks request with steal: true', by: `web-locks steal by ${host}:${pid}` });
  }

  #held(id: number, guard: DistributedGuard, sink: GrantSink): HeldLock {
    const signal = guard.signal; // read once: see onAbort
    const stopListening = onAbort(signal, () => {
      const why = (signal.reason as Error | undefined)?.message ?? 'lost';
      sink.displaced(new DOMException(`lock "${guard.name}" was lost: ${why}`, 'AbortError'));
    });
    this.#queue.onStolen(id, () => {
      (guard as unknown as BaseFencedGuard).markLost('broken', `lock "${guard.name}" was stolen (Web Locks steal)`);
      sink.displaced(stolenError(guard.name));
      void guard.release();
    });
    return {
      lock: createFencedLock(guard.name, guard.mode, guard.token, signal),
      release: () => {
        stopListening();
        this.#queue.leave(id);
        return guard.release();
      },
    };
  }
}
