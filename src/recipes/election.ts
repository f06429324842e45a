/**
 * Leader election on every engine, as a lock: the leader of election `name`
 * is the holder of the lock `@election/<name>` (names.ts), the candidates are
 * its waiters, in the engine's queue order (no herd: each wakes only when the
 * candidate before it goes). So the term is the lock's fencing token, strictly
 * increasing across leaders, and a leader learns it can no longer be trusted
 * exactly when a lock holder does: its session expired (a pause past the TTL),
 * its claim was deleted or broken. A candidate whose session is lost stops
 * campaigning (its wait rejects with SessionLostError). A new leader is
 * elected within the TTL plus the engine's recovery bound after the old one
 * dies, because that is when its claim goes.
 *
 * The leader's value (`proclaim`) is the recipe data stored with its claim,
 * replaced conditionally on the claim still being this term's: a deposed
 * leader's proclaim writes nothing and rejects.
 *
 * Observing is push-based (name-changes.ts): the engine's watch of the
 * election's lock name, and one read per change.
 *
 * @module
 */
import type { LockInfo, LockOwner } from '../contracts/lock-info.js';
import type { WaiterInfo } from '../distributed/driver.js';
import type { RecipeGuard, RecipeHost } from './host.js';
import { nameStates } from './name-changes.js';
import { recipeLockName } from './names.js';
import { checkData } from './recipe-options.js';
import { replaceData } from './replace-data.js';

/**
 * The current leader of an election, as an observer sees it.
 *
 * @example
 * ```ts
 * const leader = await coordinator.leader('scheduler');
 * if (leader !== undefined) console.log(`term ${leader.term}: ${leader.owner.host} at ${leader.value}`);
 * ```
 */
export interface LeaderInfo {
  /** The election's name. */
  readonly name: string;
  /** The leader's term: its claim's fencing token, strictly greater than every earlier term. */
  readonly term: bigint;
  readonly owner: LockOwner;
  /** When it became leader. */
  readonly since: Date;
  /** What it proclaimed (or campaigned with); `undefined` if nothing. Untrusted text: escape it to show it. */
  readonly value: string | undefined;
  /** When its lease runs out unless renewed, when the engine tells. */
  readonly expiresAt?: Date;
}

/**
 * One state of an election, as `observe` yields it: the leader, or none.
 *
 * @example
 * ```ts
 * for await (const { leader } of coordinator.observe('scheduler')) route(leader?.value);
 * ```
 */
export interface ElectionState {
  readonly name: string;
  readonly leader: LeaderInfo | undefined;
}

/**
 * Being leader of an election, from `campaign` until `resign()` or loss.
 *
 * @example
 * ```ts
 * await using leadership = await coordinator.campaign('scheduler', { value: 'http://10.0.0.7:8080' });
 * await schedule({ term: leadership.term, signal: leadership.signal });
 * ```
 */
export class Leadership implements AsyncDisposable {
  /** The election's name. */
  readonly name: string;
  /** This term: the fencing token to pass to whatever the leader writes. */
  readonly term: bigint;
  /** When this term began. */
  readonly since: Date;
  readonly #guard: RecipeGuard;
  #value: string | undefined;

  /** @internal Use `coordinator.campaign()`. */
  constructor(name: string, guard: RecipeGuard, value: string | undefined) {
    this.name = name;
    this.term = guard.token;
    this.since = guard.since;
    this.#guard = guard;
    this.#value = value;
  }

  /** Aborted, with LockLostError, the moment this leadership can no longer be trusted. */
  get signal(): AbortSignal {
    return this.#guard.signal;
  }

  /** Whether it was lost (deposed, expired, session lost). */
  get lost(): boolean {
    return this.#guard.signal.aborted;
  }

  /** The value last proclaimed. */
  get value(): string | undefined {
    return this.#value;
  }

