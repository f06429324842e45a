/**
 * Aligned text tables, like ps(1) or `docker ps`: a header row and columns
 * separated by two spaces, no borders, so the output stays easy to read and to
 * cut with awk.
 *
 * Cells are untrusted (file names, holder records): every cell's text is
 * escaped here (escape.ts), so no cell can ever break a row or send the
 * terminal a control sequence, whatever a caller forgot. Colour is therefore
 * not part of a cell's text — an ESC there would be escaped like any other —
 * but a separate `style` applied after escaping and measuring: widths count
 * the escaped text exactly as it is shown.
 *
 * @module
 */
import { escapeText } from './escape.js';

/** One column: its header and whether it is right-aligned (numbers). */
export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/**
 * A table cell: plain text, or text with a style (e.g. a colour) applied after
 * it is escaped and measured.
 *
 * @example
 * ```ts
 * const cells: Cell[] = ['jobs', { text: 'leftover', style: io.color.red }];
 * ```
 */
export type Cell = string | { text: string; style: (text: string) => string };

/**
 * A cell with a style, for table rows.
 *
 * @example
 * ```ts
 * styled('free', io.color.green); // { text: 'free', style: io.color.green }
 * ```
 */
export function styled(text: string, style: (text: string) => string): Cell {
  return { text, style };
}

/**
 * How many terminal columns `text` takes, counted in code points: callers
 * measure escaped text, which holds no control characters.
 *
 * @example
 * ```ts
 * visibleWidth('caf\u00e9'); // 4
 * ```
 */
export function visibleWidth(text: string): number {
  return [...text].length;
}

/** A cell as shown: its escaped text, and that text styled. */
interface Shown {
  text: string;
  styledText: string;
}

function show(cell: Cell | undefined): Shown {
  if (cell === undefined) return { text: '', styledText: '' };
  if (typeof cell === 'string') {
    const text = escapeText(cell);
    return { text, styledText: text };
  }
  const text = escapeText(cell.text);
  return { text, styledText: text === '' ? '' : cell.style(text) };
}

/**
 * Lay out `rows` in columns, without a header. No line has trailing spaces.
 *
 * @param align - per column, `'right'` for numbers; left otherwise.
 * @example
 * ```ts
 * alignRows([[styled('lock', bold), 'jobs'], [styled('state', bold), 'free']]);
 * // 'lock   jobs\nstate  free'
 * ```
 */
export function alignRows(rows: Cell[][], align: Array<'left' | 'right' | undefined> = []): string {
  const shown = rows.map((row) => row.map(show));
  const count = Math.max(0, ...shown.map((r) => r.length));
  const widths = Array.from({ length: count }, (_, i) => Math.max(0, ...shown.map((r) => visibleWidth(r[i]?.text ?? ''))));
  return shown
    .map((cells) =>
      cells
        .map((cell, i) => {
          const pad = ' '.repeat(widths[i]! - visibleWidth(cell.text));
          if (align[i] === 'right') return pad + cell.styledText;
          return i === cells.length - 1 ? cell.styledText : cell.styledText + pad;
        })
        .join('  ')
        .trimEnd(), // an empty last cell would leave the separator behind
    )
    .join('\n');
}

/**
 * Lay out `rows` under `columns`. No line has trailing spaces.
 *
 * @param style - applied to the header cells (e.g. bold), after measuring.
 * @example
 * ```ts
 * table([{ header: 'NAME' }, { header: 'PID', align: 'right' }], [['jobs', '42']]);
 * // 'NAME  PID\njobs   42'
 * ```
 */
export function table(columns: Column[], rows: Cell[][], style: (header: string) => string = (h) => h): string {
  const header = columns.map((c) => styled(c.header, style));
  return alignRows([header, ...rows], columns.map((c) => c.align));
}

/**
 * Shorten `text` to `max` columns with an ellipsis. Escape untrusted text
 * first, so that the limit holds for what is shown.
 *
 * @example
 * ```ts
 * truncate('node worker.js --queue=emails', 12); // 'node worker…'
 * ```
 */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}
