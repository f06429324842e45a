/**
 * Helpers for lock-directory tests that spawn real processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { EVENT_BOUND_MS } from '../harness/bounds.js';

/** The compiled fixture `name` (e.g. 'lockdir-holder'). */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}.js`, import.meta.url));
}

/** The repository root (for fixtures that are not compiled, like Python scripts). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(label: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `deadbolt-${label}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A spawned worker whose stdout lines can be awaited. */
export interface Worker {
  readonly child: ChildProcess;
  /** Resolves with the first stdout line matching `pattern` (rejects if the process exits first). */
  line(pattern: RegExp): Promise<string>;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
  /** Everything written to stderr so far. */
  stderr(): string;
}

/** Spawn `node <fixture> ...args`, or any command when `command` is given. */
export function spawnWorker(file: string, args: string[], command: string = process.execPath): Worker {
  const child = spawn(command, command === process.execPath ? [file, ...args] : args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  let err = '';
  let ended = false;
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of [...waiters]) {
      if (w.pattern.test(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('close', (code, signal) => {
      ended = true;
      for (const w of waiters.splice(0)) w.reject(new Error(`worker exited (${code ?? signal}) before printing ${w.pattern}; stderr: ${err}`));
      resolve(code ?? signal ?? -1);
    });
  });
  return {
    child,
    exited,
    stderr: () => err,
    line(pattern) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      if (ended) return Promise.reject(new Error(`worker exited before printing ${pattern}; stderr: ${err}`));
      return new Promise((resolve, reject) => waiters.push({ pattern, resolve, reject }));
    },
  };
}

// The kernel's system-call numbering: under qemu-user (scripts/test-arm64.sh) the host's, not process.arch's.
const SYSCALL_ARCH = process.env.DEADBOLT_TEST_SYSCALL_ARCH ?? process.arch;
const FCNTL = SYSCALL_ARCH === 'x64' ? '72' : SYSCALL_ARCH === 'arm64' ? '25' : undefined;

/** Threads of `pid` blocked in fcntl(fd, F_OFD_SETLKW = 0x26, …), from /proc. */
export function blockedInKernel(pid: number | 'self'): number {
  let count = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ');
      if (fields[0] === FCNTL && fields[2] === '0x26') count++;
    } catch {
      // the thread exited meanwhile
    }
  }
  return count;
}

/** Resolves once `n` threads of `pid` are blocked in the kernel lock wait. */
export async function untilBlocked(pid: number | 'self', n: number): Promise<void> {
  if (FCNTL === undefined) {
    // No syscall table for this architecture: fall back to a generous pause.
    await new Promise((r) => setTimeout(r, 200));
    return;
  }
  const deadline = Date.now() + EVENT_BOUND_MS;
  while (blockedInKernel(pid) < n) {
    if (Date.now() > deadline) throw new Error(`only ${blockedInKernel(pid)} of ${n} waits reached the kernel`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
