/**
 * The driver's pub/sub connection: one channel per session (`<ns>:wake:<sid>`),
 * on which the scripts publish `w|<claim>` (a waiter may be granted now) and
 * `b|<claim>` (a holder was broken).
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
  readonly #routes = new Map<string, ChannelRoute>();

  constructor(subscriber: Redis) {
    this.#subscriber = subscriber;
    subscriber.on('message', (channel: string, text: string) => this.#routes.get(channel)?.message(text));
    // 'ready' fires on every reconnection; the first connection happened before we were built.
    subscriber.on('ready', () => void this.#resubscribe());
  }

  /** Subscribe `channel`; resolves once Redis confirmed, so no message after that is missed. */
  async add(channel: string, route: ChannelRoute): Promise<void> {
    this.#routes.set(channel, route);
    try {
      await this.#subscriber.subscribe(channel);
    } catch (error) {
      this.#routes.delete(channel);
      throw mapError(error, `subscribing to ${channel}`);
    }
  }

  async #resubscribe(): Promise<void> {
    const channels = [...this.#routes.keys()];
    if (channels.length === 0) return;
    try {
      await this.#subscriber.subscribe(...channels);
    } catch {
      // lost again: the next 'ready' tries again, and the waiters' timers do not depend on it
      return;
    }
    for (const route of this.#routes.values()) route.reconnected();
  }

  /** Stop routing `channel` and unsubscribe (best effort). */
  async remove(channel: string): Promise<void> {
    if (!this.#routes.delete(channel)) return;
    await this.#subscriber.unsubscribe(channel).catch(() => {
      // a closed connection has no subscriptions left anyway
    });
  }
}
