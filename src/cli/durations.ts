/**
 * Durations on the command line (`500ms`, `10s`, `5m`, `1h`, `2d`, `1h30m`,
 * `1.5s`, or a plain number of milliseconds) and durations in output
 * (`850 ms`, `12 s`, `3 min 4 s`, `2 h 5 min`, `3 d 4 h`).
 *
 * @module
 */
import { InvalidArgumentError } from 'commander';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** What a duration argument may look like, for error messages. */
/**
 * A commander argument parser for a duration option of at most `max` ms: a bad
 * value becomes commander's "option … argument … is invalid" usage error.
 *
 * @example
 * ```ts
 * new Option('--timeout <duration>').argParser(durationOption(60_000));
 * ```
 */
export function durationOption(max: number): (value: string) => number {
  return (value) => {
    try {
      return parseDuration(value, max);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

export const DURATION_SYNTAX = 'a duration such as 500ms, 10s, 5m, 1h, 1h30m or a number of milliseconds';

/**
 * Parse a duration into milliseconds, or throw a RangeError that says what is accepted.
 *
 * @param text - what the user typed.
 * @param max - the largest value accepted, in ms (the library's timeouts stop at 2^31−1 ms, about 24.8 days).
 * @example
 * ```ts
 * parseDuration('1m30s'); // 90000
 * parseDuration('250');   // 250
 * ```
 */
export function parseDuration(text: string, max = Number.MAX_SAFE_INTEGER): number {
  const trimmed = text.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    ms = Number(trimmed);
  } else {
    const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy)];
    // The sticky regex must consume the whole text: "5x", "10 s" or "" fail here.
    const consumed = parts.reduce((n, p) => n + p[0].length, 0);
    if (parts.length === 0 || consumed !== trimmed.length) throw new RangeError(`"${text}" is not ${DURATION_SYNTAX}`);
    ms = parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
  }
  ms = Math.round(ms);
  if (ms > max) throw new RangeError(`"${text}" is too long: at most ${formatDuration(max)}`);
  return ms;
}

/**
 * A duration for people: two units at most, rounded down.
 *
 * @example
 * ```ts
 * formatDuration(12_400);  // '12 s'
 * formatDuration(184_000); // '3 min 4 s'
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.floor(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}
