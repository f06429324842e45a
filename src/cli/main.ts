#!/usr/bin/env node
/**
 * The `deadbolt` command: `run`, `ls`, `show`, `clean`, `break` on a lock
 * directory, and (all but `clean`) on an engine through `--backend URL`
 * (docs/cli.md is the manual, with exit codes and JSON schemas).
 *
 * Parsing is commander's (subcommands, per-command help, "did you mean"
 * suggestions for mistyped commands and options). Two things are done here
 * before it: `run`'s command after `--` is split off, so options of the
 * command are never parsed as deadbolt's; and every error, ours or the
 * library's, becomes one line on stderr and a documented exit code.
 *
 * Each command's module is imported only when that command runs: `ls
 * --backend redis://…` never loads the lock-directory code, the native addon
 * or the HTTP server (what start-up costs is in docs/performance.md).
 *
 * @module
 */
import { Command, CommanderError, Option } from 'commander';
import {
  BackendError,
  BackendUnavailableError,
  ConfigurationError,
  NativeError,
  SessionLostError,
  UnsafeFileError,
  UnsupportedError,
  isInvalidArgument,
} from '../errors.js';
import { MAX_TIMEOUT_MS } from '../internal/validate.js';
import { durationOption } from './durations.js';
import { addEngineOptions } from './engine-options.js';
import { escapeLines, escapeText } from './escape.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';
import { createOutput, type Output } from './output.js';
import { packageVersion } from './version.js';
import { addServeCommand } from '../serve/command.js';

const RUN_USAGE = 'deadbolt run [options] NAME -- CMD [ARGS...]';

/**
 * Run the CLI on `argv` (without node and script); resolves with the exit code.
 *
 * @example
 * ```ts
 * process.exit(await main(['ls', '--lock-path', '/run/locks']));
 * ```
 */
export async function main(argv: string[], io: Output = createOutput()): Promise<number> {
  let exitCode = 0;
  const done = (code: number) => {
    exitCode = code;
  };
  try {
    const { parsed, command } = splitRunCommand(argv);
    await buildProgram(io, command, done).parseAsync(parsed, { from: 'user' });
    return exitCode;
  } catch (err) {
    return report(err, io);
  }
}

/** For `run`: what commander parses (before `--`) and the command (after it). */
function splitRunCommand(argv: string[]): { parsed: string[]; command: string[] } {
  if (argv[0] !== 'run') return { parsed: argv, command: [] };
  const dash = argv.indexOf('--');
  if (dash >= 0) return { parsed: argv.slice(0, dash), command: argv.slice(dash + 1) };
  if (argv.includes('--help') || argv.includes('-h')) return { parsed: argv, command: [] };
  throw usageError('missing "--" before the command', `Usage: ${RUN_USAGE}\n  e.g. deadbolt run --lock-path /run/myapp/locks nightly -- ./report.sh --full`);
}

