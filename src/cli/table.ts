/**
 * Aligned text tables, like ps(1) or `docker ps`: a header row and columns
 * separated by two spaces, no borders, so the output stays easy to read and to
 * cut with awk. Widths are measured without colour escapes.
 *
 * @module
 */

/** One column: its header and whether it is right-aligned (numbers). */
export interface Column {
  header: string;
  align?: 'left' | 'right';
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** How many terminal columns `text` takes (escape sequences take none). */
export function visibleWidth(text: string): number {
  return [...text.replace(ANSI, '')].length;
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
export function table(columns: Column[], rows: string[][], style: (header: string) => string = (h) => h): string {
  const widths = columns.map((c, i) => Math.max(visibleWidth(c.header), ...rows.map((r) => visibleWidth(r[i] ?? ''))));
  const line = (cells: string[], header: boolean) =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i]! - visibleWidth(cell));
        const shown = header ? style(cell) : cell;
        if (columns[i]!.align === 'right') return pad + shown;
        return i === cells.length - 1 ? shown : shown + pad;
      })
      .join('  ')
      .trimEnd(); // an empty last cell would leave the separator behind
  return [line(columns.map((c) => c.header), true), ...rows.map((r) => line(r, false))].join('\n');
}

/**
 * Shorten `text` to `max` columns with an ellipsis.
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
