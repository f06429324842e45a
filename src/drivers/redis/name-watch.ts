/**
 * A watch of every claim of one name (Engine.watchName) on Redis: a route on
 * the name's channel `<ns>:claims:<name>`, to which every script that creates,
 * deletes or rewrites a claim of the name publishes (lua.ts, `changed`). It is
 * armed once Redis confirmed the SUBSCRIBE: a script that runs after that
 * publishes to us. When the pub/sub connection comes back after a drop, the
 * messages sent meanwhile are lost: the watch says `'uncertain'`.
 *
 * One-shot, like every watch the core sets: the first event is the only one,
 * and after `cancel()` (or that event) no callback fires. An event that
 * arrives before `arm()` resolved (ioredis may hand a message over in the same
 * turn as the subscription's confirmation) is delivered just after, so the
 * core always holds the watch it is told about.
 *
 * @internal
 * @module
 */
import type { ClaimWatch, NameEvent } from '../../core/engine.js';
import type { ChannelRoute, Notifications } from './notifications.js';

/**
 * The watch of one name's claims.
 *
 * @example
 * ```ts
 * const watch = new NameWatch(notifications, nameChannel(prefix, 'jobs'), (event) => console.log(event));
 * await watch.arm(); // every change from now on is reported
 * watch.cancel();
 * ```
 */
export class NameWatch implements ClaimWatch, ChannelRoute {
  readonly #notifications: Notifications;
  readonly #channel: string;
  readonly #onEvent: (event: NameEvent) => void;
  /** `arming` until SUBSCRIBE is confirmed; `fired` after the one event; `cancelled` for good. */
  #state: 'arming' | 'armed' | 'fired' | 'cancelled' = 'arming';
  /** An event that came before `arm()` resolved: delivered once it has. */
  #early: NameEvent | undefined;

  constructor(notifications: Notifications, channel: string, onEvent: (event: NameEvent) => void) {
    this.#notifications = notifications;
    this.#channel = channel;
    this.#onEvent = onEvent;
  }

  /** Subscribe the name's channel; resolves once Redis confirmed it. Rejects (mapped by the caller) when it cannot. */
  async arm(): Promise<void> {
    await this.#notifications.add(this.#channel, this);
    if (this.#state !== 'arming') return;
    this.#state = 'armed';
    const early = this.#early;
    // after the caller's await: it holds the watch before it hears of the event
    if (early !== undefined) setImmediate(() => this.#fire(early));
  }

  message(): void {
    this.#fire('changed');
  }

  reconnected(): void {
    this.#fire('uncertain');
  }

  cancel(): void {
    if (this.#state === 'cancelled') return;
    this.#state = 'cancelled';
    void this.#notifications.remove(this.#channel, this);
  }

  #fire(event: NameEvent): void {
    if (this.#state === 'arming') this.#early ??= event;
    if (this.#state !== 'armed') return;
    this.#state = 'fired'; // one-shot; the route stays until cancel()
    this.#onEvent(event);
  }
}