function buildProgram(io: Output, command: string[], done: (code: number) => void): Command {
  const program = new Command('deadbolt')
    .description('Locks for shell scripts, cron jobs and operators, on a deadbolt lock directory (kernel OFD locks) or an engine (etcd, Redis, PostgreSQL, ZooKeeper).')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(io.errColor.red(escapeLines(text.replace(/^error: /, 'deadbolt: ')))) })
    .showHelpAfterError('Run "deadbolt --help" for the commands, "deadbolt COMMAND --help" for one.')
    .addHelpText('after', PROGRAM_EXAMPLES);

  subcommand(program, 'run', RUN_USAGE, 'hold lock NAME while CMD runs (like flock(1)); exit with its status')
    .argument('<name>', 'the lock name')
    .option('--shared', 'take the lock shared: many shared holders at once, never with an exclusive one')
    .addOption(new Option('--timeout <duration>', 'give up waiting after this long (exit 124)').argParser(durationOption(MAX_TIMEOUT_MS)))
    .option('--no-wait', 'do not wait: exit 75 at once if the lock is busy')
    .option('--record-args', 'record the whole command line, arguments included, in the holder record (default: the program only, as arguments may hold secrets)')
    .addOption(new Option('--grace <duration>', 'engines: when the lock is lost, time between SIGTERM and SIGKILL of the command').argParser(durationOption(MAX_TIMEOUT_MS)).default(10_000, '10s'))
    .addHelpText('after', RUN_HELP)
    .action(async (name: string, options) => {
      if (!options.wait && options.timeout !== undefined) throw usageError('--no-wait and --timeout contradict each other: give one');
      const { runCommand } = await import('./run.js');
      done(await runCommand(name, command, options, io));
    });

  subcommand(program, 'ls', 'deadbolt ls [options]', 'list every lock (file, or on an engine): state, holder, age or lease; and recent breaks')
    .option('--json', 'print JSON (schema in docs/cli.md)')
    .option('--watch', 'redraw the listing in place on a terminal until Ctrl-C')
    .addOption(new Option('--interval <duration>', 'with --watch: time between refreshes').argParser(durationOption(MAX_TIMEOUT_MS)).default(2_000, '2s'))
    .addHelpText('after', LS_HELP)
    .action(async (options) => done(await (await import('./ls.js')).listCommand(options, io)));

  subcommand(program, 'show', 'deadbolt show [options] NAME', 'show one lock in detail')
    .argument('<name>', 'the lock name')
    .option('--json', 'print JSON (schema in docs/cli.md)')
    .option('--audit-log <file>', 'engines: the local audit log whose breaks of NAME are shown (default: $DEADBOLT_AUDIT_LOG, else ~/.local/state/deadbolt/audit.log)')
    .addHelpText('after', SHOW_HELP)
    .action(async (name: string, options) => done(await (await import('./show.js')).showCommand(name, options, io)));

  subcommand(program, 'clean', 'deadbolt clean [options]', 'remove unused lock files, safely while services run', false)
    .addOption(new Option('--older-than <duration>', 'only files unused for at least this long').argParser(durationOption(MAX_TIMEOUT_MS)))
    .option('--dry-run', 'report what would be removed, remove nothing')
    .option('--trust-directory', 'act even when others could write the directory or a parent (root only; docs/security.md)')
    .option('--json', 'print JSON (schema in docs/cli.md)')
    .addHelpText('after', CLEAN_HELP)
    .action(async (options) => done(await (await import('./clean.js')).cleanCommand(options, io)));

  subcommand(program, 'break', 'deadbolt break [options] NAME', 'stop the holder of a local lock (SIGTERM, then SIGKILL), or revoke it on an engine, with an audit record')
    .argument('<name>', 'the lock name')
    .option('--reason <text>', 'why: kept in the audit log')
    .option('--yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .option('--trust-directory', 'act even when others could write the directory or a parent (root only; docs/security.md)')
    .addOption(new Option('--grace <duration>', 'time between SIGTERM and SIGKILL').argParser(durationOption(MAX_TIMEOUT_MS)).default(10_000, '10s'))
    .option('--json', 'print the audit record as JSON')
    .option('--audit-log <file>', 'engines: the local audit log to append to (default: $DEADBOLT_AUDIT_LOG, else $XDG_STATE_HOME/deadbolt/audit.log or ~/.local/state/deadbolt/audit.log)')
    .addHelpText('after', BREAK_HELP)
    .action(async (name: string, options) => done(await (await import('./break.js')).breakCommand(name, options, io)));

  addServeCommand(program, io, done);
  return program;
}

/** A subcommand with the options every command shares (and, unless `engines` is false, those of engines), and a short usage line after errors. */
function subcommand(program: Command, name: string, usage: string, description: string, engines = true): Command {
  const cmd = program
    .command(name)
    .description(description)
    .usage(usage.replace(/^deadbolt \S+ /, ''))
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError(`Usage: ${usage}\nRun "deadbolt ${name} --help" for details.`)
    .option('--lock-path <dir>', 'the lock directory (default: $DEADBOLT_LOCK_PATH)')
    .option('--backend <url>', engines ? 'the locks\' backend: file:///DIR, etcd://, redis://, redis+sentinel://, postgres://, zookeeper:// (default: $DEADBOLT_BACKEND)' : 'the lock directory as file:///DIR (default: $DEADBOLT_BACKEND)')
    .option('--prefix <prefix>', 'oslo.concurrency file naming, <prefix>-<name> (run keeps the file on release, as oslo interop requires; clean considers only those files)');
  if (!engines) return cmd;
  return addEngineOptions(cmd);
}

