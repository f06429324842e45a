/**
 * The event → measurement mapping shared by the metrics bridges: subscribes
 * to deadbolt's diagnostics channels and turns each message into
 * measurements on the instruments of instruments.ts, handed to a sink that
 * one adapter per metrics library implements.
 *
 * Nothing subscribes until a bridge is installed, and `close()` unsubscribes
 * everything, so an application without a bridge pays only the channels'
 * "anyone listening?" check. The in-process primitives (Mutex, Semaphore, …)
 * publish nothing, so they are never measured: see docs/metrics.md.
 *
 * A sink or a `lockName` function that throws must not break the code that
 * published the event (a subscriber's exception would surface as an uncaught
 * exception): the measurement is dropped and a warning emitted once.
 *
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  channels,
  type LockAcquireFailedMessage,
  type LockBrokenMessage,
  type LockEventMessage,
  type LockLostMessage,
  type SessionMessage,
} from '../diagnostics.js';
import type { InstrumentKey, LabelName } from './instruments.js';
import type { CheckedMetricsOptions } from './options.js';
import { SessionStates, type CountedState } from './session-states.js';

/**
 * Label values of one measurement.
 *
 * @example
 * ```ts
 * const labels: Labels = { backend: 'memory', mode: 'shared' };
 * ```
 */
export type Labels = Partial<Record<LabelName, string>>;

/**
 * Where measurements go: one implementation per metrics library.
 * @internal
 */
export interface MeasurementSink {
  /** Observe `value` on a histogram, or add it to a counter (`updown`: may be negative). */
  record(instrument: InstrumentKey, value: number, labels: Labels): void;
  /** Called once by `close()`, after unsubscribing. */
  close?(): void;
}

/**
 * An installed bridge. `close()` unsubscribes from every channel (idempotent);
 * `using` does it too.
 *
 * @example
 * ```ts
 * const metrics = installPrometheusMetrics();
 * process.once('SIGTERM', () => metrics.close());
 * ```
 */
export interface MetricsBridge extends Disposable {
  /** Stop measuring: unsubscribe from every channel. Idempotent. */
  close(): void;
  /** Whether `close()` was called. */
  readonly closed: boolean;
}

type Handler = (message: unknown) => void;

/**
 * Subscribe `sink` to every channel the instruments are fed from.
 * @internal
 */
export function bridgeChannels(sink: MeasurementSink, options: CheckedMetricsOptions): MetricsBridge {
  const { lockLabel } = options;
  const sessions = new SessionStates();
  let warned = false;

  /** Labels of an event about the lock `name`. */
  const named = (labels: Labels, name: string): Labels => {
    if (lockLabel !== undefined) labels.lock = String(lockLabel(name));
    return labels;
  };
  const moveSession = (message: SessionMessage, to: CountedState | undefined): void => {
    for (const { backend, state, delta } of sessions.move(message, to)) sink.record('sessions', delta, { backend, state });
  };

  const handlers: Record<string, Handler> = {
    [channels.lockAcquired]: (m) => {
      const { name, backend, mode, waitedMs } = m as LockEventMessage;
      const labels = named({ backend, mode }, name);
      sink.record('acquisitions', 1, labels);
      if (waitedMs !== undefined) sink.record('waitSeconds', waitedMs / 1000, labels);
    },
    [channels.lockReleased]: (m) => {
      const { name, backend, mode, heldMs } = m as LockEventMessage;
      if (heldMs !== undefined) sink.record('holdSeconds', heldMs / 1000, named({ backend, mode }, name));
    },
    [channels.lockAcquireFailed]: (m) => {
      const { name, backend, mode, reason } = m as LockAcquireFailedMessage;
      sink.record('acquireFailures', 1, named({ backend, mode, reason }, name));
    },
    [channels.lockLost]: (m) => {
      const { name, backend, mode, reason } = m as LockLostMessage;
      sink.record('losses', 1, named({ backend, mode, reason }, name));
    },
    [channels.lockBroken]: (m) => {
      const { name, backend } = m as LockBrokenMessage;
      sink.record('breaks', 1, named({ backend }, name));
    },
    [channels.sessionOpened]: (m) => moveSession(m as SessionMessage, 'connected'),
    [channels.sessionReconnected]: (m) => moveSession(m as SessionMessage, 'connected'),
    [channels.sessionSuspended]: (m) => moveSession(m as SessionMessage, 'suspended'),
    [channels.sessionClosed]: (m) => moveSession(m as SessionMessage, undefined),
    [channels.sessionLost]: (m) => {
      moveSession(m as SessionMessage, undefined);
      sink.record('sessionLosses', 1, { backend: (m as SessionMessage).backend });
    },
  };

  const guarded = Object.entries(handlers).map(([channel, handle]): [string, Handler] => [
    channel,
    (message) => {
      try {
        handle(message);
      } catch (err) {
        if (warned) return;
        warned = true;
        process.emitWarning(`deadbolt metrics: a measurement on ${channel} failed and was dropped (${String(err)}); later failures are not reported`, {
          code: 'DEADBOLT_METRICS',
        });
      }
    },
  ]);
  for (const [channel, handler] of guarded) diagnosticsChannel.subscribe(channel, handler);

  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    for (const [channel, handler] of guarded) diagnosticsChannel.unsubscribe(channel, handler);
    sink.close?.();
  };
  return {
    close,
    get closed() {
      return closed;
    },
    [Symbol.dispose]: close,
  };
}
