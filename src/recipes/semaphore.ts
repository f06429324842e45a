/**
 * A distributed counting semaphore on every engine, built of locks (Curator's
 * InterProcessSemaphoreV2 idea, on deadbolt's fenced locks):
 * - each permit is its own lock, `@semaphore/<name>#<k>` for k < permits
 *   (names.ts), so every permit has its lease, its fencing token and its loss
 *   signal, and an expired permit is lost, never silently taken again by a
 *   renewal (the complaint most filed against redis-semaphore): a renewal only
 *   renews the session, and a lost lock is never re-claimed;
 * - waiters queue on one more lock, `@semaphore/<name>#queue`, in the engine's
 *   order: only the head of that queue ever waits for a permit, so a release
 *   wakes one process (no herd), and waiters are served first come, first
 *   served (a heavy request is not overtaken by light ones).
 *
 * The head reads which permits are free (one listing), takes them with
 * `tryAcquire`, and when too few are free waits for every busy permit at once
 * and keeps the first that frees (the others withdraw). It then releases the
 * queue lock: the next head starts.
 *
 * Fencing: a permit's writes carry `(slot, token)`; a resource fences each
 * slot on its own (a `Fence` per `${name}#${slot}`), because concurrent holders
 * of different slots have unrelated tokens.
 *
 * All processes must agree on `permits`: each permit's claim stores the count
 * it was taken with, and a waiter that sees a different count refuses with
 * ConfigurationError rather than over-admit.
 *
 * @module
 */
import { ConfigurationError, LockTimeoutError } from '../errors.js';
import type { LockInfo, LockOwner } from '../contracts/lock-info.js';
import { checkWeight, type SemaphoreAcquireOptions } from '../local/semaphore.js';
import { checkAcquireOptions, checkCount, checkFunction, checkKnownOptions } from '../internal/validate.js';
import { WaitSignal } from '../internal/wait-signal.js';
import { reportAcquireFailure } from '../internal/acquire-failure.js';
import type { RecipeGuard, RecipeHost } from './host.js';
import { recipeLockName } from './names.js';

/** The most permits a distributed semaphore may have: each is a lock of its own. */
export const MAX_DISTRIBUTED_PERMITS = 1_024;

/**
 * One slot of a held permit: which permit lock, and its fencing token.
 *
 * @example
 * ```ts
 * for (const { slot, token } of permit.slots) await store.write(`uploads#${slot}`, token, chunk);
 * ```
 */
export interface PermitSlot {
  readonly slot: number;
  readonly token: bigint;
}

/**
 * Who holds one permit of a semaphore, as `semaphore.holders()` lists it.
 *
 * @example
 * ```ts
 * for (const h of await uploads.holders()) console.log(`#${h.slot} token ${h.token} ${h.owner.host}`);
 * ```
 */
export interface PermitHolder extends PermitSlot {
  readonly owner: LockOwner;
  readonly since: Date;
  readonly expiresAt?: Date;
}

/**
 * Permits held, from `acquire` until `release()` or loss.
 *
 * @example
 * ```ts
 * await using permit = await uploads.acquire({ weight: 2, timeout: 30_000 });
 * await upload(file, { signal: permit.signal });
 * ```
 */
export class Permit implements AsyncDisposable {
  /** The semaphore's name. */
  readonly name: string;
  /** The permits held (the weight asked for), one slot each. */
  readonly slots: readonly PermitSlot[];
  /** Aborted, with the first slot's LockLostError, when any of the permits can no longer be trusted. */
  readonly signal: AbortSignal;
  readonly #guards: readonly RecipeGuard[];
  #release: Promise<void> | undefined;

  /** @internal Use `semaphore.acquire()`. */
  constructor(name: string, taken: readonly { slot: number; guard: RecipeGuard }[]) {
    const sorted = [...taken].sort((a, b) => a.slot - b.slot);
    this.name = name;
    this.slots = Object.freeze(sorted.map(({ slot, guard }) => Object.freeze({ slot, token: guard.token })));
    this.#guards = sorted.map(({ guard }) => guard);
    this.signal = this.#guards.length === 1 ? this.#guards[0]!.signal : AbortSignal.any(this.#guards.map((g) => g.signal));
  }

  /** How many permits this holds. */
  get weight(): number {
    return this.slots.length;
  }

  /** The fencing token of the first slot (for a permit of weight 1, the token). */
  get token(): bigint {
    return this.slots[0]!.token;
  }

  /** Whether any of its permits was lost. */
  get lost(): boolean {
    return this.signal.aborted;
  }

