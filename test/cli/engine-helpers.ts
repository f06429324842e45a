/**
 * Helpers for the CLI tests on engines: a `deadbolt run --backend URL` holder
 * process, and polling the CLI's own `ls --json` until a condition holds
 * (bounded; the condition is the event awaited, nothing sleeps for a fixed time).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI, cli, cliEnv } from './helpers.js';
import { EVENT_BOUND_MS } from '../harness/bounds.js';

/** A `deadbolt run` on an engine whose command printed `held <pid>`. */
export interface EngineHolder {
  readonly child: ChildProcess;
  /** The command's pid (the shell). */
  readonly commandPid: number;
  /** Resolves once run exited and its stdout and stderr (the command's too) were read to the end. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

const started: ChildProcess[] = [];

/**
 * The command of a holder: it prints `held <pid>`, and `got-term` when SIGTERM reaches it.
 * Its `sleep` does not hold run's stdout, so the pipe closes when run and the shell are gone.
 */
export const TRAPPING_COMMAND = ["sh", "-c", "trap 'echo got-term; kill $! 2>/dev/null; exit 0' TERM; echo held $$; sleep 60 >/dev/null 2>&1 & wait"];

/** Start `deadbolt run ...args NAME -- CMD` and resolve once the command runs. */
export async function startEngineRun(args: string[], name: string, command: string[] = TRAPPING_COMMAND, env: NodeJS.ProcessEnv = {}): Promise<EngineHolder> {
  const child = spawn(process.execPath, [CLI, 'run', ...args, name, '--', ...command], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // 'close', not 'exit': 'exit' can come before the last of the command's output was read (seen under load).
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('held ')) resolve(l);
    });
    void exited.then((r) => reject(new Error(`run of ${name} exited (${r.code ?? r.signal}) before holding: ${err}`)));
  });
  return { child, commandPid: Number(line.split(' ')[1]), exited, stdout: () => out, stderr: () => err };
}

/** Start `deadbolt run` without waiting for its command (a waiter). */
export function spawnEngineRun(args: string[], name: string, command: string[]): { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, 'run', ...args, name, '--', ...command], { env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  started.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, exited: new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr: err }))) };
}

/** Kill every process started here: for `after()`. */
export function killEngineRuns(): void {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

/** `deadbolt ls --json ...args`, parsed. */
export async function lsJson(args: string[]): Promise<any> {
  const r = await cli(['ls', '--json', ...args]);
  if (r.code !== 0) throw new Error(`ls failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Poll `check` (async) every 50 ms until it returns something truthy, or fail after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, ms = EVENT_BOUND_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
