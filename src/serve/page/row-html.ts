/**
 * The first screen of lock rows as HTML, written by the server into the
 * document so that the first paint needs no script (app.ts adopts these rows
 * and draws every later one itself).
 *
 * Every lock name, command, host and token is hostile input. The text is the
 * same as the page's own (row-view.ts: `visible()` first, so control and bidi
 * characters show as `\u{…}`), then HTML-escaped: `&`, `<`, `>`, `"` and `'`
 * become character references, in text and in (always double-quoted)
 * attribute values alike. The result parses back to exactly the text the
 * script would have put in with `textContent`; nothing from a row can open a
 * tag, end an attribute or add one. No inline style or script is written, so
 * the page's Content-Security-Policy is unchanged.
 *
 * The rows carry no `data-backend` / `data-name`: those hold the raw name (not
 * made visible), and a raw name cannot always survive an HTML attribute (the
 * parser turns NUL into U+FFFD and CR into LF). app.ts sets them from the
 * page's data block when it adopts the rows; the order is the same by
 * construction (both come from one `locksPage` call).
 *
 * @module
 */
import type { LockRow } from '../lock-row.js';
import { badges, rowClass, textCells, visible, type Badge, type Cell } from './row-view.js';

/**
 * HTML the server wrote from escaped text only (see {@link rowsHtml}); the
 * brand keeps an unescaped string from being passed where it is inlined.
 *
 * @example
 * ```ts
 * const html: SafeHtml = rowsHtml([], Date.now(), 600_000);
 * ```
 */
export type SafeHtml = string & { readonly __safeHtml: true };

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * `text` made visible (as the page shows it), then escaped for HTML text or a double-quoted attribute.
 *
 * @example
 * ```ts
 * escapeHtml('<b>"x"</b>'); // '&lt;b&gt;&quot;x&quot;&lt;/b&gt;'
 * ```
 */
export function escapeHtml(text: string): string {
  return visible(text).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** An element with escaped text and attributes; `attrs` values are escaped here, names are this file's constants. */
function element(tag: string, attrs: Record<string, string | undefined>, inner: string): string {
  let open = `<${tag}`;
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) open += ` ${name}="${escapeHtml(value)}"`;
  return `${open}>${inner}</${tag}>`;
}

function cellHtml(cell: Cell): string {
  return element('td', { title: cell.title }, escapeHtml(cell.text));
}

/** The state cell, as app.ts draws it: each badge followed by a space when there are several. */
function stateHtml(list: Badge[]): string {
  const single = list.length === 1 && list[0]!.class === 'badge ok';
  const spans = list.map((b) => element('span', { class: b.class, title: b.title }, escapeHtml(b.text)) + (single ? '' : ' '));
  return `<td>${spans.join('')}</td>`;
}

/**
 * Rows `rows` of the lock table (`<tr>` elements, no `<tbody>`), as at time
 * `now` (the server's clock, which the page's ticking corrects from anyway).
 *
 * @example
 * ```ts
 * const html = rowsHtml(page.locks.slice(0, 50), page.now, ctx.warnAfterMs);
 * ```
 */
export function rowsHtml(rows: readonly LockRow[], now: number, warnAfterMs: number): SafeHtml {
  let html = '';
  for (const row of rows) {
    const cells = textCells(row, now).map(cellHtml).join('');
    html += element('tr', { class: rowClass(row, now, warnAfterMs) }, cells + stateHtml(badges(row, now, warnAfterMs)));
  }
  return html as SafeHtml;
}
