/**
 * The driver's pub/sub connection: one channel per session (`<ns>:wake:<sid>`),
 * on which the scripts publish `w|<claim>` (a waiter may be granted now) and
 * `b|<claim>` (a holder was broken), and one per watched name
 * (`<ns>:claims:<name>`, name-watch.ts), which several watches may share: the
 * channel is subscribed while at least one route is on it.
 *
 * Messages sent while the connection was down are lost: when it is ready
 * again, the channels are subscribed again and then every session is told to
 * look again; the waiters' bounded timers cover the rest. (The connection is
 * made with `autoResubscribe: false`: ioredis's own re-subscription leaves its
 * promise unhandled, so a connection lost again at that moment would crash an
 * application with an unhandled rejection.)
 *
 * @internal
 * @module
 */
import type { Redis } from 'ioredis';
import { mapError } from './map-error.js';

/**
 * Who receives a channel's messages.
 *
 * @example
 * ```ts
 * const route: ChannelRoute = { message: (text) => console.log(text), reconnected: () => lookAgain() };
 * ```
 */
export interface ChannelRoute {
  /** One message of the channel. */
  message(text: string): void;
  /** The connection came back: messages may have been missed. */
  reconnected(): void;
}

/**
 * Routes the messages of the subscribed channels.
 *
 * @example
 * ```ts
 * const notifications = new Notifications(client.subscriber);
 * await notifications.add('deadbolt:wake:ab12', { message: (m) => console.log(m), reconnected() {} });
 * ```
 */
export class Notifications {
  readonly #subscriber: Redis;
  readonly #channels = new Map<string, Channel>();

  constructor(subscriber: Redis) {
    this.#subscriber = subscriber;
    subscriber.on('message', (channel: string, text: string) => {
      for (const route of this.#channels.get(channel)?.routes ?? []) route.message(text);
    });
    // 'ready' fires on every reconnection; the first connection happened before we were built.
    subscriber.on('ready', () => void this.#resubscribe());
  }

  /**
   * Route `channel` to `route`, subscribing it if it is new; resolves once
   * Redis confirmed the subscription, so no message after that is missed.
   */
  async add(channel: string, route: ChannelRoute): Promise<void> {
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      const subscribed = this.#subscriber.subscribe(channel).then(() => undefined);
      this.#channels.set(channel, (entry = { routes: new Set(), subscribed }));
      const failed = entry;
      // a refused subscription leaves nothing behind: a later add tries afresh
      subscribed.catch(() => {
        if (this.#channels.get(channel) === failed) this.#channels.delete(channel);
      });
    }
    entry.routes.add(route);
    try {
      await entry.subscribed;
    } catch (error) {
      entry.routes.delete(route);
      throw mapError(error, `subscribing to ${channel}`);
    }
  }

  async #resubscribe(): Promise<void> {
    const channels = [...this.#channels.keys()];
    if (channels.length === 0) return;
    try {
      await this.#subscriber.subscribe(...channels);
    } catch {
      // lost again: the next 'ready' tries again, and the waiters' timers do not depend on it
      return;
    }
    for (const entry of [...this.#channels.values()]) for (const route of [...entry.routes]) route.reconnected();
  }

  /** Stop routing `channel` to `route`; the last route's removal unsubscribes (best effort). */
  async remove(channel: string, route: ChannelRoute): Promise<void> {
    const entry = this.#channels.get(channel);
    if (entry === undefined || !entry.routes.delete(route) || entry.routes.size > 0) return;
    this.#channels.delete(channel);
    await this.#subscriber.unsubscribe(channel).catch(() => {
      // a closed connection has no subscriptions left anyway
    });
  }
}

/** A subscribed channel: its routes, and its SUBSCRIBE (what a route added later waits for too). */
interface Channel {
  readonly routes: Set<ChannelRoute>;
  readonly subscribed: Promise<void>;
}
