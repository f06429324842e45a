/**
 * The status line `run` keeps on a terminal while it waits:
 * "waiting for NAME — held by pid 1234 (nova-compute …) for 12 s".
 *
 * It re-reads the holder record about every second. That is display only: the
 * wait itself is a kernel wait woken by the release, never a poll.
 *
 * @module
 */
import type { DirectoryHandle } from '../file/directory-handle.js';
import { escapeText } from './escape.js';
import { holderSummary } from './holder-summary.js';
import { truncate } from './table.js';

/** Refresh period of the line. */
const REFRESH_MS = 1000;

/**
 * Show the waiting line on stderr (a terminal) until `stop()`.
 *
 * @example
 * ```ts
 * const line = startWaitingLine('nightly', handle, 'nightly');
 * try { await locks.acquire('nightly'); } finally { line.stop(); }
 * ```
 */
export function startWaitingLine(name: string, handle: DirectoryHandle, file: string): { stop(): void } {
  const stderr = process.stderr;
  const render = () => {
    const width = Math.max(20, (stderr.columns || 80) - 1);
    // \r and "erase line" so the line is rewritten in place, never scrolls. The
    // text is escaped whole before it is cut: a newline or ESC in the holder's
    // record would otherwise scroll the line or rewrite the screen.
    const text = escapeText(`waiting for ${name} — ${holderSummary(handle, file, Date.now())}`);
    stderr.write(`\r\x1b[2K${truncate(text, width)}`);
  };
  render();
  const timer = setInterval(render, REFRESH_MS);
  timer.unref();
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      stderr.write('\r\x1b[2K');
    },
  };
}
