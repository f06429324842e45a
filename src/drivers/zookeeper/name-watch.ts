/**
 * Watching every claim of one name (`Engine.watchName`) with ZooKeeper's own
 * one-shot watches: a children watch on the lock node (a claim created or
 * deleted, or the lock node deleted) and a data watch on each claim node
 * (`exists`: its data replaced by `updateData`, or its deletion; foreign
 * children too, since they are claims of the queue). When the
 * lock node does not exist yet, an `exists` watch on it reports its creation,
 * which is what the first claim of the name does.
 *
 * Why a watch per claim rather than `updateData` also touching something one
 * watch sees: the only node all claims share is the lock node, whose data is
 * the break's departure record (record.ts) that displaced holders and the next
 * holder rely on, and whose mzxid tells a waiter that a break happened
 * (engine.ts `predecessor`). Writing it on every update would mean a read and
 * a versioned rewrite of someone else's record in every update, and would make
 * every waiter take the break path. So `updateData` stays one conditional
 * `setData` of our claim node, and an observer pays 1 + N requests per arming
 * (N claims of the name), pipelined in one round trip and without data.
 *
 * Everything fires once, and the first event of any of the watches is the
 * watch's one event. ZooKeeper re-arms watches after a reconnection within the
 * session (the client's SetWatches, from the last zxid it saw), so a
 * disconnection loses nothing; the session's end (expiry, or the client
 * closed) loses them all, and is reported as `'uncertain'`.
 *
 * One client watcher per path. node-zookeeper-client adds a listener for every
 * watcher passed, and a cancelled watch cannot take its listener back; an
 * observer re-arms after every change, so a leader that proclaims often would
 * pile listeners on its election's lock node until a claim came or went. So a
 * path already watched on this client (its watch has not fired yet) is not
 * watched again: the new subscriber joins the outstanding watch, which covers
 * it (it fires on the next change after its registration, which came first).
 *
 * One leftover is accepted: a claim deleted between the children read and its
 * `exists` leaves an existence watch on its path (ZooKeeper keeps it until the
 * session ends; a sequential path never comes back). It holds only a small
 * forwarding function, emptied by cancel.
 *
 * @internal
 * @module
 */
import type { ClaimWatch, NameEvent } from '../../core/engine.js';
import type { ZkClient } from './client.js';
import { ZkCode, zkCode } from './map-error.js';
import type { ZkLayout } from './layout.js';
import { toQueue } from './queue.js';

/**
 * Watch the lock node `dir` and each of its claims on `client`; resolves once
 * every watch is set. An event seen while arming is delivered just after the
 * promise resolved (the caller then reads and may see its change already).
 * Rejects with the client's error (unmapped) when a watch cannot be set.
 *
 * @example
 * ```ts
 * const watch = await watchClaims(client, paths.lockDir('leader'), paths.layout, (event) => reread(event));
 * watch.cancel();
 * ```
 */
export async function watchClaims(client: ZkClient, dir: string, layout: ZkLayout, onEvent: (event: NameEvent) => void): Promise<ClaimWatch> {
  let armed = false;
  let pending: NameEvent | undefined;
  const forward: { to: ((event: NameEvent) => void) | undefined } = {
    to: (event) => {
      if (!armed) return void (pending ??= event);
      stop();
      onEvent(event);
    },
  };
  // The one subscriber of every registration: it holds only `forward`, emptied by stop.
  const subscriber = (): void => forward.to?.('changed');
  const shared = sharedWatches(client);
  const subscriptions: (() => void)[] = [];
  const watch: Watch = async (key, call) => {
    const { watcher, unsubscribe, failed } = shared.join(key, subscriber);
    subscriptions.push(unsubscribe);
    try {
      return await call(watcher);
    } catch (error) {
      failed(); // ZooKeeper set no watch: the next caller must register its own
      throw error;
    }
  };
  const unended = client.onEnded(() => forward.to?.('uncertain'));
  function stop(): void {
    forward.to = undefined;
    unended();
    for (const unsubscribe of subscriptions) unsubscribe();
  }
  try {
    await arm(client, dir, layout, watch);
  } catch (error) {
    stop();
    throw error;
  }
  armed = true;
  if (pending !== undefined) {
    const event = pending;
    // after the caller has the watch in hand (its cancel stops this too)
    setImmediate(() => forward.to?.(event));
  }
  return { cancel: stop };
}

/** Make a watching `call` for the watch `key`, with a watcher only when none is outstanding. */
type Watch = <T>(key: string, call: (watcher: Watcher | undefined) => Promise<T>) => Promise<T>;
type Watcher = () => void;

/** Set the children watch (or the creation watch) on `dir`, then a data watch on each claim. */
async function arm(client: ZkClient, dir: string, layout: ZkLayout, watch: Watch): Promise<void> {
  for (;;) {
    let children: string[];
    try {
      children = await watch(`children ${dir}`, (watcher) => client.getChildren(dir, watcher));
    } catch (error) {
      if (zkCode(error) !== ZkCode.NO_NODE) throw error;
      if ((await watch(`exists ${dir}`, (watcher) => client.exists(dir, watcher))) === null) return; // the first claim creates it: that is the event
      continue; // created in between: watch its children
    }
    await Promise.all(toQueue(children, layout).map(({ node }) => watch(`exists ${dir}/${node}`, (watcher) => client.exists(`${dir}/${node}`, watcher))));
    return;
  }
}

/**
 * The watches outstanding on one client, by kind and path, each with the
 * subscribers it will tell when it fires (once). Cleared when the session ends:
 * its watches are gone with it.
 */
class SharedWatches {
  readonly #outstanding = new Map<string, Set<Watcher>>();

  constructor(client: ZkClient) {
    client.onEnded(() => this.#outstanding.clear());
  }

  /**
   * Subscribe to the watch `key`; `watcher` is set only when the caller must
   * register it (none outstanding), and `failed` undoes that when ZooKeeper refused it.
   */
  join(key: string, subscriber: Watcher): { watcher: Watcher | undefined; unsubscribe: () => void; failed: () => void } {
    let subscribers = this.#outstanding.get(key);
    const fresh = subscribers === undefined;
    if (subscribers === undefined) this.#outstanding.set(key, (subscribers = new Set()));
    subscribers.add(subscriber);
    const fire = (): void => {
      if (this.#outstanding.get(key) === subscribers) this.#outstanding.delete(key);
      for (const tell of [...subscribers]) tell();
    };
    const failed = (): void => {
      if (fresh && this.#outstanding.get(key) === subscribers) this.#outstanding.delete(key);
    };
    return { watcher: fresh ? fire : undefined, unsubscribe: () => void subscribers.delete(subscriber), failed };
  }
}

const sharing = new WeakMap<ZkClient, SharedWatches>();

function sharedWatches(client: ZkClient): SharedWatches {
  let shared = sharing.get(client);
  if (shared === undefined) sharing.set(client, (shared = new SharedWatches(client)));
  return shared;
}
