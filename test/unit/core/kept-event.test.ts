/**
 * KeptEvent (src/core/kept-event.ts): an event that may come before its
 * watch is delivered once, either way round; sticky ones stay happened,
 * the others are used up or forgotten. watchUntil: the first of the event
 * and a timer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeptEvent, watchUntil } from '../../../src/core/kept-event.js';
import type { WatchEvent } from '../../../src/core/engine.js';

test('an event after the watch reaches it once; a cancelled watch hears nothing', () => {
  const seen: WatchEvent[] = [];
  const event = new KeptEvent({ sticky: false });
  event.watch((e) => seen.push(e));
  event.emit('uncertain');
  event.emit();
  assert.deepEqual(seen, ['uncertain'], 'the second emit is kept for the next watch, not sent to the first');
  event.watch((e) => seen.push(e)).cancel();
  assert.deepEqual(seen, ['uncertain', 'gone'], 'the kept one was delivered at once');
  event.watch((e) => seen.push(e)).cancel();
  event.emit();
  assert.deepEqual(seen, ['uncertain', 'gone']);
});

test('not sticky: a kept event is used up by one watch, and forget() drops it', () => {
  const event = new KeptEvent({ sticky: false });
  event.emit();
  assert.equal(event.kept, true);
  let runs = 0;
  event.watch(() => runs++);
  event.watch(() => runs++).cancel();
  assert.equal(runs, 1, 'used up by the first watch');
  event.emit();
  event.forget();
  event.watch(() => runs++);
  assert.equal(runs, 1, 'forgotten: the new watch waits');
});

test('sticky: once happened, every later watch sees it at once, and forget() keeps it', () => {
  const event = new KeptEvent({ sticky: true });
  let runs = 0;
  event.watch(() => runs++);
  event.emit();
  event.emit();
  assert.equal(runs, 1, 'happens once');
  event.forget();
  event.watch(() => runs++);
  event.watch(() => runs++);
  assert.equal(runs, 3);
});

test('watchUntil: the event or the timer, whichever is first, once', async () => {
  const seen: WatchEvent[] = [];
  const kept = new KeptEvent({ sticky: false });
  kept.emit('uncertain');
  watchUntil(kept, 60_000, (e) => seen.push(e));
  assert.deepEqual(seen, ['uncertain'], 'a kept event ends it at once, no timer left');
  const later = new KeptEvent({ sticky: false });
  // watchUntil's timer is unref'd (it must not keep a process up): hold the test's event loop open meanwhile
  const holdOpen = setInterval(() => {}, 1_000);
  const timedOut = new Promise<WatchEvent>((resolve) => watchUntil(later, 1, resolve));
  assert.equal(await timedOut, 'gone');
  clearInterval(holdOpen);
  later.emit();
  assert.equal(later.kept, true, 'the watch ended with the timer: the event is kept for the next one');
  const cancelled = new KeptEvent({ sticky: false });
  watchUntil(cancelled, 1, (e) => seen.push(e)).cancel();
  cancelled.emit();
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(seen, ['uncertain']);
});
