/**
 * The options every command takes to reach an engine (`--namespace`,
 * `--ttl`, `--connect-timeout`, `--user`, `--password-file`, `--tls-*`), and
 * opening one for a command: engine.ts does the work, this adds the command's
 * warnings output.
 *
 * @module
 */
import type { Coordinator } from '../distributed/coordinator.js';
import { checkLockName } from '../internal/lock-name.js';
import type { LockOwner } from '../local/fenced-guard.js';
import type { CredentialOptions } from './credentials.js';
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
 * Open the command's engine; the caller closes it.
 *
 * @example
 * ```ts
 * const coordinator = await openForCommand(target, options, io);
 * ```
 */
export function openForCommand(target: EngineTarget, options: EngineOptions, io: Output, identity?: Partial<LockOwner>): Promise<Coordinator> {
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
