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
  // The one watcher of every registration: it holds only `forward`, emptied by stop.
  const watcher = (): void => forward.to?.('changed');
  const unended = client.onEnded(() => forward.to?.('uncertain'));
  function stop(): void {
    forward.to = undefined;
    unended();
  }
  try {
    await arm(client, dir, layout, watcher);
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

/** Set the children watch (or the creation watch) on `dir`, then a data watch on each claim. */
async function arm(client: ZkClient, dir: string, layout: ZkLayout, watcher: () => void): Promise<void> {
  for (;;) {
    let children: string[];
    try {
      children = await client.getChildren(dir, watcher);
    } catch (error) {
      if (zkCode(error) !== ZkCode.NO_NODE) throw error;
      if ((await client.exists(dir, watcher)) === null) return; // the first claim creates it: that is the event
      continue; // created in between: watch its children
    }
    await Promise.all(toQueue(children, layout).map((claim) => client.exists(`${dir}/${claim.node}`, watcher)));
    return;
  }
}
