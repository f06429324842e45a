/**
 * `ls --watch`: redraw a listing in place on a terminal, every `--interval`,
 * until Ctrl-C (or SIGTERM), then exit 0.
 *
 * Each frame is rendered completely into memory first and written with one
 * write (cursor home, frame, clear to the end of the screen), so the screen
 * never shows half a listing and does not flicker. Refused (exit 64) when
 * stdout is not a terminal: a pipe or a log would only collect escape codes
 * and an endless stream; scripts poll `ls --json` instead. Refused with
 * `--json` too, for the same reason.
 *
 * @module
 */
import { ExitCode, usageError } from './exit-codes.js';
import type { Output } from './output.js';

/** Default time between frames. */
export const WATCH_INTERVAL_MS = 2_000;

const HOME_AND_CLEAR = '\x1b[H\x1b[2J';

/**
 * Refuse `--watch` where it cannot work: before anything is opened or connected.
 *
 * @throws CliError 64 when stdout is not a terminal or with `--json`.
 * @example
 * ```ts
 * if (options.watch) checkWatchable(io, options);
 * ```
 */
export function checkWatchable(io: Output, options: { json?: boolean }): void {
  if (options.json) throw usageError('--watch redraws a terminal; with --json, poll `deadbolt ls --json` instead');
  if (!io.stdoutIsTTY) {
    throw usageError('--watch redraws a terminal, and stdout is not one', 'In scripts, run `deadbolt ls --json` in a loop instead.');
  }
}

/**
 * Redraw `render`'s output every `interval` ms until interrupted; resolves with 0.
 *
 * @throws CliError 64 as {@link checkWatchable}.
 * @example
 * ```ts
 * await watchListing(io, { interval: 1_000 }, async (out) => { out.out('hello'); return 0; });
 * ```
 */
export async function watchListing(io: Output, options: { json?: boolean; interval?: number }, render: (out: Output) => Promise<unknown>): Promise<number> {
  checkWatchable(io, options);
  const interval = options.interval ?? WATCH_INTERVAL_MS;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    while (!stop.signal.aborted) {
      const lines: string[] = [];
      const frame: Output = { ...io, out: (line) => void lines.push(line), json: (value) => void lines.push(JSON.stringify(value, null, 2)) };
      await render(frame);
      const stamp = io.color.dim(`every ${interval / 1000} s, ${new Date().toISOString().slice(11, 19)}Z — Ctrl-C to stop`);
      process.stdout.write(`${HOME_AND_CLEAR}${stamp}\n\n${lines.join('\n')}\n`);
      await pause(interval, stop.signal);
    }
    return ExitCode.OK;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
