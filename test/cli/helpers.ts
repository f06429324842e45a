/**
 * Helpers for the CLI tests: every test drives the real built CLI,
 * `node dist-test/src/cli/main.js`, as a separate process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { EVENT_BOUND_MS } from '../harness/bounds.js';

/** The CLI under test (compiled by tsconfig.test.json). */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** The environment every CLI process gets: no inherited lock path, no colour. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  for (const key of ['DEADBOLT_LOCK_PATH', 'DEADBOLT_BACKEND'] as const) if (!(key in extra)) delete env[key];
  return env;
}

/** What a finished CLI process did. */
export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `deadbolt ...args` to completion. */
export function cli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: cliEnv(options.env), cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** A temporary directory tree for one test file, removed by `remove()`; world-traversable so tests can run the CLI as another user. */
export function tempDir(label: string): { path: string; next: () => string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `deadbolt-cli-${label}-`));
  chmodSync(path, 0o755);
  let seq = 0;
  return { path, next: () => join(path, `d${seq++}`), remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A `deadbolt run NAME -- sh -c 'echo held $$; exec …'` process holding a lock. */
export interface Holder {
  /** The deadbolt process. */
  readonly child: ChildProcess;
  /** The pid of the command deadbolt runs (the shell, then what it exec'd). */
  readonly commandPid: number;
  /** How the deadbolt process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stderr so far. */
  stderr(): string;
}

const started: Array<{ child: ChildProcess; commandPid?: number }> = [];

/**
 * Start a holder and resolve once its command runs (it prints `held <pid>`).
 * `setup` runs before that line (e.g. a trap), `script` after it (default: `exec sleep 60`).
 */
export async function startHolder(
  dir: string,
  name: string,
  options: { args?: string[]; setup?: string; script?: string; detached?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<Holder> {
  const script = `${options.setup ?? ''}echo held $$; ${options.script ?? 'exec sleep 60'}`;
  const child = spawn(process.execPath, [CLI, 'run', '--lock-path', dir, ...(options.args ?? []), name, '--', 'sh', '-c', script], {
    env: cliEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  const entry: { child: ChildProcess; commandPid?: number } = { child };
  started.push(entry);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    void exited.then((r) => reject(new Error(`holder of ${name} exited (${r.code ?? r.signal}) before holding: ${err}`)));
  });
  entry.commandPid = Number(line.split(' ')[1]);
  return { child, commandPid: entry.commandPid, exited, stderr: () => err };
}

/** The fixture that holds a lock (or only opens a file) in a process of its own: test/cli/fixtures/lock-holder.ts. */
export const LOCK_HOLDER = fileURLToPath(new URL('./fixtures/lock-holder.js', import.meta.url));

/** A running lock-holder fixture. */
export interface FixtureProcess {
  /** The fixture's own pid (not runuser's). */
  readonly pid: number;
  /** The lock file it holds or has open. */
  readonly path: string;
  readonly child: ChildProcess;
}

/**
 * Start `node lock-holder.js ...args` (as user nobody with `asNobody`, through
 * runuser) and resolve once it is ready. It ends when its stdin closes, or by
 * `killHolders()`.
 */
export async function startFixture(args: string[], options: { asNobody?: boolean } = {}): Promise<FixtureProcess> {
  const argv = [process.execPath, LOCK_HOLDER, ...args];
  const child = options.asNobody ? spawn('runuser', ['-u', 'nobody', '--', ...argv], { stdio: ['pipe', 'pipe', 'pipe'] }) : spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const entry: { child: ChildProcess; commandPid?: number } = { child };
  started.push(entry);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code, signal) => reject(new Error(`lock-holder ${args.join(' ')} exited (${code ?? signal}) before it was ready: ${err}`)));
  });
  const [, pid, ...path] = line.split(' ');
  entry.commandPid = Number(pid);
  return { pid: Number(pid), path: path.join(' '), child };
}

/** Kill every holder (and its command) still running: for `after()`. */
export function killHolders(): void {
  for (const { child, commandPid } of started.splice(0)) {
    for (const pid of [commandPid, child.pid]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Whether a process exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !/^\S+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/** Poll `check` every 20 ms until it returns a value other than undefined/false, or fail after `ms`. */
export async function until<T>(what: string, check: () => T | undefined | false, ms = EVENT_BOUND_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Whether some process is blocked in the kernel waiting for a lock on `path`
 * (/proc/locks lists blocked requests with "->"): how a test knows a waiter waits.
 */
export function hasKernelWaiter(path: string): boolean {
  let inode: number;
  try {
    inode = statSync(path).ino;
  } catch {
    return false;
  }
  return readFileSync('/proc/locks', 'latin1')
    .split('\n')
    .some((line) => line.includes('->') && Number(line.trim().split(/\s+/)[6]?.split(':')[2]) === inode);
}

/** Replace run-dependent values in CLI text output with placeholders. */
export function normalize(text: string, dir: string): string {
  return text
    .replaceAll(dir, '<dir>')
    .replaceAll(hostname(), '<host>')
    .replace(/\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
    .replace(/\b\d+ (ms|s|min|h|d)( \d+ (s|min|h))?\b/g, '<dur>');
}

/** Whether `setpriv` can run the CLI as another user (root only). */
export const canSwitchUser = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;

/** Run `deadbolt ...args` as user `nobody` (needs root). */
export function cliAsNobody(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args], {
      env: cliEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