  /**
   * Give every permit back (each conditionally on its token). Idempotent.
   *
   * @example
   * ```ts
   * await permit.release();
   * ```
   */
  release(): Promise<void> {
    this.#release ??= releaseAll(this.#guards);
    return this.#release;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/**
 * A counting semaphore shared by every coordinator on the same engine and
 * namespace. Obtain it with `coordinator.semaphore(name, permits)`.
 *
 * @example
 * ```ts
 * const uploads = coordinator.semaphore('uploads', 4);
 * await using permit = await uploads.acquire({ timeout: 10_000 });
 * ```
 */
export class DistributedSemaphore {
  /** The semaphore's name. */
  readonly name: string;
  /** How many permits it has; every process must use the same number. */
  readonly permits: number;
  readonly #host: RecipeHost;
  /** What each permit's claim stores: the count it was taken with. */
  readonly #data: string;

  /** @internal Use `coordinator.semaphore()`. */
  constructor(host: RecipeHost, name: string, permits: number) {
    this.#host = host;
    this.name = name;
    this.permits = checkCount(permits, 'permits', MAX_DISTRIBUTED_PERMITS, ' (each permit is a lock of its own)');
    this.#data = JSON.stringify({ permits: this.permits });
  }

  /**
   * Wait for `weight` permits (default 1), first come, first served. Rejects
   * with LockTimeoutError after `timeout` ms (`0`: only if free now), the
   * signal's reason, or the coordinator's ClosedError / SessionLostError;
   * nothing stays claimed when it rejects.
   *
   * @example
   * ```ts
   * const permit = await uploads.acquire({ weight: 2, signal: request.signal });
   * try { await work(permit.slots); } finally { await permit.release(); }
   * ```
   */
  async acquire(options?: SemaphoreAcquireOptions): Promise<Permit> {
    const { signal, timeout } = checkAcquireOptions(options, 'options', ['weight']);
    const weight = checkWeight(options, this.permits);
    const started = performance.now();
    try {
      return await (timeout === 0 ? this.#takeNow(weight, signal) : this.#wait(weight, signal, timeout));
    } catch (error) {
      // one report for the whole acquire, under the semaphore's name (its claims report nothing)
      reportAcquireFailure({ name: recipeLockName('semaphore', this.name), mode: 'exclusive', backend: this.#host.backend, started, signal }, error);
      throw error;
    }
  }

  /**
   * `weight` permits (default 1) if they are free now and nobody waits ahead, else `undefined`.
   *
   * @example
   * ```ts
   * const permit = await uploads.tryAcquire();
   * if (permit === undefined) return reply(429);
   * ```
   */
  async tryAcquire(options?: { weight?: number }): Promise<Permit | undefined> {
    if (options !== null && typeof options === 'object') checkKnownOptions(options, 'options', ['weight']);
    const weight = checkWeight(options, this.permits);
    const queue = await this.#host.tryClaim(this.#queueName, { mode: 'exclusive' });
    if (queue === undefined) return undefined; // someone is ahead
    try {
      const taken = await this.#takeFree(weight);
      if (taken.length === weight) return new Permit(this.name, taken);
      await releaseAll(taken.map((t) => t.guard));
      return undefined;
    } finally {
      await queue.release();
    }
  }

  /**
   * Run `fn` holding `weight` permits (default 1); they are released however
   * `fn` ends. Pass `permit.signal` on to the work.
   *
   * @example
   * ```ts
   * await uploads.run((permit) => upload(file, { signal: permit.signal }), { timeout: 30_000 });
   * ```
   */
  async run<R>(fn: (permit: Permit) => R | PromiseLike<R>, options?: SemaphoreAcquireOptions): Promise<Awaited<R>> {
    checkFunction(fn, 'fn');
    const permit = await this.acquire(options);
    try {
      return await fn(permit);
    } finally {
      await permit.release();
    }
  }

  /**
   * Who holds each permit now, by slot.
   *
   * @example
   * ```ts
   * const busy = (await uploads.holders()).length; // permits in use
   * ```
   */
  async holders(): Promise<PermitHolder[]> {
    return [...(await this.#readSlots()).entries()].sort(([a], [b]) => a - b).map(([slot, info]) => holderFrom(slot, info));
  }

  /** `timeout: 0`: the permits if free now, else LockTimeoutError. */
  async #takeNow(weight: number, signal: AbortSignal | undefined): Promise<Permit> {
    signal?.throwIfAborted();
    const permit = await this.tryAcquire({ weight });
    if (permit !== undefined) return permit;
    throw new LockTimeoutError(`semaphore "${this.name}" had not ${weight} permit(s) free and timeout is 0`, 0);
  }

  /** Queue for the head, then take the permits (waiting for busy ones), then let the next head in. */
  async #wait(weight: number, signal: AbortSignal | undefined, timeout: number | undefined): Promise<Permit> {
    const wait = new WaitSignal([signal, this.#host.ending], timeout, `${weight} permit(s) of semaphore "${this.name}"`);
    try {
      const queue = await this.#host.claim(this.#queueName, { mode: 'exclusive', signal: wait.signal, report: false });
      try {
        return new Permit(this.name, await this.#take(weight, wait.signal));
      } finally {
        await queue.release();
      }
    } catch (error) {
      throw wait.explain(error);
    } finally {
      wait.dispose();
    }
  }

  get #queueName(): string {
    return recipeLockName('semaphore', `${this.name}#queue`);
  }

  #slotName(slot: number): string {
    return recipeLockName('semaphore', `${this.name}#${slot}`);
  }

  /** As head of the queue: the free permits first, then wait for busy ones until `weight` are ours. */
  async #take(weight: number, signal: AbortSignal): Promise<{ slot: number; guard: RecipeGuard }[]> {
    const taken = await this.#takeFree(weight);
    try {
      while (taken.length < weight) {
        taken.push(...(await this.#waitForSlots(taken, weight - taken.length, signal)));
      }
      return taken;
    } catch (error) {
      await releaseAll(taken.map((t) => t.guard));
      throw error;
    }
  }

  /** Take free permits (one listing, then a try each) until `weight` are ours or none is free. */
  async #takeFree(weight: number): Promise<{ slot: number; guard: RecipeGuard }[]> {
    const held = await this.#readSlots();
    this.#checkAgreement(held);
    const taken: { slot: number; guard: RecipeGuard }[] = [];
    for (let slot = 0; slot < this.permits && taken.length < weight; slot++) {
      if (held.has(slot)) continue;
      const guard = await this.#host.tryClaim(this.#slotName(slot), { mode: 'exclusive', data: this.#data });
      if (guard !== undefined) taken.push({ slot, guard });
    }
    return taken;
  }

  /**
   * Wait for every permit not ours at once; keep the first `need` that are
   * granted, withdraw the other waits (a grant that raced the withdrawal is
   * given back).
   */
  async #waitForSlots(taken: readonly { slot: number }[], need: number, signal: AbortSignal): Promise<{ slot: number; guard: RecipeGuard }[]> {
    const mine = new Set(taken.map((t) => t.slot));
    const enough = new AbortController();
    const both = AbortSignal.any([signal, enough.signal]);
    const got: { slot: number; guard: RecipeGuard }[] = [];
    const waits = [];
    for (let slot = 0; slot < this.permits; slot++) {
      if (mine.has(slot)) continue;
      waits.push(
        this.#host.claim(this.#slotName(slot), { mode: 'exclusive', signal: both, data: this.#data, report: false }).then((guard) => {
          if (got.length < need) got.push({ slot, guard });
          else return guard.release();
          if (got.length === need) enough.abort();
          return undefined;
        }),
      );
    }
    const settled = await Promise.allSettled(waits);
    if (got.length > 0 || signal.aborted) {
      if (signal.aborted) await releaseAll(got.map((t) => t.guard));
      signal.throwIfAborted();
      return got;
    }
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    throw failure?.reason ?? new Error(`semaphore "${this.name}": no permit was granted`);
  }

  /** The permit locks held now, by slot (holders of other names under the prefix are ignored). */
  async #readSlots(): Promise<Map<number, LockInfo>> {
    const prefix = recipeLockName('semaphore', `${this.name}#`);
    const slots = new Map<number, LockInfo>();
    for (const info of await this.#host.list(prefix)) {
      const rest = info.name.slice(prefix.length);
      if (/^(0|[1-9]\d{0,9})$/.test(rest)) slots.set(Number(rest), info);
    }
    return slots;
  }

  /** Refuse to wait beside processes that use another number of permits. */
  #checkAgreement(held: ReadonlyMap<number, LockInfo>): void {
    for (const [slot, info] of held) {
      const theirs = permitsIn(info.data);
      if (slot < this.permits && (theirs === undefined || theirs === this.permits)) continue;
      const who = `${info.owner.host} pid ${info.owner.pid}`;
      throw new ConfigurationError(
        `semaphore "${this.name}" is used with ${theirs ?? `more than ${slot}`} permits by ${who} (permit #${slot}) but with ${this.permits} here: ` +
          'every process must pass the same permits to coordinator.semaphore()',
      );
    }
  }
}

/** The permit count a permit's claim stores, if it is one. */
function permitsIn(data: string | undefined): number | undefined {
  try {
    const permits: unknown = (JSON.parse(data ?? 'null') as { permits?: unknown } | null)?.permits;
    return typeof permits === 'number' && Number.isInteger(permits) ? permits : undefined;
  } catch {
    return undefined;
  }
}

function holderFrom(slot: number, info: LockInfo): PermitHolder {
  const holder = { slot, token: info.token, owner: info.owner, since: info.since };
  return info.expiresAt === undefined ? holder : { ...holder, expiresAt: info.expiresAt };
}

async function releaseAll(guards: readonly RecipeGuard[]): Promise<void> {
  const results = await Promise.allSettled(guards.map((guard) => guard.release()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
