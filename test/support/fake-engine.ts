/**
 * A deterministic in-memory engine for the recipe core's unit tests: claims
 * ordered by a counter, watches fired on a microtask, and hooks to make the
 * engine misbehave (transient failures, claims deleted behind our back,
 * uncertain watches, lost sessions). It counts every request, so a test can
 * say how many round trips a cycle costs.
 */
import { BackendUnavailableError, SessionLostError, type LossReason } from '../../src/errors.js';
import type { LockOwner } from '../../src/contracts/lock-info.js';
import type { BreakRecord, Capabilities, DriverSession, PredecessorReport } from '../../src/distributed/driver.js';
import type { ClaimRequest, ClaimsRead, ClaimWatch, Created, Engine, WatchEvent } from '../../src/core/engine.js';
import type { LeaseState, Scan, ScannedClaim, ScanScope } from '../../src/core/scan.js';
import { blocker, holdersOf } from '../../src/core/blocker.js';

export class FakeSession implements DriverSession {
  readonly ttlMs = 10_000;
  onLost?: (cause: unknown) => void;
  alive = true;
  #ids = 0;
  constructor(readonly id: string) {}
  nextId(): string {
    return `${this.id}-${++this.#ids}`;
  }
  async keepAlive(): Promise<void> {
    if (!this.alive) throw new SessionLostError(`fake session ${this.id} is gone`);
  }
  async revoke(): Promise<void> {
    this.alive = false;
  }
}

export interface FakeClaim extends ScannedClaim {
  readonly id: string;
  readonly session: FakeSession;
}

type Method = 'createClaim' | 'readAhead' | 'deleteClaim' | 'withdrawUnconfirmed' | 'claimIfFree' | 'scan' | 'leaseState' | 'breakHolders';

const capabilities: Capabilities = {
  shared: true,
  durableTokens: false,
  serverLease: true,
  waitNotifications: true,
  breakable: false,
  recipes: false,
  minTtlMs: 1,
  recoveryBoundMs: 0,
  notes: [],
};

export class FakeEngine implements Engine<FakeSession, FakeClaim, ClaimsRead<FakeClaim>, FakeClaim> {
  readonly backend = 'fake';
  readonly capabilities = capabilities;
  readonly claims = new Map<string, FakeClaim[]>();
  /** Requests made, by method. */
  readonly calls: Record<string, number> = {};
  /** Open watches: which claim each watches. */
  readonly watches = new Map<symbol, { target: FakeClaim; onEvent: (e: WatchEvent) => void }>();
  /** Errors to throw from the next calls of a method (transient unless said otherwise). */
  readonly failures = new Map<Method, unknown[]>();
  /** The reason `diagnoseLoss` gives. */
  lossReason: LossReason = 'deleted';
  /** Whether `diagnoseLoss` answers synchronously (as the memory engine does) rather than with a promise. */
  diagnoseAtOnce = false;
  /** Break records kept, by name (breakHolders writes them). */
  readonly broken = new Map<string, BreakRecord>();
  /** Whether createClaim reads the queue in the same round trip. */
  readOnCreate = true;
  /** Whether tokens are assigned at the grant (as Redis's scripts do) rather than at the claim. */
  readonly tokenAtGrant: boolean;
  #order = 0n;
  /** Grants made, for tokens assigned at the grant: they differ from the claims' order. */
  #grants = 100n;
  /** The last claim removed, for the report a grant that assigns the token makes of its predecessor. */
  #lastGone: FakeClaim | undefined;
  #sessions = 0;

  constructor(options: { claimIfFree?: boolean; tokenAtGrant?: boolean } = {}) {
    if (options.claimIfFree === false) this.claimIfFree = undefined;
    this.tokenAtGrant = options.tokenAtGrant ?? false;
  }

  session(): FakeSession {
    return new FakeSession(`s${++this.#sessions}`);
  }

  async openLease(): Promise<FakeSession> {
    return this.session();
  }

  claimId(session: FakeSession): string {
    return session.nextId();
  }

