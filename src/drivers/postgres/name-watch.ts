/**
 * Watching every claim of a name (recipes: an election's observers, a group's
 * watchers) by LISTEN/NOTIFY on the name's own channel (sql.ts `nameChannel`).
 *
 * Arming is two requests, in this order: LISTEN on the session connection
 * (the one connection that listens), then `watch_name` through the pool,
 * which sets the name's `watched` flag under the name's row lock. Every SQL
 * function that creates or deletes a claim of the name or replaces its data
 * does so under that lock and NOTIFYs the channel if the flag is set
 * (`changed`), clearing it: so a change committed after the watch resolved is
 * always heard, and nobody pays a NOTIFY for a name nobody watches. The
 * server's notification is one-shot, as the core's watch is: each re-arm sets
 * the flag again.
 *
 * One LISTEN per channel however many watches of the name this process has;
 * UNLISTEN once the last of them is cancelled. A session connection that ends
 * reports `'uncertain'` to every watch on it (NOTIFYs are not replayed).
 *
 * @internal
 * @module
 */
import type { ClaimWatch, NameEvent } from '../../core/engine.js';
import type { PgContext } from './context.js';
import { mapError } from './map-error.js';
import { nameChannel } from './sql.js';
import { runStatement } from './statements.js';

type Listener = (event: NameEvent) => void;

/** The watches of one channel in this process, and its LISTEN (in flight or done). */
interface Channel {
  readonly listeners: Set<Listener>;
  readonly listening: Promise<void>;
}

/**
 * The name watches of one driver.
 *
 * @example
 * ```ts
 * const watches = new NameWatches(ctx);
 * const watch = await watches.watch('leader', (event) => reread(event));
 * watch.cancel();
 * ```
 */
export class NameWatches {
  readonly #ctx: PgContext;
  readonly #channels = new Map<string, Channel>();

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
  }

  /** Watch the claims of `name`; resolves once armed, rejects (mapped) when it cannot be. One event at most. */
  async watch(name: string, onEvent: Listener): Promise<ClaimWatch> {
    const { connection, pool, statements, config, namespace } = this.#ctx;
    const doing = `watching "${name}"`;
    const channel = nameChannel(config.schema, namespace, name);
    let done = false;
    let armed = false;
    let early: NameEvent | undefined;
    const cancel = (): void => {
      if (done) return;
      done = true;
      unsubscribe();
      this.#remove(channel, listener);
    };
    // Heard while arming (a change made meanwhile): told once armed, after the caller has the watch.
    const listener: Listener = (event) => {
      if (done) return;
      if (!armed) {
        early ??= event;
        return;
      }
      cancel();
      onEvent(event);
    };
    const unsubscribe = connection.onClosed(() => listener('uncertain'));
    try {
      await this.#add(channel, listener);
      await runStatement(pool, statements.watchName, [namespace, name], config.requestTimeout, doing);
    } catch (error) {
      cancel();
      throw mapError(error, doing);
    }
    if (done) return { cancel: () => {} };
    armed = true;
    if (early !== undefined) {
      const event = early;
      setImmediate(() => listener(event));
    }
    return { cancel };
  }

  /** Add `listener` to `channel`, LISTENing first if it is the channel's first; resolves once the LISTEN was executed. */
  #add(channel: string, listener: Listener): Promise<void> {
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      const listeners = new Set<Listener>();
      const { connection, config } = this.#ctx;
      const listening = connection.listen(channel, () => {
        for (const each of [...listeners]) each('changed');
      }, config.requestTimeout);
      entry = { listeners, listening };
      const added = entry;
      // a LISTEN that failed leaves nothing behind: the next watch of the name LISTENs again
      listening.catch(() => {
        if (this.#channels.get(channel) === added) this.#channels.delete(channel);
      });
      this.#channels.set(channel, entry);
    }
    entry.listeners.add(listener);
    return entry.listening;
  }

  #remove(channel: string, listener: Listener): void {
    const entry = this.#channels.get(channel);
    if (entry === undefined || !entry.listeners.delete(listener) || entry.listeners.size > 0) return;
    this.#channels.delete(channel);
    // best effort: a channel left LISTENed costs a wake per NOTIFY of that name, and ends with the connection
    this.#ctx.connection.unlisten(channel, this.#ctx.config.requestTimeout).catch(() => {});
  }
}
