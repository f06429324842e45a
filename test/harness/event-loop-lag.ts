/**
 * How late this process's timers ran while a test waited: the allowance a
 * recovery-time assertion adds for a starved process, so that the bound stays
 * tight on a quiet machine and a loaded one (CI, `stress-ng`) cannot break it.
 *
 * A driver that promises "granted within TTL + recoveryBoundMs" keeps that
 * promise with timers and round trips; if the machine runs this process's
 * timers seconds late, everything it does is seconds late, and a fixed bound
 * would fail the driver for the machine's sake.
 *
 * @example
 * ```ts
 * const lag = watchEventLoop();
 * const next = await waiting;
 * const took = performance.now() - killedAt;
 * lag.stop();
 * assert.ok(took <= TTL + RECOVERY_BOUND_MS + lag.slackMs(), `took ${took} ms`);
 * ```
 *
 * @module
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** A running watch of the event loop's delay. */
export interface EventLoopWatch {
  /** The longest delay seen so far, in ms. */
  readonly maxLagMs: number;
  /**
   * What a bound should allow for this process being starved: at least `floorMs` (1 s), else four
   * times the longest delay seen (a grant takes a timer and a few round trips, each as late).
   */
  slackMs(floorMs?: number): number;
  /** Stop watching (the numbers stay readable). */
  stop(): void;
}

/**
 * Start watching this process's event-loop delay.
 *
 * @example
 * ```ts
 * const lag = watchEventLoop();
 * await somethingTimed();
 * lag.stop();
 * t.diagnostic(`longest event-loop delay ${lag.maxLagMs} ms`);
 * ```
 */
export function watchEventLoop(): EventLoopWatch {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  return {
    get maxLagMs() {
      return Math.round(histogram.max / 1e6);
    },
    slackMs(floorMs = 1_000) {
      return Math.max(floorMs, 4 * Math.round(histogram.max / 1e6));
    },
    stop() {
      histogram.disable();
    },
  };
}