  /**
   * Publish `value` to observers, if still leader of this term (a conditional
   * write on the engine). Rejects with LockLostError, writing nothing, when the
   * leadership is gone.
   *
   * @example
   * ```ts
   * await leadership.proclaim(JSON.stringify({ url: 'http://10.0.0.7:8080', epoch: 3 }));
   * ```
   */
  async proclaim(value: string): Promise<void> {
    checkData(value, 'value');
    await replaceData(this.#guard, value, `not leader of election "${this.name}" (term ${this.term}) any more`);
    this.#value = value;
  }

  /**
   * Step down: the next candidate is elected at once. Idempotent.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => void leadership.resign());
   * ```
   */
  resign(): Promise<void> {
    return this.#guard.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.resign();
  }
}

/** Wait to become leader of `name`. */
export async function campaign(host: RecipeHost, name: string, options: { value?: string | undefined; signal?: AbortSignal | undefined; timeout?: number | undefined }): Promise<Leadership> {
  const guard = await host.claim(recipeLockName('election', name), { mode: 'exclusive', ...options, data: options.value });
  return new Leadership(name, guard, options.value);
}

/** The current leader of `name`, if any. */
export async function leader(host: RecipeHost, name: string): Promise<LeaderInfo | undefined> {
  const [holder] = await host.holders(recipeLockName('election', name));
  return holder === undefined ? undefined : leaderFrom(name, holder);
}

/** The candidates waiting behind the leader, in the order they would be elected; `undefined` when the engine cannot tell. */
export async function candidates(host: RecipeHost, name: string): Promise<WaiterInfo[] | undefined> {
  const lockName = recipeLockName('election', name);
  const survey = await host.survey(lockName);
  if (survey === undefined) return undefined;
  return survey.find((s) => s.name === lockName)?.waiters ?? [];
}

/** Every change of leader or of its value, starting with the current state. */
export function observe(host: RecipeHost, name: string, signal?: AbortSignal): AsyncGenerator<ElectionState, void, undefined> {
  const read = async (): Promise<ElectionState> => ({ name, leader: await leader(host, name) });
  return nameStates(host, recipeLockName('election', name), read, sameLeader, (state) => [state.leader?.expiresAt], signal);
}

/** Options of `lead`. */
export interface LeadOptions {
  /** The value to campaign with (see `Leadership.proclaim`). */
  value?: string;
  /** Campaign again when leadership is lost while `fn` runs (default false: reject with the loss). */
  recampaign?: boolean;
  /** Stops campaigning (and, passed on through `leadership.signal`'s reason, nothing else: `fn` must watch it). */
  signal?: AbortSignal;
}

/**
 * Run `fn` while leader: campaign, call `fn(leadership)`, resign however it
 * ends. If leadership is lost while `fn` runs, reject with the loss, or with
 * `recampaign` campaign again and call `fn` again.
 */
export async function lead<R>(host: RecipeHost, name: string, fn: (leadership: Leadership) => R | PromiseLike<R>, options: LeadOptions): Promise<Awaited<R>> {
  for (;;) {
    const leadership = await campaign(host, name, { value: options.value, signal: options.signal });
    let result: Awaited<R>;
    try {
      result = await fn(leadership);
    } catch (error) {
      if (!leadership.lost || options.recampaign !== true) throw error;
      continue; // fn failed because leadership was lost: campaign again
    } finally {
      await leadership.resign();
    }
    if (!leadership.lost) return result;
    if (options.recampaign !== true) throw leadership.signal.reason;
  }
}

function leaderFrom(name: string, holder: LockInfo): LeaderInfo {
  const info = { name, term: holder.token, owner: holder.owner, since: holder.since, value: holder.data };
  return holder.expiresAt === undefined ? info : { ...info, expiresAt: holder.expiresAt };
}

function sameLeader(a: ElectionState, b: ElectionState): boolean {
  return a.leader?.term === b.leader?.term && a.leader?.value === b.leader?.value;
}
