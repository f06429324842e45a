/**
 * The options every command takes to reach an engine (`--namespace`,
 * `--ttl`, `--connect-timeout`, `--user`, `--password-file`, `--tls-*`), and
 * opening one for a command: engine.ts does the work, this adds the command's
 * warnings output.
 *
 * @module
 */
import { Option, type Command } from 'commander';
import type { Coordinator } from '../distributed/coordinator.js';
import { MAX_TIMEOUT_MS } from '../internal/validate.js';
import { checkLockName } from '../internal/lock-name.js';
import type { LockOwner } from '../contracts/fenced-guard.js';
import type { CredentialOptions } from './credentials.js';
import { durationOption } from './durations.js';
import { openEngine } from './engine.js';
import { usageError } from './exit-codes.js';
import type { Output } from './output.js';
import type { EngineTarget } from './target.js';

/**
 * Engine options as commander parses them.
 *
 * @example
 * ```ts
 * const options: EngineOptions = { namespace: 'billing', connectTimeout: 3_000, passwordFile: '/run/secrets/redis' };
 * ```
 */
export interface EngineOptions extends CredentialOptions {
  namespace?: string;
  /** ms. */
  ttl?: number;
  /** ms. */
  connectTimeout?: number;
}

/**
 * Add the options that reach an engine to `cmd` (every command that takes
 * `--backend`, and `serve`): one definition, so their names and help agree.
 *
 * @example
 * ```ts
 * addEngineOptions(program.command('ls').option('--backend <url>'));
 * ```
 */
export function addEngineOptions(cmd: Command): Command {
  return cmd
    .option('--namespace <ns>', 'engines: the namespace of the locks, as connect() takes it (default: deadbolt)')
    .addOption(new Option('--ttl <duration>', 'engines: the session\'s TTL: how long a silent holder keeps its locks (default: 15s)').argParser(durationOption(MAX_TIMEOUT_MS)))
    .addOption(new Option('--connect-timeout <duration>', 'engines: give up reaching the engine after this long (exit 69; default: 5s)').argParser(durationOption(MAX_TIMEOUT_MS)))
    .option('--user <name>', 'engines: the user to authenticate as (or user@ in the URL)')
    .option('--password-file <file>', 'engines: read the password from FILE, not readable by others (or $DEADBOLT_BACKEND_PASSWORD_FILE, $DEADBOLT_BACKEND_PASSWORD)')
    .option('--tls-ca <file>', 'engines: the CA certificate (PEM) that signed the engine\'s')
    .option('--tls-cert <file>', 'engines: this client\'s certificate (PEM), with --tls-key')
    .option('--tls-key <file>', 'engines: this client\'s private key (PEM), not readable by others');
}

/**
 * Open the command's engine; the caller closes it.
 *
 * @example
 * ```ts
 * const coordinator = await openForCommand(target, options, io);
 * ```
 */
export function openForCommand(target: Pick<EngineTarget, 'url' | 'from'>, options: EngineOptions, io: Output, identity?: Partial<LockOwner>): Promise<Coordinator> {
  return openEngine(
    {
      url: target.url,
      from: target.from,
      ...pick(options, ['namespace', 'ttl', 'connectTimeout', 'user', 'passwordFile', 'tlsCa', 'tlsCert', 'tlsKey']),
      ...(identity !== undefined && { identity }),
    },
    process.env,
    (line) => io.err(io.errColor.yellow(line)),
  );
}

/**
 * Open the command's engine, run `fn` on it, and close it (revoking the session) however `fn` ends.
 *
 * @example
 * ```ts
 * return withEngine(target, options, io, (coordinator) => showEngineLock(coordinator, target, name, options, io));
 * ```
 */
export async function withEngine<T>(target: EngineTarget, options: EngineOptions, io: Output, fn: (coordinator: Coordinator) => Promise<T>): Promise<T> {
  const coordinator = await openForCommand(target, options, io);
  try {
    return await fn(coordinator);
  } finally {
    await coordinator.close();
  }
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (o[key] !== undefined) out[key] = o[key];
  return out;
}

/**
 * A lock name as a Coordinator accepts it (the library's rule), or exit 64 naming what is wrong.
 *
 * @example
 * ```ts
 * engineLockName('billing/invoices'); // 'billing/invoices'
 * ```
 */
export function engineLockName(name: string): string {
  try {
    return checkLockName(name, 'NAME');
  } catch (err) {
    throw usageError((err as Error).message);
  }
}
