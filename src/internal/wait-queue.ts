/**
 * The wait queue: the one in-process primitive under Semaphore, Mutex, RWLock
 * and the keyed locks (tokio's design: one semaphore under everything).
 *
 * Protocol
 * - `capacity` permits; a request takes `weight` of them, all at once or not at all.
 * - Strict FIFO: a request is granted only when every request queued before it was
 *   granted or left. A heavy request at the head therefore holds back lighter ones
 *   behind it; that is what keeps writers (weight = capacity) from starving under
 *   a stream of readers (weight 1), and what makes `tryTake` refuse to barge.
 * - Leaving: a waiter whose signal aborts or whose timeout fires is unlinked at once
 *   (O(1), doubly linked list). Grants are all-or-nothing, so a leaver holds nothing
 *   to give back; but if it was the head it may have been blocking lighter waiters
 *   behind it, so the queue drains again.
 * - A waiter is settled exactly once: granted, aborted, timed out or closed. Its
 *   timer and abort listener are removed on every path.
 * - `close(reason)` rejects every waiter and every later request with ClosedError;
 *   permits given back after close are accepted silently (holders may release late).
 *
 * @internal
 * @module
 */
import { ClosedError, LockTimeoutError } from '../errors.js';

/** One queued request. A class (not closures) keeps the contended path allocation-light. */
class Waiter<T> {
  prev: Waiter<T> | undefined = undefined;
  next: Waiter<T> | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;

  constructor(
    readonly queue: WaitQueue<T>,
    readonly weight: number,
    readonly value: T,
    readonly signal: AbortSignal | undefined,
    readonly timeout: number | undefined,
  ) {}

  /** EventTarget calls this on abort (an object listener avoids a closure per waiter). */
  handleEvent(): void {
    this.queue.leave(this, this.signal!.reason);
  }
}

function onTimeout<T>(waiter: Waiter<T>): void {
  waiter.timer = undefined;
  const queue = waiter.queue;
  waiter.queue.leave(
    waiter,
    new LockTimeoutError(`${queue.label} timed out after ${waiter.timeout} ms waiting to be granted`, waiter.timeout!),
  );
}

/**
 * A weighted FIFO queue of permits. `T` is the value a grant resolves with
 * (callers pass the guard they will hand out, so a grant allocates nothing more).
 *
 * @internal
 */
export class WaitQueue<T> {
  readonly capacity: number;
  readonly #label: string;
  #available: number;
  #head: Waiter<T> | undefined;
  #tail: Waiter<T> | undefined;
  #length = 0;
  #closed: ClosedError | undefined;

  constructor(capacity: number, label: string) {
    this.capacity = capacity;
    this.#available = capacity;
    this.#label = label;
  }

  /**
   * How errors name the primitive ("Mutex", `lock "jobs"`). Read only when an error
   * is built, so a subclass may compute it (keyed locks do, to allocate nothing per key).
   */
  get label(): string {
    return this.#label;
  }

  /**
   * If a subclass defines it, called whenever the queue becomes idle after a release
   * or a waiter leaving (keyed locks drop their entry then). A method rather than a
   * callback so keyed locks allocate no closure per key; absent on plain queues, so
   * their release path tests one property that the JIT folds to a constant.
   */
  protected onIdle?(): void;

  /** Permits not currently granted. */
  get available(): number {
    return this.#available;
  }

  /** Requests queued and not yet settled. */
  get waiting(): number {
    return this.#length;
  }

  /** True when nothing is granted and nobody waits (keyed locks drop such entries). */
  get idle(): boolean {
    return this.#available === this.capacity && this.#length === 0;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Take `weight` permits now if that breaks no FIFO promise. Throws ClosedError
   * when closed (a closed primitive is an error, not "busy").
   */
  tryTake(weight: number): boolean {
    if (this.#closed) throw this.#closed;
    if (this.#head === undefined && this.#available >= weight) {
      this.#available -= weight;
      return true;
    }
    return false;
  }

  /**
   * Take `weight` permits, waiting in FIFO order. Resolves with `value` once
   * granted; rejects with `signal.reason` on abort, LockTimeoutError on timeout,
   * ClosedError on close. `weight ≤ capacity` must have been checked by the caller.
   */
  take(weight: number, value: T, signal?: AbortSignal, timeout?: number): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#head === undefined && this.#available >= weight) {
      this.#available -= weight;
      return Promise.resolve(value);
    }
    if (timeout === 0) {
      return Promise.reject(new LockTimeoutError(`${this.label} was not available and timeout is 0`, 0));
    }
    const waiter = new Waiter(this, weight, value, signal, timeout);
    const promise = new Promise<T>((resolve, reject) => {
      waiter.resolve = resolve;
      waiter.reject = reject;
    });
    this.#append(waiter);
    if (signal) signal.addEventListener('abort', waiter, { once: true });
    if (timeout !== undefined) waiter.timer = setTimeout(onTimeout, timeout, waiter);
    return promise;
  }

  /** Give back `weight` permits and grant whoever now fits. */
  give(weight: number): void {
    this.#available += weight;
    if (this.#head !== undefined) this.#drain();
    else if (this.onIdle !== undefined && this.#available === this.capacity) this.onIdle();
  }

  /**
   * Remove a waiter that gives up (abort or timeout) and reject it with `reason`.
   * A waiter already settled is ignored, so a late abort cannot double-settle.
   */
  leave(waiter: Waiter<T>, reason: unknown): void {
    if (!this.#isQueued(waiter)) return;
    const wasHead = waiter === this.#head;
    this.#unlink(waiter);
    this.#detach(waiter);
    waiter.reject(reason);
    // The head may have been the only thing holding back lighter waiters behind it.
    if (wasHead && this.#head !== undefined) this.#drain();
    if (this.onIdle !== undefined && this.idle) this.onIdle();
  }

  /** Reject every waiter and every later request with ClosedError (cause: `reason`). */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = new ClosedError(
      `${this.label} was closed` + (reason instanceof Error ? `: ${reason.message}` : ''),
      reason === undefined ? undefined : { cause: reason },
    );
    let waiter = this.#head;
    this.#head = this.#tail = undefined;
    this.#length = 0;
    while (waiter !== undefined) {
      const next = waiter.next;
      waiter.prev = waiter.next = undefined;
      this.#detach(waiter);
      waiter.reject(this.#closed);
      waiter = next;
    }
  }

  #drain(): void {
    let head = this.#head;
    while (head !== undefined && this.#available >= head.weight) {
      this.#available -= head.weight;
      this.#unlink(head);
      this.#detach(head);
      head.resolve(head.value);
      head = this.#head;
    }
  }

  #append(waiter: Waiter<T>): void {
    if (this.#tail === undefined) {
      this.#head = this.#tail = waiter;
    } else {
      waiter.prev = this.#tail;
      this.#tail.next = waiter;
      this.#tail = waiter;
    }
    this.#length++;
  }

  #isQueued(waiter: Waiter<T>): boolean {
    return waiter.prev !== undefined || waiter === this.#head;
  }

  #unlink(waiter: Waiter<T>): void {
    if (waiter.prev === undefined) this.#head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.#tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = waiter.next = undefined;
    this.#length--;
  }

  /** Stop listening for this waiter's abort and timeout. */
  #detach(waiter: Waiter<T>): void {
    if (waiter.timer !== undefined) {
      clearTimeout(waiter.timer);
      waiter.timer = undefined;
    }
    waiter.signal?.removeEventListener('abort', waiter);
  }
}
