/**
 * The memory driver: the Driver contract over a MemorySpace (space.ts).
 *
 * Keys are `namespace NUL name`: NUL cannot occur in either part, so two
 * namespaces never see each other's locks and `list(prefix)` is a plain
 * prefix match. A waiting acquire holds a ref'd handle, as an open watch
 * stream would with a network engine, so a process waiting for a lock stays up.
 *
 * @module
 */
import { BackendError, SessionLostError, type LossReason } from '../../errors.js';
import type {
  BreakRecord,
  Capabilities,
  Driver,
  DriverLock,
  DriverSession,
  LockRequest,
  LockSurvey,
  PredecessorReport,
} from '../../distributed/driver.js';
import { assertExpectedHolders } from '../../distributed/break-options.js';
import { mergeSurvey } from '../../distributed/survey.js';
import type { LockInfo, LockOwner } from '../../contracts/fenced-guard.js';
import { Claim, type Lease, type MemorySpace } from './space.js';

const SEPARATOR = '\u0000';
const noop = (): void => {};

/**
 * What the memory driver guarantees.
 *
 * @example
 * ```ts
 * memoryCapabilities.shared; // true
 * ```
 */
export const memoryCapabilities: Readonly<Capabilities> = Object.freeze({
  shared: true,
  durableTokens: false,
  serverLease: true,
  waitNotifications: true,
  breakable: true,
  minTtlMs: 20,
  recoveryBoundMs: 0,
  notes: Object.freeze([
    'in-process engine: only coordinators of this process share its locks',
    'tokens restart when the process does (durableTokens: false)',
  ]) as string[],
});

/** A lease of the memory engine, as the Session sees it. */
class MemorySession implements DriverSession {
  onLost?: (cause: unknown) => void;

  constructor(
    readonly space: MemorySpace,
    readonly lease: Lease,
  ) {
    lease.onLost = (cause) => this.onLost?.(cause);
  }

  get id(): string {
    return this.lease.id;
  }

  get ttlMs(): number {
    return this.lease.ttlMs;
  }

  keepAlive(): Promise<void> {
    return this.#send(() => {
      if (!this.space.renew(this.lease)) throw new SessionLostError(`memory lease ${this.lease.id} is gone`);
    });
  }

  revoke(): Promise<void> {
    return this.#send(() => this.space.endLease(this.lease, 'released'));
  }

  /** A request on the lease: it reaches the engine now, or when a paused session is resumed. */
  #send(request: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const arrive = (): void => {
        try {
          request();
          this.lease.deliver(resolve);
        } catch (err) {
          this.lease.deliver(() => reject(err));
        }
      };
      if (this.lease.paused) this.lease.held.push(arrive);
      else queueMicrotask(arrive);
    });
  }
}

/** A granted claim, as the Coordinator sees it. */
class MemoryLock implements DriverLock {
  readonly token: bigint;
  readonly since: Date;
  readonly predecessor?: PredecessorReport;
  onLost?: (reason: LossReason, detail: string) => void;

  constructor(
    readonly space: MemorySpace,
    readonly claim: Claim,
  ) {
    this.token = claim.token;
    this.since = space.clock.toDate(claim.since);
    if (claim.predecessor !== undefined) this.predecessor = claim.predecessor;
    claim.onLost = (reason, detail) => this.onLost?.(reason, detail);
  }

  async release(): Promise<void> {
    // Conditional: only a claim still held is removed; a lost one is already gone.
    this.space.release(this.claim);
  }
}

/**
 * The Driver over one memory space and namespace.
 *
 * @internal
 * @example
 * ```ts
 * const coordinator = await connect('memory://tests', { namespace: 'a' });
 * ```
 */
export class MemoryDriver implements Driver {
  readonly backend = 'memory';
  readonly capabilities = memoryCapabilities;
  readonly #space: MemorySpace;
  readonly #prefix: string;

  constructor(space: MemorySpace, namespace: string) {
    this.#space = space;
    this.#prefix = `${namespace}${SEPARATOR}`;
  }

  async openSession(ttlMs: number, owner: LockOwner): Promise<DriverSession> {
    return new MemorySession(this.#space, this.#space.grantLease(ttlMs, owner));
  }

  acquire(request: LockRequest, signal: AbortSignal): Promise<DriverLock> {
    return new Promise((resolve, reject) => {
      signal.throwIfAborted();
      let streamOpen: NodeJS.Timeout | undefined;
      const onAbort = (): void => this.#space.withdraw(claim, signal.reason);
      const settle = (): void => {
        clearInterval(streamOpen);
        signal.removeEventListener('abort', onAbort);
      };
      const claim = this.#claim(request, (granted) => {
        settle();
        resolve(new MemoryLock(this.#space, granted));
      }, (err) => {
        settle();
        reject(err);
      });
      signal.addEventListener('abort', onAbort, { once: true });
      this.#space.claim(claim);
      if (claim.state === 'waiting') streamOpen = setInterval(noop, 2 ** 30);
    });
  }

  async tryAcquire(request: LockRequest): Promise<DriverLock | undefined> {
    let lock: DriverLock | undefined;
    const claim = this.#claim(request, (granted) => (lock = new MemoryLock(this.#space, granted)), noop);
    return this.#space.tryClaim(claim) ? lock : undefined;
  }

  async list(prefix: string): Promise<LockInfo[]> {
    const start = this.#prefix + prefix;
    return this.#space.holders((key) => key.startsWith(start)).map((claim) => this.#info(claim));
  }

  async holders(name: string): Promise<LockInfo[]> {
    const key = this.#prefix + name;
    return this.#space.holders((k) => k === key).map((claim) => this.#info(claim));
  }

  async survey(prefix: string): Promise<LockSurvey[]> {
    const start = this.#prefix + prefix;
    const queues = this.#space.queues((key) => key.startsWith(start)).map(({ key, waiters, lastBreak }) => ({
      name: key.slice(this.#prefix.length),
      waiters: waiters.map((claim) => ({ mode: claim.mode, owner: { ...claim.lease.owner } })),
      ...(lastBreak !== undefined && { lastBreak }),
    }));
    return mergeSurvey(await this.list(prefix), queues);
  }

  async break(name: string, record: BreakRecord, expect?: readonly bigint[]): Promise<LockInfo[]> {
    // One synchronous turn: nothing can be granted between the compare and the break.
    const key = this.#prefix + name;
    assertExpectedHolders(name, expect, this.#space.holders((k) => k === key).map((claim) => this.#info(claim).token));
    return this.#space.break(key, record, (claim) => this.#info(claim));
  }

  async close(): Promise<void> {
    // Nothing to disconnect: the space outlives its clients, so tokens keep increasing.
  }

  #claim(request: LockRequest, granted: (claim: Claim) => void, failed: (err: unknown) => void): Claim {
    const session = request.session;
    if (!(session instanceof MemorySession) || session.space !== this.#space) {
      throw new BackendError('the memory driver was handed a session it did not open');
    }
    if (!session.lease.alive) throw new SessionLostError(`memory lease ${session.lease.id} is gone`);
    return new Claim(this.#prefix + request.name, session.lease, request.mode, granted, failed);
  }

  #info(claim: Claim): LockInfo {
    return {
      name: claim.key.slice(this.#prefix.length),
      mode: claim.mode,
      token: claim.token,
      owner: { ...claim.lease.owner },
      since: this.#space.clock.toDate(claim.since),
      expiresAt: this.#space.clock.toDate(claim.lease.expiresAt),
      ttlMs: claim.lease.ttlMs,
      backend: this.backend,
    };
  }
}
