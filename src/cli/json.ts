/**
 * The one JSON form of everything `--json` prints (docs/cli.md, "JSON
 * schemas"): durations (keys ending in `Ms`) in whole milliseconds, fencing
 * tokens and other bigints as decimal strings, times as ISO strings (Date's own
 * toJSON). Every command prints through {@link cliJson}, so no command can
 * leak a fractional millisecond or fail on a bigint.
 *
 * @module
 */

/**
 * `value` as `--json` prints it: indented JSON text, without the newline.
 *
 * @example
 * ```ts
 * cliJson({ ageMs: 1203.7, token: 17n }); // '{\n  "ageMs": 1204,\n  "token": "17"\n}'
 * ```
 */
export function cliJson(value: unknown): string {
  return JSON.stringify(value, replacer, 2);
}

function replacer(key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && key.endsWith('Ms') && Number.isFinite(value)) return Math.round(value);
  return value;
}
