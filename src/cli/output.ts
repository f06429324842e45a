/**
 * Where the CLI writes, and whether it colours.
 *
 * Results go to stdout (so `--json` output can be piped), messages, prompts and
 * the waiting line to stderr. Colour is decided per stream: only when that
 * stream is a terminal, never when `NO_COLOR` is set to anything non-empty
 * (no-color.org), never for `TERM=dumb`. There is deliberately no way to force
 * colour into a pipe.
 *
 * @module
 */
import pc from 'picocolors';
import { cliJson } from './json.js';

/** picocolors' formatters (all identity functions when colour is off). */
export type Colors = ReturnType<typeof pc.createColors>;

/**
 * The CLI's two output streams with their colour decisions.
 *
 * @example
 * ```ts
 * const io = createOutput();
 * io.out(io.color.bold('NAME'));
 * io.err(io.errColor.red('deadbolt: no such lock'));
 * ```
 */
export interface Output {
  /** Write a line to stdout. */
  out(line: string): void;
  /** Write a line to stderr. */
  err(line: string): void;
  /** Write a value to stdout as indented JSON ({@link cliJson}: integer milliseconds, tokens as strings). */
  json(value: unknown): void;
  /** Colours for stdout. */
  readonly color: Colors;
  /** Colours for stderr. */
  readonly errColor: Colors;
  /** stderr is a terminal: the waiting line and prompts may be shown. */
  readonly stderrIsTTY: boolean;
  /** stdout is a terminal: `ls --watch` may redraw it. */
  readonly stdoutIsTTY: boolean;
  /** The terminal's width for stdout tables (80 when not a terminal). */
  readonly columns: number;
}

/**
 * Whether to colour `stream`.
 *
 * @example
 * ```ts
 * useColor(process.stdout, process.env); // false under NO_COLOR=1
 * ```
 */
export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/**
 * The process's output.
 *
 * @example
 * ```ts
 * const io = createOutput();
 * ```
 */
export function createOutput(env: NodeJS.ProcessEnv = process.env): Output {
  const { stdout, stderr } = process;
  return {
    out: (line) => void stdout.write(`${line}\n`),
    err: (line) => void stderr.write(`${line}\n`),
    json: (value) => void stdout.write(`${cliJson(value)}\n`),
    color: pc.createColors(useColor(stdout, env)),
    errColor: pc.createColors(useColor(stderr, env)),
    stderrIsTTY: stderr.isTTY === true,
    stdoutIsTTY: stdout.isTTY === true,
    columns: stdout.isTTY ? stdout.columns : 80,
  };
}
