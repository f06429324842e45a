/**
 * Plain-text output for benchmarks: aligned tables, human numbers, one JSON line.
 * Generic: every benchmark (in-process, lock files, etcd…) prints through these.
 */

/**
 * Render rows as an aligned table.
 * @param {Array<{key: string, title: string, align?: 'left'|'right', format?: (v: unknown, row: object) => string}>} columns
 * @param {object[]} rows
 * @returns {string} the table, lines joined with "\n" (no trailing newline)
 */
export function renderTable(columns, rows) {
  const cells = rows.map((row) =>
    columns.map((c) => {
      const v = row[c.key];
      return c.format ? c.format(v, row) : v === undefined || v === null ? '' : String(v);
    }),
  );
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i].length)));
  const pad = (text, i) => ((columns[i].align ?? 'right') === 'left' ? text.padEnd(widths[i]) : text.padStart(widths[i]));
  const line = (texts) => texts.map(pad).join('  ').trimEnd();
  return [line(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/**
 * Render rows as a GitHub-flavoured Markdown table (same column spec as renderTable).
 */
export function renderMarkdownTable(columns, rows) {
  const head = `| ${columns.map((c) => c.title).join(' | ')} |`;
  const rule = `|${columns.map((c) => ((c.align ?? 'right') === 'left' ? ' --- |' : ' ---: |')).join('')}`;
  const body = rows.map((row) => `| ${columns.map((c) => (c.format ? c.format(row[c.key], row) : String(row[c.key] ?? ''))).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
}

const SI = [
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/** 12345678 → "12.3 M"; three significant digits. */
export function formatSI(value, unit = '') {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  for (const [scale, prefix] of SI) {
    if (abs >= scale) return `${(value / scale).toPrecision(3)} ${prefix}${unit}`;
  }
  return `${value.toPrecision(3)}${unit ? ` ${unit}` : ''}`;
}

/** Operations per second, e.g. "12.3 M". */
export function formatOps(opsPerSecond) {
  return formatSI(opsPerSecond);
}

/** Bytes, binary prefixes, signed: "-1.2 KiB", "+35.4 MiB". */
export function formatBytes(bytes, { signed = false } = {}) {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? '-' : signed ? '+' : '';
  let abs = Math.abs(bytes);
  for (const prefix of ['B', 'KiB', 'MiB', 'GiB']) {
    if (abs < 1024 || prefix === 'GiB') return `${sign}${prefix === 'B' ? abs.toFixed(0) : abs.toFixed(1)} ${prefix}`;
    abs /= 1024;
  }
  return String(bytes);
}

/** A duration in nanoseconds, in the most readable unit: "850 ns", "1.25 ms". */
export function formatDuration(ns) {
  if (!Number.isFinite(ns)) return String(ns);
  if (ns < 1e3) return `${ns.toPrecision(3)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toPrecision(3)} s`;
}

/** A ratio, "1.73x"; "—" for the reference itself or a non-finite value. */
export function formatRatio(ratio) {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '—';
}

/** A fraction as a signed percentage: 0.034 → "±3.4%" style spread. */
export function formatSpread(fraction) {
  return Number.isFinite(fraction) ? `±${((fraction / 2) * 100).toFixed(1)}%` : '';
}

/**
 * Print one machine-readable line: `<tag> {json}`. Docs and CI grep for the tag.
 * BigInts are written as strings.
 */
export function printJsonLine(tag, value, stream = process.stdout) {
  stream.write(`${tag} ${JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
}
