/**
 * `deadbolt serve`: a monitoring page, a JSON API and /metrics over lock
 * directories and engines (docs/serve.md). This file is the command: its
 * options, their checks, and the server's life from start to SIGINT/SIGTERM.
 *
 * Read-only unless started with `--allow-break --token-file FILE` (the token
 * is read from a private file, never from the command line, and never
 * printed). Engine breaks are recorded in the engine and in the same audit log
 * as `deadbolt break --backend` (`--audit-log`, `$DEADBOLT_AUDIT_LOG` or the default).
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { BackendUnavailableError, DeadboltError } from '../errors.js';
import { durationOption } from '../cli/durations.js';
import { auditLogPath } from '../cli/engine-audit.js';
import { addEngineOptions, type EngineOptions } from '../cli/engine-options.js';
import { escapeText } from '../cli/escape.js';
import { CliError, ExitCode, usageError } from '../cli/exit-codes.js';
import type { Output } from '../cli/output.js';
import type { AccessToken } from './access-token.js';
import type { LockSource } from './lock-source.js';

/**
 * Options of `deadbolt serve`, as parsed.
 *
 * @example
 * ```ts
 * const options: ServeOptions = { backend: ['file:///run/locks'], listen: '127.0.0.1:0', warnAfter: 600_000, interval: 500, grace: 10_000 };
 * ```
 */
export interface ServeOptions extends EngineOptions {
  backend?: string[];
  lockPath?: string;
  listen: string;
  warnAfter: number;
  interval: number;
  grace: number;
  allowBreak?: boolean;
  tokenFile?: string;
  auditLog?: string;
  json?: boolean;
}

/**
 * Register `serve` on the program; `done` receives the exit code when the server stops.
 *
 * @example
 * ```ts
 * addServeCommand(program, io, (code) => (exitCode = code));
 * ```
 */
export function addServeCommand(program: Command, io: Output, done: (code: number) => void): void {
  const command = program
    .command('serve')
    .description('a live monitoring page, JSON API and /metrics over lock directories and engines')
    .usage('[options]')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError('Usage: deadbolt serve [--backend URL]... [options]\nRun "deadbolt serve --help" for details.')
    .option('--backend <url>', 'a backend to show: file:///DIR, etcd://, redis://, postgres://, zookeeper:// (repeatable; default: $DEADBOLT_BACKEND)', collect)
    .option('--lock-path <dir>', 'a lock directory to show (default: $DEADBOLT_LOCK_PATH)')
    .option('--listen <host:port>', 'where to listen; port 0 picks a free port', '127.0.0.1:7070')
    .addOption(new Option('--warn-after <duration>', 'mark locks held longer than this').argParser(durationOption(2 ** 31 - 1)).default(600_000, '10m'))
    .addOption(new Option('--interval <duration>', 'how often each backend is polled (one poll per backend, whatever the number of pages)').argParser(durationOption(2 ** 31 - 1)).default(500, '500ms'))
    .option('--allow-break', 'allow breaking locks from the page (needs --token-file)')
    .option('--token-file <file>', 'the access token for breaking: first line of a file of this user, mode 0600')
    .option('--audit-log <file>', 'engines: the audit log each break is appended to, shared with "deadbolt break" (default: $DEADBOLT_AUDIT_LOG, else $XDG_STATE_HOME/deadbolt/audit.log)')
    .addOption(new Option('--grace <duration>', 'lock directories: time between SIGTERM and SIGKILL when breaking').argParser(durationOption(2 ** 31 - 1)).default(10_000, '10s'))
    .option('--json', 'print where it listens as one JSON line (for scripts)')
    .addHelpText('after', SERVE_HELP);
  addEngineOptions(command).action(async (options: ServeOptions) => done(await serveCommand(options, io)));
}

/**
 * Run the server until SIGINT or SIGTERM; resolves with the exit code.
 *
 * @example
 * ```ts
 * await serveCommand({ lockPath: '/run/locks', listen: '127.0.0.1:0', warnAfter: 600_000, interval: 500, grace: 10_000, json: true }, io);
 * ```
 */
export async function serveCommand(options: ServeOptions, io: Output): Promise<number> {
  const urls = backendUrls(options);
  const listen = parseListen(options.listen);
  // Imported here, not at the top: every other deadbolt command loads this module for its options only.
  const [{ readAccessToken }, { Monitor }, { startServer }, { openSources }] = await Promise.all([
    import('./access-token.js'),
    import('./monitor.js'),
    import('./server.js'),
    import('./sources.js'),
  ]);
  const token = accessToken(options, readAccessToken);
  let sources: LockSource[];
  try {
    sources = await openSources(urls, { grace: options.grace, engine: options, auditLog: auditLogPath(options.auditLog, process.env), io });
  } catch (err) {
    throw connectFailure(err);
  }
  const monitor = new Monitor(sources, { intervalMs: options.interval });
  try {
    await monitor.start();
    const server = await startServer({ monitor, token, warnAfterMs: options.warnAfter, intervalMs: options.interval }, listen).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(err.code === 'EADDRINUSE' ? ExitCode.UNAVAILABLE : ExitCode.OS_ERROR, `cannot listen on ${options.listen}: ${err.code ?? err.message}`, err.code === 'EADDRINUSE' ? { hint: 'Another server has that port: pick another with --listen, or port 0 for any free one.' } : {});
    });
    announce(io, server.url, sources, token !== undefined, options.json === true);
    if (!isLoopback(listen.host)) io.err(`deadbolt serve: warning: listening on ${listen.host}, beyond this host: anyone who can reach it can read the page (plain HTTP, no TLS)`);
    await stopSignal();
    await server.close();
    return ExitCode.OK;
  } finally {
    await monitor.stop();
    await Promise.allSettled(sources.map((s) => s.close()));
  }
}