  failNext(method: Method, ...errors: unknown[]): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...errors]);
  }

  #enter(method: Method): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    const error = this.failures.get(method)?.shift();
    if (error !== undefined) throw error;
  }

  queue(name: string): FakeClaim[] {
    return this.claims.get(name) ?? [];
  }

  async createClaim(request: ClaimRequest<FakeSession>): Promise<Created<FakeClaim, ClaimsRead<FakeClaim>>> {
    this.#enter('createClaim');
    if (!request.session.alive) throw new SessionLostError('fake session gone');
    const existing = this.queue(request.name).find((c) => c.id === request.id);
    const claim = existing ?? this.#add(request);
    return this.readOnCreate ? { claim, read: this.#read(claim) } : { claim };
  }

  claimIfFree? = async (request: ClaimRequest<FakeSession>): Promise<FakeClaim | undefined> => {
    this.#enter('claimIfFree');
    const probe = { order: this.#order + 1n, mode: request.mode };
    if (blocker(this.queue(request.name), probe) !== undefined) return undefined;
    const claim = this.#add(request);
    return this.tokenAtGrant ? this.#grant(claim) : claim;
  };

  async readAhead(request: ClaimRequest<FakeSession>, own: FakeClaim): Promise<ClaimsRead<FakeClaim> | undefined> {
    this.#enter('readAhead');
    const current = this.#current(own);
    if (current === undefined) return undefined;
    return this.#read(current);
  }

  watchClaim(_request: ClaimRequest<FakeSession>, target: FakeClaim, _at: bigint | undefined, onEvent: (e: WatchEvent) => void): ClaimWatch {
    const id = Symbol('watch');
    this.watches.set(id, { target, onEvent });
    if (this.#current(target) === undefined) queueMicrotask(() => this.#fire(id, 'gone'));
    return { cancel: () => void this.watches.delete(id) };
  }

  async deleteClaim(_request: ClaimRequest<FakeSession>, claim: FakeClaim): Promise<void> {
    this.#enter('deleteClaim');
    // conditional, as the contract says: only while the stored claim still has this token
    if (this.#current(claim)?.token === claim.token) this.remove(claim);
  }

  async withdrawUnconfirmed(request: ClaimRequest<FakeSession>): Promise<void> {
    this.#enter('withdrawUnconfirmed');
    const claim = this.queue(request.name).find((c) => c.id === request.id);
    if (claim !== undefined) this.remove(claim);
  }

  async claimVanished(request: ClaimRequest<FakeSession>): Promise<void> {
    if (!request.session.alive) throw new SessionLostError(`fake session ${request.session.id} is gone`);
  }

  diagnoseLoss(): Promise<[LossReason, string]> | [LossReason, string] {
    const diagnosis: [LossReason, string] = [this.lossReason, `fake: ${this.lossReason}`];
    return this.diagnoseAtOnce ? diagnosis : Promise.resolve(diagnosis);
  }

  async predecessor(_request: ClaimRequest<FakeSession>, waited: FakeClaim): Promise<PredecessorReport> {
    return { outcome: waited.session.alive ? 'released' : 'expired', token: waited.token };
  }

  isTransient(error: unknown): boolean {
    return error instanceof BackendUnavailableError;
  }

  mapError(error: unknown): Error {
    return error as Error;
  }

  async scan(scope: ScanScope): Promise<Scan<FakeClaim>> {
    this.#enter('scan');
    const claims = [...this.claims.values()].flat().filter((c) => (scope.exact ? c.name === scope.prefix : c.name.startsWith(scope.prefix)));
    return { claims, breaks: scope.survey ? [...this.broken].map(([name, record]) => ({ name, record })) : [] };
  }

  async leaseState(lease: string): Promise<LeaseState | undefined> {
    this.#enter('leaseState');
    return lease.startsWith('s') ? { leftMs: 5_000, ttlMs: 10_000 } : undefined;
  }

  /** Conditional, as the contract says: only if the holders are still exactly `holders`. */
  async breakHolders(name: string, holders: readonly FakeClaim[], record: BreakRecord): Promise<boolean> {
    this.#enter('breakHolders');
    const now = holdersOf(this.queue(name));
    if (now.length !== holders.length || now.some((c, i) => c.id !== holders[i]!.id || c.token !== holders[i]!.token)) return false;
    for (const holder of holders) this.remove(holder);
    this.broken.set(name, record);
    return true;
  }

  watchName(): Promise<{ cancel(): void }> {
    return Promise.reject(new Error('the fake engine has no name watch'));
  }

  updateData(): Promise<boolean> {
    return Promise.reject(new Error('the fake engine keeps no recipe data'));
  }

  async close(): Promise<void> {}

  /** Delete a claim (as its owner, an operator or a lease expiry would) and fire its watches. */
  remove(claim: FakeClaim): void {
    const queue = this.queue(claim.name);
    const at = queue.findIndex((c) => c.id === claim.id);
    if (at < 0) return;
    this.#lastGone = queue.splice(at, 1)[0];
    if (queue.length === 0) this.claims.delete(claim.name);
    for (const [id, w] of this.watches) if (w.target.id === claim.id) queueMicrotask(() => this.#fire(id, 'gone'));
  }

  /** Tell every watch of `claim` that events may have been missed. */
  uncertain(claim: FakeClaim): void {
    for (const [id, w] of this.watches) if (w.target.id === claim.id) queueMicrotask(() => this.#fire(id, 'uncertain'));
  }

  /** The claims being watched now. */
  watched(): FakeClaim[] {
    return [...this.watches.values()].map((w) => w.target);
  }

  #fire(id: symbol, event: WatchEvent): void {
    const w = this.watches.get(id);
    if (w === undefined) return;
    this.watches.delete(id);
    w.onEvent(event);
  }

  #add(request: ClaimRequest<FakeSession>): FakeClaim {
    const order = ++this.#order;
    const token = this.tokenAtGrant ? 0n : order;
    const { mode, name, id, session, owner } = request;
    const claim: FakeClaim = { order, token, mode, name, id, session, owner, since: new Date(Number(order)), lease: session.id };
    this.claims.set(request.name, [...this.queue(request.name), claim]);
    return claim;
  }

  #ahead(own: FakeClaim): FakeClaim[] {
    return this.queue(own.name).filter((c) => c.order < own.order);
  }

  /** The queue ahead of `own`; with tokens at the grant, an unblocked claim is granted by this very read. */
  #read(own: FakeClaim): ClaimsRead<FakeClaim> {
    const ahead = this.#ahead(own);
    if (!this.tokenAtGrant || own.token !== 0n || blocker(ahead, own) !== undefined) return { ahead };
    return { ahead, claim: this.#grant(own) };
  }

  /** Fill in the token of `claim` (and what the grant saw of its predecessor), in place in its queue. */
  #grant(claim: FakeClaim): FakeClaim {
    const gone = this.#lastGone;
    const predecessor = gone === undefined ? {} : { predecessor: { outcome: 'released' as const, token: gone.token } };
    const granted = { ...claim, token: ++this.#grants, ...predecessor };
    const queue = this.queue(claim.name);
    queue[queue.findIndex((c) => c.id === claim.id)] = granted;
    return granted;
  }

  /** The claim stored under `claim`'s id (its granted form, once granted), if it still exists. */
  #current(claim: FakeClaim): FakeClaim | undefined {
    return this.queue(claim.name).find((c) => c.id === claim.id);
  }
}

export const owner: LockOwner = { id: 'test', host: 'localhost', pid: process.pid };