/**
 * One line on stderr (plus a hint) and the exit code for `err`. Messages are
 * built from names, paths and holder records, all untrusted: each message is
 * escaped whole (escape.ts), so it stays one line whatever it holds; hints and
 * stack traces are ours and keep their line breaks.
 */
function report(err: unknown, io: Output): number {
  const red = io.errColor.red;
  if (err instanceof CommanderError) {
    // commander printed its message already; help and --version are not errors.
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  if (err instanceof CliError) {
    io.err(red(`deadbolt: ${escapeText(err.message)}`));
    if (err.hint !== undefined) io.err(escapeLines(err.hint));
    return err.exitCode;
  }
  const message = (err as Error)?.message ?? String(err);
  if (isInvalidArgument(err)) return fail(io, ExitCode.USAGE, message);
  if (err instanceof ConfigurationError) return fail(io, ExitCode.CONFIG, message);
  if (err instanceof NativeError) return fail(io, ExitCode.OS_ERROR, message);
  if (err instanceof UnsafeFileError) return fail(io, ExitCode.NO_PERMISSION, message);
  if (err instanceof UnsupportedError) return fail(io, ExitCode.UNAVAILABLE, message);
  // An engine that fails after connecting (a request timed out, the session was lost while waiting).
  if (err instanceof BackendUnavailableError || err instanceof BackendError || err instanceof SessionLostError) return fail(io, ExitCode.UNAVAILABLE, message);
  io.err(red(`deadbolt: internal error: ${escapeLines((err as Error)?.stack ?? message)}`));
  io.err('This is a bug: please report it with the command you ran.');
  return ExitCode.SOFTWARE;
}

function fail(io: Output, code: number, message: string): number {
  io.err(io.errColor.red(`deadbolt: ${escapeText(message)}`));
  return code;
}

const PROGRAM_EXAMPLES = `
The locks come from --lock-path DIR or $DEADBOLT_LOCK_PATH (a lock directory; or --backend /
$DEADBOLT_BACKEND as file:///DIR), or from an engine: --backend etcd://…, redis://…,
redis+sentinel://…, postgres://…, zookeeper://… (run, ls, show, break). Every process sharing a
lock must use the same directory, or the same engine and --namespace.

Examples:
  $ deadbolt run --lock-path /run/myapp/locks nightly -- ./report.sh
  $ deadbolt ls --lock-path /run/myapp/locks
  $ DEADBOLT_LOCK_PATH=/run/myapp/locks deadbolt break nightly --reason "hung since 03:00"
  $ deadbolt ls --backend etcd://10.0.0.1:2379 --namespace billing --watch
  $ deadbolt run --backend redis://10.0.0.5:6379 --password-file /run/secrets/redis nightly -- ./report.sh

Exit codes: 0 ok; run passes on its command's status; 1 nothing broken / unknown lock (engines);
64 usage; 66 no lock directory; 69 break refused, engine unreachable; 75 busy (--no-wait);
76 lock lost while the command ran (engines); 77 permission denied, credentials refused;
78 not configured, driver package missing; 124 timeout; 126/127 command not executable/not found.
Full list: docs/cli.md.`;

const RUN_HELP = `
The command gets DEADBOLT_TOKEN (the fencing token, strictly increasing per name) and
DEADBOLT_LOCK_NAME in its environment. SIGTERM, SIGHUP and SIGINT are passed on to it
(SIGINT not when stdin is a terminal: there Ctrl-C reaches the command directly).
The command never inherits the lock: if deadbolt dies, the kernel releases it at once.
On a terminal, a status line shows whom it is waiting for.
The holder record (readable by others) names "deadbolt run NAME -- CMD" without CMD's
arguments, which may hold secrets; --record-args records the whole command line.

On an engine (--backend etcd://…), the lock can be lost while the command runs (its lease
expired, or an operator broke it): the command then gets SIGTERM, SIGKILL after --grace, and
run exits 76.

Exit: the command's status (or its signal); 75 busy with --no-wait; 76 lock lost (engines);
124 --timeout ran out; 126 not executable; 127 not found (the lock is released in every case).

Examples:
  $ deadbolt run --lock-path /run/myapp/locks nightly -- ./report.sh --full
  $ deadbolt run --no-wait cron-sync -- rsync -a src/ dst/ || [ $? -eq 75 ] && echo "already running"
  $ deadbolt run --timeout 30s --shared schema -- ./read-only-job.sh
  $ deadbolt run --backend etcd://10.0.0.1:2379 --ttl 30s --grace 30s nightly -- ./report.sh`;

const LS_HELP = `
States: exclusive / shared (held), free (unused), leftover (free, and its last holder is gone:
left by a crash). "clean" removes unused files.

On an engine: every lock of the namespace with holder, lease left (marked "late" when the
holder missed a renewal), token, waiters and last break; --watch redraws it on a terminal.

Examples:
  $ deadbolt ls --lock-path /run/myapp/locks
  $ deadbolt ls --json | jq '.locks[] | select(.state != "free") | .holder.pid'
  $ deadbolt ls --backend postgres://ops@db:5432/app --namespace billing --watch`;

const SHOW_HELP = `
On an engine: each holder's lease and session state, the waiters in queue order, the engine's
break record and the local audit log's breaks of NAME; exit 1 for a lock the engine does not know.

Examples:
  $ deadbolt show --lock-path /run/myapp/locks nightly
  $ deadbolt show nightly --json
  $ deadbolt show --backend zookeeper://zk1:2181/apps invoices`;

const CLEAN_HELP = `
Each file is removed only if nobody holds it, under a non-blocking lock with an inode
re-check, so it is safe while deadbolt processes run. With oslo.concurrency processes
sharing the directory, use a generous --older-than (docs/operations.md).

Examples:
  $ deadbolt clean --lock-path /run/myapp/locks --dry-run
  $ deadbolt clean --older-than 1h --json`;

const BREAK_HELP = `
Stops the holder of an exclusive lock on this host: shows it, asks for confirmation,
sends SIGTERM, waits --grace for the lock to be freed, then SIGKILL. Before each signal
the kernel must show (/proc/PID/fdinfo) that the pid holds this lock file and runs as its
owner. Refuses (exit 69) when the holder cannot be identified safely: no holder record, its
pid gone or reused, a pid that does not hold the lock (a forged record), another host, or a
shared lock. Appends a record to .deadbolt-audit.log.

On an engine (--backend etcd://…): shows who will be displaced (lease left, whether its
session still renews), asks (or --yes; --reason is required), refuses if the holder's token
changed meanwhile, revokes its claim on the engine (its guard.signal fires; no process is
signalled), and appends to the local audit log (--audit-log, $DEADBOLT_AUDIT_LOG, else
~/.local/state/deadbolt/audit.log).

Exit: 0 broken; 1 nothing broken (not held, not confirmed, still held, or changed hands);
64 not a terminal and no --yes; 69 refused; 77 not allowed to signal the holder.

Examples:
  $ deadbolt break --lock-path /run/myapp/locks nightly --reason "hung since 03:00"
  $ deadbolt break nightly --yes --grace 30s --reason "deploy 1234"
  $ deadbolt break --backend redis://10.0.0.5:6379 invoices --yes --reason "hung since 09:12"`;

const code = await main(process.argv.slice(2));
// Writes to a pipe are asynchronous: exiting at once would cut a long listing (ls --json of 10 000 locks) short.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))));
process.exit(code);