function backendUrls(options: ServeOptions): string[] {
  const urls = [...(options.backend ?? [])];
  if (options.lockPath !== undefined) urls.push(pathToFileURL(resolve(options.lockPath)).toString());
  if (urls.length === 0 && process.env.DEADBOLT_LOCK_PATH) urls.push(pathToFileURL(resolve(process.env.DEADBOLT_LOCK_PATH)).toString());
  else if (urls.length === 0 && process.env.DEADBOLT_BACKEND) urls.push(process.env.DEADBOLT_BACKEND);
  if (urls.length === 0) {
    throw new CliError(ExitCode.CONFIG, 'no backend: pass --backend URL (repeatable) or --lock-path DIR, or set DEADBOLT_BACKEND', {
      hint: 'e.g. deadbolt serve --lock-path /run/myapp/locks --backend redis://127.0.0.1:6379',
    });
  }
  return urls;
}

function accessToken(options: ServeOptions, readAccessToken: (file: string) => AccessToken): AccessToken | undefined {
  if (options.tokenFile !== undefined && !options.allowBreak) throw usageError('--token-file is only for --allow-break: add --allow-break, or drop --token-file');
  if (!options.allowBreak) return undefined;
  if (options.tokenFile === undefined) {
    throw usageError('--allow-break needs --token-file FILE: the access token the page must send (never given on the command line)', 'e.g. head -c 32 /dev/urandom | base64 > ~/.deadbolt-serve.token && chmod 600 ~/.deadbolt-serve.token');
  }
  return readAccessToken(options.tokenFile);
}

/**
 * `HOST:PORT`, `[V6]:PORT` or `PORT` (on 127.0.0.1).
 *
 * @example
 * ```ts
 * parseListen('127.0.0.1:0'); // { host: '127.0.0.1', port: 0 }
 * ```
 */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:(?:\[([0-9a-f:.]+)\]|([^:[\]]+)):)?([0-9]{1,5})$/i.exec(text);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) throw usageError(`--listen ${text}: expected HOST:PORT, [IPv6]:PORT or PORT (0 for any free port), e.g. 127.0.0.1:7070`);
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function announce(io: Output, url: string, sources: LockSource[], allowBreak: boolean, json: boolean): void {
  const backends = sources.map((s) => ({ id: s.id, url: s.url }));
  if (json) return io.out(JSON.stringify({ url, backends, allowBreak }));
  io.out(`deadbolt serve: ${url}`);
  for (const b of backends) io.out(escapeText(`  ${b.id}  ${b.url}`));
  io.out(allowBreak ? '  breaking allowed with the access token' : '  read-only (breaking needs --allow-break --token-file FILE)');
}

function connectFailure(err: unknown): unknown {
  if (err instanceof BackendUnavailableError) return new CliError(ExitCode.UNAVAILABLE, err.message);
  if (err instanceof DeadboltError && err.code === 'DEADBOLT_BACKEND') return new CliError(ExitCode.UNAVAILABLE, err.message);
  return err;
}

function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}


const SERVE_HELP = `
Serves, on 127.0.0.1 by default:
  /              the page: every held lock, live (server-sent events), locks held longer than
                 --warn-after and stopped or expiring holders marked, breaks and losses, a detail view
  /api/...       the JSON API (docs/serve.md)
  /metrics       Prometheus text format
Each backend is polled once per --interval, whatever the number of open pages.
Breaking from the page needs --allow-break and --token-file FILE (mode 0600); the page sends the
token as "Authorization: Bearer" (no cookies), must repeat the lock's name and give a reason, and is
refused if the holder changed. Breaks are recorded as by "deadbolt break" (lock directories:
.deadbolt-audit.log; engines: the engine's break record and the audit log "deadbolt break"
uses, --audit-log FILE), and the history shows breaks made either way.
Engines are reached with the same --namespace, --user, --password-file, --tls-* and
--connect-timeout options as every other command (docs/cli.md).

Exit: 0 stopped by SIGINT/SIGTERM; 64 usage; 66 no lock directory or token file; 69 a backend is
unreachable or the port is taken; 77 token file readable by others; 78 no backend.

Examples:
  $ deadbolt serve --lock-path /run/myapp/locks
  $ deadbolt serve --backend file:///run/myapp/locks --backend redis://10.0.0.5:6379 --listen 127.0.0.1:0 --json
  $ deadbolt serve --backend etcd://10.0.0.1:2379 --allow-break --token-file ~/.deadbolt-serve.token
  $ deadbolt serve --backend redis://10.0.0.5:6379 --password-file /run/secrets/redis --namespace billing`;
