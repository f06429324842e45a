/**
 * `deadbolt clean`: remove unused lock files, safely while services run
 * (LockDirectory.clean: each file only under a non-blocking exclusive lock,
 * after an inode re-check), and say what was removed and what was skipped, and why.
 *
 * @module
 */
import { cleanDirectory, type CleanEntry, type CleanReport } from '../file/clean.js';
import { formatDuration } from './durations.js';
import { CliError, ExitCode } from './exit-codes.js';
import type { Output } from './output.js';
import { escapeText } from './escape.js';
import { alignRows } from './table.js';
import { openLockDirectory, resolveTarget, type TargetOptions } from './target.js';

/**
 * Options of `deadbolt clean`.
 *
 * @example
 * ```ts
 * const options: CleanCommandOptions = { lockPath: '/run/locks', olderThan: 3_600_000, dryRun: true };
 * ```
 */
export interface CleanCommandOptions extends TargetOptions {
  /** ms: only files not modified for this long. */
  olderThan?: number;
  dryRun?: boolean;
  json?: boolean;
  /** `--trust-directory`: act even in a directory others could swap or fill (docs/security.md). */
  trustDirectory?: boolean;
}

/**
 * Clean the directory; resolves with the exit code: 0, or 77 when some file
 * could not be removed for lack of permission.
 *
 * @example
 * ```ts
 * await cleanCommand({ lockPath: '/run/locks', dryRun: true }, io);
 * ```
 */
export async function cleanCommand(options: CleanCommandOptions, io: Output): Promise<number> {
  const target = resolveTarget(options);
  const handle = openLockDirectory(target, { act: true, trustDirectory: options.trustDirectory === true });
  let report: CleanReport;
  try {
    report = await cleanDirectory(handle, target.prefix, { olderThan: options.olderThan ?? 0, dryRun: options.dryRun === true });
  } finally {
    handle.close();
  }
  const denied = report.skipped.filter((e) => e.reason?.startsWith('permission denied'));
  if (options.json) {
    io.json({ version: 1, ...report });
  } else {
    const verb = report.dryRun ? 'would remove' : 'removed';
    const files = (n: number) => (n === 1 ? '1 unused lock file' : `${n} unused lock files`);
    const directory = escapeText(report.directory);
    if (report.removed.length === 0) io.out(`nothing to clean in ${directory}${report.skipped.length > 0 ? '' : ' (no lock files)'}`);
    else io.out(`${verb} ${files(report.removed.length)} from ${directory}:\n${entries(report.removed, (e) => `unused for ${formatDuration(e.ageMs)}`)}`);
    if (report.skipped.length > 0) io.out(`skipped ${report.skipped.length}:\n${entries(report.skipped, (e) => e.reason ?? '')}`);
  }
  if (denied.length > 0) {
    throw new CliError(ExitCode.NO_PERMISSION, `${denied.length} file(s) could not be removed: permission denied`);
  }
  return 0;
}

/** The entries as indented rows; alignRows escapes the file names and reasons (a file name is anyone's choice). */
function entries(list: CleanEntry[], why: (e: CleanEntry) => string): string {
  return alignRows(list.map((e) => [e.file, why(e)]))
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
