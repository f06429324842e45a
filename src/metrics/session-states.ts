/**
 * Which state each session of this process is in, as the session channels
 * tell it, so that the bridges can keep a gauge of sessions per state.
 *
 * The channels publish transitions (opened, suspended, reconnected, lost,
 * closed); a gauge needs, for each transition, which count to lower and which
 * to raise. A session first heard of after it opened (the bridge was installed
 * late) is counted from its first event on.
 *
 * @module
 */

/**
 * The states the gauge counts: `lost` and `closed` sessions are no longer counted.
 *
 * @example
 * ```ts
 * const state: CountedState = 'suspended';
 * ```
 */
export type CountedState = 'connected' | 'suspended';

/**
 * One change of a count: `delta` sessions of `backend` in `state`.
 *
 * @example
 * ```ts
 * const change: StateChange = { backend: 'etcd', state: 'suspended', delta: 1 };
 * ```
 */
export interface StateChange {
  backend: string;
  state: CountedState;
  delta: 1 | -1;
}

/**
 * The known sessions and their states.
 *
 * @example
 * ```ts
 * const states = new SessionStates();
 * states.move({ backend: 'etcd', sessionId: '7' }, 'connected'); // [{ backend: 'etcd', state: 'connected', delta: 1 }]
 * states.move({ backend: 'etcd', sessionId: '7' }, 'suspended'); // connected −1, suspended +1
 * states.move({ backend: 'etcd', sessionId: '7' }, undefined);   // suspended −1 (lost or closed)
 * ```
 */
export class SessionStates {
  readonly #states = new Map<string, CountedState>();

  /**
   * Record that the session is now in `to` (`undefined`: it ended) and return
   * the count changes that follow.
   */
  move(session: { backend: string; sessionId: string }, to: CountedState | undefined): StateChange[] {
    const { backend } = session;
    const key = `${backend}\u0000${session.sessionId}`;
    const from = this.#states.get(key);
    if (from === to) return [];
    const changes: StateChange[] = [];
    if (from !== undefined) changes.push({ backend, state: from, delta: -1 });
    if (to === undefined) {
      this.#states.delete(key);
    } else {
      this.#states.set(key, to);
      changes.push({ backend, state: to, delta: 1 });
    }
    return changes;
  }
}
