/**
 * Small formatting helpers shared by the commands.
 *
 * @module
 */
import { basename } from 'node:path';
import { truncate } from './table.js';

/**
 * A holder's command line, shortened for a table or a status line: the
 * executable's directory is dropped, and `node …/cli/main.js` (deadbolt's own
 * CLI, as its holder records show it) reads `deadbolt`, without its
 * `--lock-path` / `--backend`. The full command is in
 * `show` and `--json`.
 *
 * @example
 * ```ts
 * displayCommand('/usr/bin/node /opt/app/node_modules/deadbolt/dist/cli/main.js run --lock-path /run/l jobs -- ./job.sh', 30);
 * // 'deadbolt run jobs -- ./job.sh'
 * ```
 */
export function displayCommand(command: string, max: number): string {
  const words = command.split(' ');
  let [exe = '', script, ...rest] = words;
  exe = basename(exe);
  if (/^node(js)?(\d+)?$/.test(exe) && script !== undefined && script.includes('/')) {
    const ours = /\/cli\/main\.js$/.test(script) || basename(script) === 'deadbolt';
    exe = ours ? 'deadbolt' : basename(script);
    // In a listing of one directory, deadbolt's own --lock-path / --backend only repeat it.
    if (ours) rest = withoutTargetOptions(rest);
  } else if (script !== undefined) {
    rest = [script, ...rest];
  }
  return truncate([exe, ...rest].join(' '), max);
}

function withoutTargetOptions(args: string[]): string[] {
  const end = args.indexOf('--');
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (end >= 0 && i >= end) kept.push(arg);
    else if (arg === '--lock-path' || arg === '--backend') i++;
    else if (!arg.startsWith('--lock-path=') && !arg.startsWith('--backend=')) kept.push(arg);
  }
  return kept;
}

/**
 * A date as `YYYY-MM-DD HH:MM:SS` in UTC, for listings.
 *
 * @example
 * ```ts
 * shortDate('2025-03-01T12:00:03.120Z'); // '2025-03-01 12:00:03Z'
 * ```
 */
export function shortDate(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
}

/**
 * A record's time as ISO 8601, or `invalid date`: a forged or damaged holder
 * record may carry any text there, and `toISOString()` would throw on it.
 *
 * @example
 * ```ts
 * isoTime(new Date('x')); // 'invalid date'
 * ```
 */
export function isoTime(date: Date): string {
  return Number.isNaN(date.getTime()) ? 'invalid date' : date.toISOString();
}
