/**
 * A granted lock on ZooKeeper: its token, the watch on its own claim node that
 * detects loss, and the conditional release.
 *
 * Held means: our claim node exists (its path carries our claim's GUID, so it
 * can only be ours) and our session is alive. The data watch set on the node
 * when it was claimed reports its deletion; the reason is then read from the
 * lock node: our token among the last break's tokens means "broken", anything
 * else "deleted" (someone removed the node by hand). The session's expiry is
 * not seen here: the Session reports it, for every lock at once.
 *
 * Release is one request: delete our node *at the version we read* (the path
 * carries our GUID, so it cannot be a later holder's either). If our node is
 * gone already, nothing is deleted.
 *
 * @internal
 * @module
 */
import { LossReporter } from '../../distributed/loss-reporter.js';
import type { LossReason } from '../../errors.js';
import type { DriverLock, PredecessorReport } from '../../distributed/driver.js';
import { ZkEventType, type ZkEvent } from './client.js';
import { isConnectionLoss, isSessionGone, mapError, ZkCode, zkCode } from './map-error.js';
import type { ZkPaths } from './paths.js';
import { decodeBreak, departureOf } from './record.js';
import type { ZkSession } from './session.js';

/**
 * Routes the events of a claim node's watch to whoever owns the claim now.
 *
 * @example
 * ```ts
 * own.handler = (event) => heldLock.onEvent(event); // the claim hands its watch over at the grant
 * ```
 */
export interface OwnWatch {
  handler: (event: ZkEvent) => void;
  /** The function registered with the client (stable: the client dedups watchers by identity). */
  readonly watcher: (event: ZkEvent) => void;
}

/**
 * An OwnWatch whose events go to `handler` until someone replaces it.
 *
 * @example
 * ```ts
 * const own = ownWatch((event) => claim.onOwnEvent(event));
 * await client.getData(path, own.watcher);
 * ```
 */
export function ownWatch(handler: (event: ZkEvent) => void): OwnWatch {
  const own: OwnWatch = { handler, watcher: (event) => own.handler(event) };
  return own;
}

/**
 * What a held lock is made of.
 *
 * @example
 * ```ts
 * new ZkHeldLock({ paths, session, name, path, version: 0, token, own, recoveredGuid: undefined, predecessor: undefined });
 * ```
 */
export interface HeldClaim {
  readonly paths: ZkPaths;
  readonly session: ZkSession;
  readonly name: string;
  /** Full path of our claim node. */
  readonly path: string;
  /** Its version when read (0: we never change it). */
  readonly version: number;
  readonly token: bigint;
  readonly own: OwnWatch;
  /** The claim's GUID, when a create of it had to be recovered (a stray duplicate may appear). */
  readonly recoveredGuid: string | undefined;
  readonly predecessor: PredecessorReport | undefined;
}

/**
 * A lock granted by ZooKeeper.
 *
 * @example
 * ```ts
 * lock.onLost = (reason, detail) => guard.markLost(reason, detail);
 * await lock.release(); // deletes our node only if it still is ours
 * ```
 */
export class ZkHeldLock extends LossReporter  implements DriverLock {
  readonly token: bigint;
  readonly since = new Date();
  readonly predecessor?: PredecessorReport;
  readonly #claim: HeldClaim;
  #state: 'held' | 'lost' | 'released' = 'held';
  #release: Promise<void> | undefined;

  constructor(claim: HeldClaim) {
    super();
    this.#claim = claim;
    this.token = claim.token;
    if (claim.predecessor !== undefined) this.predecessor = claim.predecessor;
    claim.own.handler = (event) => this.#onOwnEvent(event);
  }

  /**
   * Delete our node if it is still this grant's, recording the departure.
   * Already gone is success. While disconnected it waits for the connection
   * (at most as long as the session lives: a session lost or closed took our
   * node with it).
   */
  release(): Promise<void> {
    this.#release ??= this.#releaseOnce();
    return this.#release;
  }

  async #releaseOnce(): Promise<void> {
    const wasLost = this.#state === 'lost';
    this.#state = 'released';
    const { session, name, path, version } = this.#claim;
    const client = session.client;
    const attempt = (): Promise<void> => client.remove(path, version);
    try {
      for (;;) {
        try {
          await attempt();
          break;
        } catch (error) {
          if (!isConnectionLoss(error) || wasLost) throw error;
          await client.whenConnected();
        }
      }
    } catch (error) {
      const code = zkCode(error);
      if (code === ZkCode.NO_NODE || code === ZkCode.BAD_VERSION || isSessionGone(error) || client.closed) return;
      if (isConnectionLoss(error)) {
        session.reaper.withdraw(() => attempt().catch(ignoreGone));
        return;
      }
      if (!wasLost) throw mapError(error, `releasing "${name}"`);
    } finally {
      this.#removeStrays();
    }
  }

  /** A create that had to be recovered may have left a duplicate of our claim: remove it too. */
  #removeStrays(): void {
    const guid = this.#claim.recoveredGuid;
    if (guid === undefined) return;
    const { session, paths, name } = this.#claim;
    const dir = paths.lockDir(name);
    session.reaper.withdraw(async () => {
      const children = await session.client.getChildren(dir).catch(ignoreGone);
      for (const node of children ?? []) {
        if (node.startsWith(`${guid}-`)) await session.client.remove(`${dir}/${node}`, -1).catch(ignoreGone);
      }
    });
  }

  #onOwnEvent(event: ZkEvent): void {
    if (this.#state !== 'held') return;
    if (event.type === ZkEventType.DELETED) {
      void this.#diagnose().then(([reason, detail]) => this.#lose(reason, detail));
      return;
    }
    // Nothing of ours changes a claim node's data; watch again if someone did.
    this.#claim.session.client.getData(this.#claim.path, this.#claim.own.watcher).catch((error: unknown) => {
      if (zkCode(error) === ZkCode.NO_NODE) this.#onOwnEvent({ type: ZkEventType.DELETED, path: this.#claim.path });
    });
  }

  /** Our node was deleted while our session lives: by a break, or by hand. */
  async #diagnose(): Promise<[LossReason, string]> {
    const { session, paths, name, token } = this.#claim;
    try {
      const [dir, broken] = await Promise.all([
        session.client.getData(paths.lockDir(name)),
        session.client.getData(paths.broken(name)).catch(() => undefined),
      ]);
      if (departureOf(dir.data, token) === 'broken') {
        const record = decodeBreak(broken?.data);
        const how = record === undefined ? '' : ` by ${record.by} at ${record.at.toISOString()}: ${record.reason}`;
        return ['broken', `broken${how}`];
      }
    } catch {
      // could not read why: report what we know
    }
    return ['deleted', 'the claim node was deleted on zookeeper by someone else'];
  }

  #lose(reason: LossReason, detail: string): void {
    if (this.#state !== 'held') return;
    this.#state = 'lost';
    this.reportLoss(reason, detail);
  }
}

/** Gone (node, session or client) is what a withdrawal wants; anything else is for the caller. */
function ignoreGone(error: unknown): undefined {
  if (zkCode(error) === ZkCode.NO_NODE || zkCode(error) === ZkCode.BAD_VERSION || isSessionGone(error)) return undefined;
  throw error;
}
