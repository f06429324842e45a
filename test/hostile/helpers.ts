/**
 * The hostile-user suite's tools: a real second account (`nobody`) for the
 * attacker, root for the victim's own deadbolt commands, stand-ins for the
 * host's files, and a snapshot that proves nothing outside was touched.
 *
 * Why setpriv and not runuser: `setpriv --reuid … cmd` execs the command, so
 * the pid we spawn IS the attacker's process (runuser forks and waits, and a
 * SIGKILL to it would orphan the attacker). Both give a real unprivileged
 * account: uid and gid of nobody, no supplementary groups, no capabilities.
 *
 * Prerequisites: root, setpriv (util-linux), the `nobody` account,
 * /usr/bin/python3 (the attacker's fcntl.lockf, independent of deadbolt), and
 * a checkout nobody can read (the built CLI, the addon, the fixtures). Missing
 * any, a suite skips loudly; under CI it fails instead.
 *
 * Every process started here is tracked and SIGKILLed by `killAll()`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, cliEnv } from '../cli/helpers.js';
import { repoRoot, spawnWorker, type Worker } from '../file/helpers.js';
import { isCI } from '../harness/require-server.js';
import { EVENT_BOUND_MS } from '../harness/bounds.js';

export { CLI };

/** The attacker's Python primitive (not compiled: read from the checkout). */
export const ATTACKER = join(repoRoot, 'test/hostile/fixtures/attacker.py');
export const PYTHON = '/usr/bin/python3';

/** A compiled fixture of this suite. */
export function hostileFixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}.js`, import.meta.url));
}

function idOf(flag: '-u' | '-g'): number | undefined {
  const r = spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

/** The attacker's account. */
export const NOBODY = { uid: idOf('-u') ?? 65534, gid: idOf('-g') ?? 65534 };

/** argv prefix that runs a command as nobody (exec, same pid). */
export const AS_NOBODY = ['setpriv', `--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', '--'];

let missing: string | false | undefined;

function probe(): string | false {
  if (process.getuid?.() !== 0) return 'root (the attacker runs as user nobody, the victim as root)';
  if (spawnSync('setpriv', ['--version']).status !== 0) return 'setpriv (util-linux) to run the attacker as nobody';
  if (idOf('-u') === undefined) return 'a "nobody" account';
  if (!fs.existsSync(PYTHON)) return `${PYTHON} (the attacker's fcntl.lockf)`;
  const check = `const fs=require('fs');for(const f of process.argv.slice(1))fs.accessSync(f,fs.constants.R_OK)`;
  const r = spawnSync(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), process.execPath, '-e', check, CLI, ATTACKER, hostileFixture('holder')], { encoding: 'utf8' });
  if (r.status !== 0) return `user nobody to read the checkout at ${repoRoot} (built CLI, addon, fixtures): make it world-readable (${r.stderr.trim().split('\n')[0]})`;
  return false;
}

/**
 * Whether this machine can run the attacks: `false`, or why not (a `skip`
 * reason, printed loudly). Under CI a missing prerequisite throws.
 *
 * @example
 * ```ts
 * const skip = secondAccount('hostile: clean');
 * test('…', { skip }, async () => {});
 * ```
 */
export function secondAccount(suite: string): string | false {
  missing ??= probe();
  if (missing === false) return false;
  const message = `${suite} needs ${missing}`;
  if (isCI()) throw new Error(`${message}; CI is set, so this is a failure, not a skip`);
  process.stderr.write(`\nSKIPPED: ${message}\n\n`);
  return missing;
}

// ---------------------------------------------------------------- processes

const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

const pids = new Set<number>();

/** Also SIGKILL `pid` in `killAll()` (a command a `deadbolt run` started, which outlives it). */
export function trackPid(pid: number): void {
  pids.add(pid);
}

/** SIGKILL every process started by these helpers that is still running: for `after()`. */
export function killAll(): void {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  children.clear();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  pids.clear();
}

