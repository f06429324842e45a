/**
 * Watching every claim of one name (Engine.watchName: an election's
 * observers, a group's watchers): one etcd watch of PUT and DELETE events on
 * the name's key range `<namespace>/locks/<name>/`.
 *
 * Armed means acknowledged. The watch starts at no explicit revision, so etcd
 * serves it from its current revision at the moment it registers it (the fast
 * path), and reports every event after the revision in its acknowledgement.
 * So the promise resolves only on that acknowledgement (the watcher's first
 * `connected`): a change made after that is reported, one made before it is in
 * the core's next read anyway.
 *
 * What fires it. Every write to a claim key of the name: a claim's creation
 * (a PUT), its deletion (release, break, lease expiry: a DELETE), a recipe's
 * `updateData` (a PUT of the same key), and also the grant-time stamp a waiter
 * writes when it is granted (engine.ts `granted`, a PUT): that one costs the
 * observers a read they did not need, never a missed change.
 *
 * Uncertain. `etcd3` re-creates a watch from the last revision it saw after
 * the stream broke, but can skip events in flight then (watch.ts); and etcd
 * cancels a watch when its revision was compacted. Both are reported as
 * `'uncertain'`, and the core reads again. The watch is one-shot: after the
 * first event it cancels itself and calls nothing more.
 *
 * @internal
 * @module
 */
import type { Etcd3 } from 'etcd3';
import type { ClaimWatch, NameEvent } from '../../core/engine.js';
import { BackendUnavailableError } from '../../errors.js';
import { mapError } from './map-error.js';
import type { Watches } from './watch.js';

/**
 * Watch the claim keys under `prefix` for any change; resolves once etcd
 * acknowledged the watch, or rejects (mapped, saying `doing`) when it cannot be
 * set within `armWithinMs` (etcd unreachable, the client closed).
 *
 * @example
 * ```ts
 * const watch = await watchPrefix(etcd, watches, Buffer.from(keys.queue('leader')), 5_000, 'watching "leader"', (event) => reread(event));
 * watch.cancel();
 * ```
 */
export function watchPrefix(
  etcd: Etcd3,
  watches: Watches,
  prefix: Buffer,
  armWithinMs: number,
  doing: string,
  onEvent: (event: NameEvent) => void,
): Promise<ClaimWatch> {
  watches.keepStreamOpen(); // a name watch is often the only one: keep the stream for the next
  const watcher = etcd.watch().prefix(prefix).watcher();
  const untrack = watches.track(watcher);
  let active = true;
  let armed = false;
  const cancel = (): void => {
    if (!active) return;
    active = false;
    untrack();
    watcher.cancel().catch(() => {
      // the stream is gone already: nothing left to cancel
    });
  };
  const report = (event: NameEvent): void => {
    if (!active) return;
    cancel(); // one-shot: nothing is reported after the first event
    onEvent(event);
  };
  return new Promise<ClaimWatch>((resolve, reject) => {
    const fail = (error: unknown): void => {
      clearTimeout(timer);
      cancel();
      reject(mapError(error, doing));
    };
    const timer = setTimeout(
      () => fail(new BackendUnavailableError(`etcd did not acknowledge the watch within ${armWithinMs} ms while ${doing}`)),
      armWithinMs,
    );
    watcher.on('connected', () => {
      if (!armed) {
        armed = true;
        clearTimeout(timer);
        resolve({ cancel });
        return;
      }
      report('uncertain'); // re-created after a break: events in flight may have been skipped
    });
    // before the acknowledgement a broken stream is simply retried by etcd3 (the timer bounds it)
    watcher.on('disconnected', () => {
      if (armed) report('uncertain');
    });
    watcher.on('put', () => report('changed'));
    watcher.on('delete', () => report('changed'));
    watcher.on('error', (error: unknown) => {
      // etcd cancelled the watch (compacted revision, permission, …): it is gone, nothing to cancel
      const wasActive = active;
      active = false;
      untrack();
      if (!wasActive) return;
      if (armed) {
        onEvent('uncertain');
        return;
      }
      clearTimeout(timer);
      reject(mapError(error, doing));
    });
  });
}
