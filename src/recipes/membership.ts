/**
 * Group membership on every engine, as a shared lock: every member of group
 * `name` holds the lock `@group/<name>` in shared mode, on its coordinator's
 * session, with its metadata as the claim's data. So a member whose session
 * ends (its process died, or paused past the TTL) leaves within the TTL plus
 * the engine's recovery bound, and learns it left through `signal`, exactly as
 * a lock holder learns its loss. A member's id is its claim's fencing token:
 * unique, and greater for every later join.
 *
 * Watching is push-based (name-changes.ts): the engine's watch of the group's
 * lock name and one read per change, turned into join / leave / update events.
 *
 * @module
 */
import type { LockInfo, LockOwner } from '../contracts/lock-info.js';
import type { RecipeGuard, RecipeHost } from './host.js';
import { nameStates } from './name-changes.js';
import { recipeLockName } from './names.js';
import { checkData } from './recipe-options.js';
import { replaceData } from './replace-data.js';

/**
 * One member of a group, as `members()` and `watchMembers()` report it.
 *
 * @example
 * ```ts
 * for (const member of await coordinator.members('workers')) console.log(member.id, member.owner.host, member.metadata);
 * ```
 */
export interface MemberInfo {
  /** The group's name. */
  readonly group: string;
  /** The member's id: its claim's fencing token, never reused. */
  readonly id: bigint;
  readonly owner: LockOwner;
  /** When it joined. */
  readonly since: Date;
  /** Its metadata; `undefined` if none. Untrusted text: escape it to show it. */
  readonly metadata: string | undefined;
  /** When its lease runs out unless renewed, when the engine tells. */
  readonly expiresAt?: Date;
}

/**
 * What `watchMembers` yields: the members present when it starts (as joins),
 * then every join, leave and metadata update.
 *
 * @example
 * ```ts
 * for await (const event of coordinator.watchMembers('workers')) console.log(event.type, event.member.id);
 * ```
 */
export interface MemberEvent {
  readonly type: 'join' | 'leave' | 'update';
  readonly member: MemberInfo;
}

/**
 * Being a member of a group, from `join` until `leave()` or loss.
 *
 * @example
 * ```ts
 * await using membership = await coordinator.join('workers', { metadata: JSON.stringify({ slots: 4 }) });
 * membership.signal.addEventListener('abort', () => stopTakingWork());
 * ```
 */
export class Membership implements AsyncDisposable {
  readonly group: string;
  /** This member's id (its claim's fencing token). */
  readonly id: bigint;
  readonly since: Date;
  readonly #guard: RecipeGuard;
  #metadata: string | undefined;

  /** @internal Use `coordinator.join()`. */
  constructor(group: string, guard: RecipeGuard, metadata: string | undefined) {
    this.group = group;
    this.id = guard.token;
    this.since = guard.since;
    this.#guard = guard;
    this.#metadata = metadata;
  }

  /** Aborted, with LockLostError, the moment this member is no longer in the group. */
  get signal(): AbortSignal {
    return this.#guard.signal;
  }

  /** Whether the membership was lost (session expired, removed by an operator). */
  get lost(): boolean {
    return this.#guard.signal.aborted;
  }

  get metadata(): string | undefined {
    return this.#metadata;
  }

  /**
   * Replace this member's metadata, if still a member (a conditional write).
   * Rejects with LockLostError, writing nothing, when it is not.
   *
   * @example
   * ```ts
   * await membership.update(JSON.stringify({ slots: 2 }));
   * ```
   */
  async update(metadata: string): Promise<void> {
    checkData(metadata, 'metadata');
    await replaceData(this.#guard, metadata, `not a member of group "${this.group}" (id ${this.id}) any more`);
    this.#metadata = metadata;
  }

  /**
   * Leave the group. Idempotent.
   *
   * @example
   * ```ts
   * await membership.leave();
   * ```
   */
  leave(): Promise<void> {
    return this.#guard.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.leave();
  }
}

/** Join `group`. */
export async function join(host: RecipeHost, group: string, options: { metadata?: string | undefined; signal?: AbortSignal | undefined; timeout?: number | undefined }): Promise<Membership> {
  const guard = await host.claim(recipeLockName('group', group), { mode: 'shared', signal: options.signal, timeout: options.timeout, data: options.metadata });
  return new Membership(group, guard, options.metadata);
}

/** The members of `group` now, oldest first. */
export async function members(host: RecipeHost, group: string): Promise<MemberInfo[]> {
  return (await host.holders(recipeLockName('group', group))).map((holder) => memberFrom(group, holder));
}

/** The members present now as joins, then every change. */
export async function* watchMembers(host: RecipeHost, group: string, signal?: AbortSignal): AsyncGenerator<MemberEvent, void, undefined> {
  let known = new Map<bigint, MemberInfo>();
  const read = (): Promise<MemberInfo[]> => members(host, group);
  for await (const now of nameStates(host, recipeLockName('group', group), read, sameMembers, (all) => all.map((m) => m.expiresAt), signal)) {
    const next = new Map(now.map((member) => [member.id, member]));
    for (const [id, member] of known) if (!next.has(id)) yield { type: 'leave', member };
    for (const [id, member] of next) {
      const before = known.get(id);
      if (before === undefined) yield { type: 'join', member };
      else if (before.metadata !== member.metadata) yield { type: 'update', member };
    }
    known = next;
  }
}

function memberFrom(group: string, holder: LockInfo): MemberInfo {
  const info = { group, id: holder.token, owner: holder.owner, since: holder.since, metadata: holder.data };
  return holder.expiresAt === undefined ? info : { ...info, expiresAt: holder.expiresAt };
}

function sameMembers(a: MemberInfo[], b: MemberInfo[]): boolean {
  return a.length === b.length && a.every((member, i) => member.id === b[i]!.id && member.metadata === b[i]!.metadata);
}