/** How a bounded process ended. `timedOut`: it did not end by itself and was SIGKILLed. */
export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** Run `argv` to completion, SIGKILLed after `timeoutMs` (reported as `timedOut`). */
export function runBounded(
  argv: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string; cwd?: string; onSpawn?: (child: ChildProcess) => void } = {},
): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = track(spawn(argv[0]!, argv.slice(1), { env: options.env ?? process.env, cwd: options.cwd ?? tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] }));
    options.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
      // A grandchild may keep the pipes open: do not wait for them.
      child.stdout!.destroy();
      child.stderr!.destroy();
    }, options.timeoutMs ?? EVENT_BOUND_MS); // a hang guard: a CLI's Node start-up alone can take seconds on a loaded machine
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, ms: performance.now() - started });
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(options.input ?? '');
  });
}

/** Root runs `deadbolt …args` (the victim's own command), bounded. */
export function deadbolt(
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string; onSpawn?: (child: ChildProcess) => void } = {},
): Promise<Outcome> {
  return runBounded([process.execPath, CLI, ...args], { ...options, env: cliEnv(options.env) });
}

/** nobody runs `argv`, bounded. */
export function asNobody(argv: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Outcome> {
  return runBounded([...AS_NOBODY, ...argv], { ...options, env: cliEnv(options.env) });
}

/** nobody runs a shell script, which must succeed (planting files, swapping directories). */
export async function nobodySh(script: string): Promise<void> {
  const r = await asNobody(['sh', '-ec', script]);
  if (r.code !== 0) throw new Error(`attacker step failed (${r.code ?? r.signal}): ${script}\n${r.stderr}`);
}

/** Synchronous variant, for a step that must land at one exact moment (inside a diagnostics callback). */
export function nobodyShSync(script: string): void {
  const r = spawnSync(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), 'sh', '-ec', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`attacker step failed (${r.status ?? r.signal}): ${script}\n${r.stderr}`);
}

/** A long-lived process (as nobody when `user` is 'nobody'), tracked for cleanup. */
export function startProcess(argv: string[], user: 'root' | 'nobody' = 'nobody'): Worker {
  const full = user === 'nobody' ? [...AS_NOBODY, ...argv] : argv;
  // spawnWorker runs `node FILE ARGS` when given node itself, `COMMAND ARGS` otherwise.
  const worker = full[0] === process.execPath ? spawnWorker(full[1]!, full.slice(2)) : spawnWorker('', full.slice(1), full[0]!);
  track(worker.child);
  return worker;
}

/**
 * `deadbolt run [args] NAME -- sh -c 'echo held $$; exec sleep 60' sh [commandArgs]`,
 * as root or nobody; resolves once the command runs. The command's pid is
 * tracked too (it would outlive a SIGKILLed deadbolt).
 */
export async function cliHolder(
  dir: string,
  name: string,
  options: { args?: string[]; commandArgs?: string[]; user?: 'root' | 'nobody' } = {},
): Promise<{ worker: Worker; pid: number; commandPid: number }> {
  const worker = startProcess(
    [process.execPath, CLI, 'run', '--lock-path', dir, ...(options.args ?? []), name, '--', 'sh', '-c', 'echo held $$; exec sleep 60', 'sh', ...(options.commandArgs ?? [])],
    options.user ?? 'root',
  );
  const commandPid = Number((await worker.line(/^held/)).split(' ')[1]);
  trackPid(commandPid);
  return { worker, pid: worker.child.pid!, commandPid };
}

