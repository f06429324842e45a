import { parseArgs } from 'node:util';

/**
 * Command-line options of a benchmark script, with Node's own `util.parseArgs`
 * (no dependency): `--name=value` strings and `--help`; an unknown option, or a
 * value missing, prints what is known and exits 64; `--help` prints `usage`
 * and exits 0.
 *
 *   const args = options(['rounds', 'url'], 'node postgres/x.mjs [--rounds=7] [--url=postgres://…]');
 *   const ROUNDS = Number(args.rounds ?? 7);
 *
 * @param {string[]} known the options taking a value
 * @param {string} usage the line --help prints
 * @returns {Record<string, string | undefined>}
 */
export function options(known, usage) {
  let parsed;
  try {
    parsed = parseArgs({
      options: { ...Object.fromEntries(known.map((name) => [name, { type: 'string' }])), help: { type: 'boolean' } },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`${error.message}; known: ${[...known, 'help'].map((k) => `--${k}`).join(' ')}`);
    process.exit(64);
  }
  if (parsed.help) {
    console.log(usage);
    process.exit(0);
  }
  return parsed;
}
