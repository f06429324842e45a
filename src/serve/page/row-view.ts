/**
 * What a row of the lock table shows, as text and class names: no DOM, no
 * markup. Shared by the two places that draw rows, so that they cannot
 * disagree: the browser's script (app.ts, which gets this file's compiled
 * code inlined ahead of its own, see html.ts `classicScript`) and the server,
 * which writes the first screen of rows into the document (row-html.ts).
 *
 * Everything here must run in both: plain functions over plain data, with no
 * import that survives compilation (types only) and no module state.
 *
 * @module
 */
import type { HolderRow, LockRow } from '../lock-row.js';

/** Holder states shown in red. */
const TROUBLE_STATES: readonly string[] = ['stopped', 'expiring', 'gone'];

/**
 * Text as shown: control characters and invisible format characters (bidi
 * overrides, zero-width marks) become visible `\u{…}` escapes, so that a name
 * cannot reorder or hide what is displayed around it, as in the CLI's escape.ts.
 *
 * @example
 * ```ts
 * visible('a\u202eb'); // 'a\\u{202e}b'
 * ```
 */
export function visible(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/**
 * A duration as the page shows it: ms below a second, then s, min, h, d.
 *
 * @example
 * ```ts
 * duration(61_000); // '1 min 1 s'
 * ```
 */
export function duration(ms: number): string {
  if (ms < 0) return `-${duration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/**
 * Whether a holder's state is trouble (shown in red).
 *
 * @example
 * ```ts
 * isTrouble({ state: 'stopped' } as HolderRow); // true
 * ```
 */
export function isTrouble(holder: HolderRow): boolean {
  return TROUBLE_STATES.includes(holder.state);
}

/**
 * The row's class: `trouble`, `warn` (held longer than `warnAfterMs`) or none.
 *
 * @example
 * ```ts
 * rowClass(row, Date.now(), 600_000); // '' | 'warn' | 'trouble'
 * ```
 */
export function rowClass(row: LockRow, now: number, warnAfterMs: number): string {
  if (row.holders.some(isTrouble)) return 'trouble';
  if (row.holders.some((h) => now - h.since > warnAfterMs)) return 'warn';
  return '';
}

/**
 * One badge of the state cell: its class, text and (optional) tooltip.
 *
 * @example
 * ```ts
 * const b: Badge = { class: 'badge ok', text: 'ok' };
 * ```
 */
export interface Badge {
  class: string;
  text: string;
  title?: string;
}

/**
 * The badges of the row's state cell, in order (each followed by a space when
 * there are several, as the page draws them).
 *
 * @example
 * ```ts
 * badges(row, Date.now(), 600_000); // [{ class: 'badge ok', text: 'ok' }]
 * ```
 */
export function badges(row: LockRow, now: number, warnAfterMs: number): Badge[] {
  const out: Badge[] = [];
  for (const h of row.holders) {
    if (isTrouble(h)) out.push({ class: 'badge trouble', text: h.state, title: `pid ${h.pid} is ${h.state}` });
  }
  if (row.holders.some((h) => now - h.since > warnAfterMs)) out.push({ class: 'badge warn', text: `held > ${duration(warnAfterMs)}` });
  if (out.length === 0) out.push({ class: 'badge ok', text: row.holders.length === 0 ? 'held (no record)' : 'ok' });
  return out;
}

/**
 * The holder cell: the first holder, and how many more.
 *
 * @example
 * ```ts
 * holderText(row.holders[0], row.holders.length - 1); // 'pid 42@host node worker.js'
 * ```
 */
export function holderText(h: HolderRow | undefined, more: number): string {
  if (h === undefined) return '(holder wrote no record)';
  return `pid ${h.pid}@${h.host} ${h.command}${more > 0 ? ` (+${more})` : ''}`;
}

/**
 * The "held for" cell at time `now`.
 *
 * @example
 * ```ts
 * heldText(row, Date.now()); // '3 min 2 s'
 * ```
 */
export function heldText(row: LockRow, now: number): string {
  const first = row.holders[0];
  return first === undefined ? '' : duration(now - first.since);
}

/**
 * The "lease left" cell at time `now` (`—` without a lease).
 *
 * @example
 * ```ts
 * leaseText(row, Date.now()); // '9 min 58 s'
 * ```
 */
export function leaseText(row: LockRow, now: number): string {
  const first = row.holders[0];
  return first?.expiresAt == null ? '—' : duration(first.expiresAt - now);
}

/**
 * One cell of a row: its text, and a tooltip for cells that may be cut off.
 *
 * @example
 * ```ts
 * const c: Cell = { text: 'jobs', title: 'jobs' };
 * ```
 */
export interface Cell {
  text: string;
  title?: string;
}

/**
 * The row's cells before the state cell, in column order: backend, name,
 * mode, holder, held for, token, lease left, waiters. "held for" (index
 * {@link HELD_CELL}) and "lease left" ({@link LEASE_CELL}) change with time.
 *
 * @example
 * ```ts
 * textCells(row, Date.now()).map((c) => c.text);
 * ```
 */
export function textCells(row: LockRow, now: number): Cell[] {
  const holder = holderText(row.holders[0], row.holders.length - 1);
  return [
    { text: row.backend },
    { text: row.name, title: row.name },
    { text: row.mode },
    { text: holder, title: holder },
    { text: heldText(row, now) },
    { text: row.holders.map((h) => h.token).join(', ') },
    { text: leaseText(row, now) },
    { text: row.waiters === null ? '—' : String(row.waiters) },
  ];
}

/** Index of the "held for" cell in a row. */
export const HELD_CELL = 4;
/** Index of the "lease left" cell in a row. */
export const LEASE_CELL = 6;
/** Index of the state cell (the badges) in a row. */
export const STATE_CELL = 8;
