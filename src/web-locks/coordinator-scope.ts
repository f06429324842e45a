/**
 * The Web Locks scope of the hosts that share a Coordinator's engine: each
 * request is a `Coordinator` acquire (a lease the engine ends if the holder
 * dies), `ifAvailable` is `tryAcquire`, and the callback's lock carries the
 * grant's fencing token and loss signal.
 *
 * Steal is an operator's break, allowed only with `allowSteal`:
 * `coordinator.break(name, { reason })` records who, when and why in the
 * engine (the next holder reads it as its predecessor), every displaced
 * holder, on whatever host, sees its lock's signal abort (LockLostError
 * `broken`) and its `request()` reject with AbortError; then the stealer
 * acquires. Unlike the specification's steal, a request already queued on the
 * engine may be granted between the break and the stealer's acquire; the
 * stealer then waits behind it.
 *
 * A lock lost in any other way (session lost, lease expired) also rejects the
 * holder's `request()` with AbortError: the callback may still be running, and
 * must watch `lock.signal`.
 *
 * @internal
 * @module
 */
import type { Coordinator } from '../distributed/coordinator.js';
import type { DistributedGuard } from '../distributed/guard.js';
import { createFencedLock } from './lock.js';
import { notSupported, type HeldLock, type LockManagerSnapshot, type LockScope, type ScopeRequest } from './scope.js';

/** @internal */
export class CoordinatorScope implements LockScope {
  readonly #coordinator: Coordinator;
  readonly #allowSteal: boolean;
  readonly #pending = new Set<ScopeRequest>();

  constructor(coordinator: Coordinator, allowSteal: boolean) {
    this.#coordinator = coordinator;
    this.#allowSteal = allowSteal;
  }

  async acquire(request: ScopeRequest, displaced: (reason: unknown) => void): Promise<HeldLock | null> {
    const { name, mode } = request;
    if (request.ifAvailable) {
      const guard = await this.#coordinator.tryAcquire(name, { mode });
      return guard === undefined ? null : held(guard, displaced);
    }
    if (request.steal) await this.#break(name);
    this.#pending.add(request);
    try {
      return held(await this.#coordinator.acquire(name, { mode, signal: request.signal }), displaced);
    } finally {
      this.#pending.delete(request);
    }
  }

  async query(): Promise<LockManagerSnapshot> {
    const infos = await this.#coordinator.list();
    const me = this.#coordinator.owner.id;
    return {
      held: infos.map((info) => ({ name: info.name, mode: info.mode, clientId: info.owner.id })),
      pending: [...this.#pending].map((r) => ({ name: r.name, mode: r.mode, clientId: me })),
    };
  }

  async #break(name: string): Promise<void> {
    if (!this.#allowSteal) {
      throw notSupported(
        `steal on a coordinator is an operator's break: create the manager with LockManager.forCoordinator(coordinator, { allowSteal: true })`,
      );
    }
    const { host, pid } = this.#coordinator.owner;
    await this.#coordinator.break(name, { reason: 'Web Locks request with steal: true', by: `web-locks steal by ${host}:${pid}` });
  }
}

function held(guard: DistributedGuard, displaced: (reason: unknown) => void): HeldLock {
  const onLost = () => {
    const why = (guard.signal.reason as Error | undefined)?.message ?? 'lost';
    displaced(new DOMException(`lock "${guard.name}" was lost: ${why}`, 'AbortError'));
  };
  guard.signal.addEventListener('abort', onLost, { once: true });
  return {
    lock: createFencedLock(guard.name, guard.mode, guard.token, guard.signal),
    release: () => {
      guard.signal.removeEventListener('abort', onLost);
      return guard.release();
    },
  };
}