/** Of `paths`, the ones nobody manages to open for reading. */
export async function openableByNobody(paths: string[]): Promise<string[]> {
  const script = `const fs=require('fs');const ok=[];for(const p of process.argv.slice(1)){try{fs.closeSync(fs.openSync(p,fs.constants.O_RDONLY|fs.constants.O_NONBLOCK));ok.push(p)}catch{}}console.log(JSON.stringify(ok))`;
  const r = await asNobody([process.execPath, '-e', script, ...paths]);
  if (r.code !== 0) throw new Error(`probe as nobody failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

/** The attacker holding a POSIX lock on `path` (see fixtures/attacker.py). */
export interface AttackerLock {
  pid: number;
  worker: Worker;
  release(): Promise<void>;
}

/**
 * nobody opens `path` (creating it with `create`), writes `content` at offset 0
 * if given, and locks it (shared: read-only open and a shared lock).
 */
export async function attackerLock(
  path: string,
  options: { shared?: boolean; create?: boolean; mode?: number; content?: string | Buffer } = {},
): Promise<AttackerLock> {
  const args = [PYTHON, '-I', ATTACKER, 'lock', path];
  if (options.shared) args.push('--shared');
  if (options.create) args.push('--create', '--mode', (options.mode ?? 0o600).toString(8));
  if (options.content !== undefined) args.push('--hex', Buffer.from(options.content).toString('hex'));
  const worker = startProcess(args);
  const line = await worker.line(/^(ready|busy|error)/);
  if (!line.startsWith('ready')) throw new Error(`attacker could not lock ${path}: ${line} ${worker.stderr()}`);
  return {
    pid: Number(line.split(' ')[1]),
    worker,
    async release() {
      worker.child.stdin!.end('release\n');
      await worker.exited;
    },
  };
}

/** A root `sleep` that nobody should be able to get killed: the victim of forged records. */
export function victimProcess(): { pid: number; child: ChildProcess; alive(): boolean } {
  const child = track(spawn('sleep', ['60'], { stdio: 'ignore' }));
  return { pid: child.pid!, child, alive: () => processAlive(child.pid!) };
}

/** Whether a process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) [ZX] /s.test(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

/** Resolves with `promise`'s outcome, or `{ pending: true }` if it has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; pending?: true; ms: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<{ pending: true }>((resolve) => (timer = setTimeout(() => resolve({ pending: true }), ms)));
  try {
    const r = await Promise.race([promise.then((value) => ({ value }), (error: unknown) => ({ error })), deadline]);
    return { ...r, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `check` (every 5 ms) until true or `ms` passes; resolves whether it became true. */
export async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// ---------------------------------------------------------------- the file system

/**
 * A fresh sandbox under the temporary directory, 0755 so nobody can reach the
 * test directories (and no further than their own modes allow).
 */
export function sandbox(label: string): { path: string; dir(name: string, mode?: number, owner?: { uid: number; gid: number }): string; remove(): void } {
  const path = fs.mkdtempSync(join(tmpdir(), `deadbolt-hostile-${label}-`));
  fs.chmodSync(path, 0o755);
  return {
    path,
    dir(name, mode = 0o755, owner = { uid: 0, gid: 0 }) {
      const dir = join(path, name);
      fs.mkdirSync(dir, { recursive: true });
      fs.chownSync(dir, owner.uid, owner.gid);
      fs.chmodSync(dir, mode);
      return dir;
    },
    remove: () => fs.rmSync(path, { recursive: true, force: true }),
  };
}

/**
 * A stand-in for /etc: root-owned files an attacker would love root to
 * delete, overwrite or append to. Some names carry `@` (shared-record file
 * names are `<lock file>@<token>`).
 */
export function standInEtc(parent: string, name = 'etc'): string {
  const etc = join(parent, name);
  fs.mkdirSync(etc, { mode: 0o755 });
  fs.chmodSync(etc, 0o755);
  const files: Record<string, [string, number]> = {
    passwd: ['root:x:0:0:root:/root:/bin/sh\n', 0o644],
    shadow: ['root:$6$stand-in$secret:19000:0:99999:7:::\n', 0o640],
    'ld.so.preload': ['', 0o644],
    'sudoers': ['root ALL=(ALL) ALL\n', 0o440],
    'job@1': ['not a record\n', 0o644],
    'passwd@7': ['', 0o644],
  };
  for (const [file, [content, mode]] of Object.entries(files)) {
    fs.writeFileSync(join(etc, file), content, { mode });
    fs.chmodSync(join(etc, file), mode);
  }
  return etc;
}

/** Every entry under `dir` (not following symlinks): type, mode, owner, links, content hash. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const entry of fs.readdirSync(d).sort()) {
      const p = join(d, entry);
      const s = fs.lstatSync(p);
      const type = s.isFile() ? 'file' : s.isDirectory() ? 'dir' : s.isSymbolicLink() ? `link->${fs.readlinkSync(p)}` : s.isFIFO() ? 'fifo' : 'other';
      const hash = s.isFile() ? createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16) : '';
      out[`${rel}${entry}`] = `${type} ${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid} n${s.nlink} ${s.size} ${hash}`;
      if (s.isDirectory()) walk(p, `${rel}${entry}/`);
    }
  };
  walk(dir, '');
  return out;
}

/**
 * Create a lock directory the way a service would: mkdir with `mode` (and
 * group), then let deadbolt adopt it (after the fix that writes its marker).
 * With `fileMode` (the group layout), under a umask of 007 so the group bits survive.
 */
export async function makeLockDirectory(path: string, mode: number, options: { gid?: number; fileMode?: number; uid?: number } = {}): Promise<string> {
  fs.mkdirSync(path, { recursive: true });
  fs.chownSync(path, options.uid ?? 0, options.gid ?? 0);
  fs.chmodSync(path, mode);
  const { LockDirectory } = await import('../../src/index.js');
  if (options.fileMode === undefined) {
    new LockDirectory(path).open();
    return path;
  }
  const saved = process.umask(0o007);
  try {
    new LockDirectory(path, { fileMode: options.fileMode }).open();
  } finally {
    process.umask(saved);
  }
  return path;
}

// ---------------------------------------------------------------- deadbolt's formats, written by hand

function fnv1a(bytes: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/**
 * A holder record line, as a forger writes it: `deadbolt1 <fnv1a-32> <json>\n`
 * (the documented format; written here independently of src/).
 */
export function forgedRecord(fields: { name: string; pid: number; command: string; token?: bigint; host?: string; mode?: 'exclusive' | 'shared'; since?: Date; id?: string }): string {
  const json = JSON.stringify({
    name: fields.name,
    mode: fields.mode ?? 'exclusive',
    token: String(fields.token ?? 7n),
    id: fields.id ?? 'f0f0f0f0-0000-4000-8000-000000000000',
    host: fields.host ?? hostname(),
    pid: fields.pid,
    command: fields.command,
    since: (fields.since ?? new Date()).toISOString(),
  });
  return `deadbolt1 ${fnv1a(Buffer.from(json))} ${json}\n`;
}

/** A `deadbolt break` audit line as a forger writes it (schema in docs/cli.md). */
export function forgedAuditLine(fields: { name: string; command: string; reason: string; user: string; host: string; signal: string }): string {
  const at = new Date().toISOString();
  return `${JSON.stringify({
    version: 1,
    event: 'break',
    at,
    lock: { name: fields.name, file: fields.name },
    by: { user: fields.user, uid: 0, host: fields.host, pid: 1 },
    reason: fields.reason,
    displaced: { pid: 1, host: fields.host, command: fields.command, id: 'x', mode: 'exclusive', token: '1', since: at },
    signals: [fields.signal],
    outcome: 'freed',
  })}\n`;
}

// ---------------------------------------------------------------- untrusted text

/**
 * What must never reach a terminal raw (spec: C0 but the line feed that ends
 * our own lines, DEL, C1, bidi controls, U+2028/U+2029).
 */
export const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/u;

/** The first raw control character in `text`, described, or undefined. */
export function rawControl(text: string): string | undefined {
  const m = RAW_CONTROL.exec(text);
  if (m === null) return undefined;
  const code = m[0].codePointAt(0)!.toString(16).padStart(4, '0');
  return `U+${code} at ${m.index}: ${JSON.stringify(text.slice(Math.max(0, m.index - 30), m.index + 30))}`;
}
