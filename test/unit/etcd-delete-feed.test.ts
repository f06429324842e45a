/**
 * The etcd driver's shared DELETE feed (src/drivers/etcd/delete-feed.ts), on a
 * fake `etcd3` watcher that the test drives event by event: which deletions a
 * new subscription is told about, and when it must get a watch of its own.
 * The feed on a real etcd is covered by the conformance, chaos and cluster tests;
 * this pins down the orderings those can only hit by chance (a deletion that
 * reached the feed before the read it follows was answered).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { DeleteFeed, RECENT_LIMIT } from '../../src/drivers/etcd/delete-feed.js';
import type { DeleteWatch, DeleteWatchHandlers, Watches } from '../../src/drivers/etcd/watch.js';

const ROOT = 'ns/locks/';

/** A fake etcd whose one prefix watcher the test drives. */
function fakeEtcd(): { etcd: Etcd3; watcher: EventEmitter } {
  const watcher = Object.assign(new EventEmitter(), { cancel: () => Promise.resolve() });
  const builder = { prefix: () => builder, only: () => builder, watcher: () => watcher };
  return { etcd: { watch: () => builder } as unknown as Etcd3, watcher };
}

/** A fallback that records which keys were sent to a watch of their own. */
function fakeFallback(): { fallback: Watches; own: string[] } {
  const own: string[] = [];
  const fallback = {
    onDelete: (key: Buffer, from: bigint): DeleteWatch => {
      own.push(`${key.toString()}@${from}`);
      return { cancel: () => {}, retarget: () => {} };
    },
  } as unknown as Watches;
  return { fallback, own };
}

function recorder(): DeleteWatchHandlers & { deleted: bigint[]; uncertain: number } {
  const r = {
    deleted: [] as bigint[],
    uncertain: 0,
    onDelete: (revision: bigint) => void r.deleted.push(revision),
    onUncertain: () => void r.uncertain++,
  };
  return r;
}

const key = (name: string): Buffer => Buffer.from(ROOT + name);
const header = (revision: number) => ({ header: { revision: String(revision) } });
const deletion = (name: string, revision: number) => ({ key: key(name), mod_revision: String(revision) });
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function openFeed(at = 10) {
  const { etcd, watcher } = fakeEtcd();
  const { fallback, own } = fakeFallback();
  const feed = new DeleteFeed(etcd, ROOT, fallback);
  feed.start();
  watcher.emit('connected', header(at)); // the feed covers every DELETE from at + 1
  return { feed, watcher, own };
}

test('a deletion the feed dispatched before the subscription is still reported to it (the two-process deadlock)', async () => {
  const { feed, watcher, own } = openFeed();
  // The claim's transaction read the blocker at revision 46; its deletion at 47 reaches the feed first.
  watcher.emit('delete', deletion('jobs/a', 47));
  const waiter = recorder();
  feed.onDelete(key('jobs/a'), 47n, waiter);
  await turn();
  assert.deepEqual(waiter.deleted, [47n]);
  assert.deepEqual(own, [], 'served by the feed, no watch of its own');
});

test('a deletion older than the subscription, or of another key, is not reported', async () => {
  const { feed, watcher } = openFeed();
  watcher.emit('delete', deletion('jobs/a', 20));
  watcher.emit('delete', deletion('jobs/b', 30));
  const waiter = recorder();
  feed.onDelete(key('jobs/a'), 21n, waiter);
  await turn();
  assert.deepEqual(waiter.deleted, []);
  watcher.emit('delete', deletion('jobs/a', 31)); // a later claim under the same key
  assert.deepEqual(waiter.deleted, [31n]);
});

test('a subscription cancelled before it is told hears nothing', async () => {
  const { feed, watcher } = openFeed();
  watcher.emit('delete', deletion('jobs/a', 47));
  const waiter = recorder();
  feed.onDelete(key('jobs/a'), 40n, waiter).cancel();
  await turn();
  assert.deepEqual(waiter.deleted, []);
});

test('after a reconnection the kept deletions are forgotten: an older subscription gets a watch of its own', async () => {
  const { feed, watcher, own } = openFeed();
  watcher.emit('delete', deletion('jobs/a', 47));
  const before = recorder();
  feed.onDelete(key('jobs/b'), 48n, before);
  watcher.emit('disconnected');
  watcher.emit('connected', header(60));
  assert.equal(before.uncertain, 1, 'a subscriber at the reconnection re-reads');
  const waiter = recorder();
  feed.onDelete(key('jobs/a'), 50n, waiter);
  await turn();
  assert.deepEqual(waiter.deleted, []);
  assert.deepEqual(own, [`${ROOT}jobs/a@50`]);
});

test(`beyond the last ${RECENT_LIMIT} deleted keys, an older subscription gets a watch of its own`, async () => {
  const { feed, watcher, own } = openFeed();
  for (let i = 0; i <= RECENT_LIMIT; i++) watcher.emit('delete', deletion(`k${i}`, 100 + i));
  // k0 (revision 100) was dropped: a subscription from 100 cannot be answered from memory
  const dropped = recorder();
  feed.onDelete(key('k0'), 100n, dropped);
  // k1 (revision 101) is still kept
  const kept = recorder();
  feed.onDelete(key('k1'), 101n, kept);
  await turn();
  assert.deepEqual(own, [`${ROOT}k0@100`]);
  assert.deepEqual(kept.deleted, [101n]);
});
