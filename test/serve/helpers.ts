/**
 * Helpers for the `deadbolt serve` tests: start the real CLI's server as a
 * process (it prints where it listens with --json), a real Chromium driven by
 * playwright-core, and engine holders in processes of their own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { CLI, cliEnv } from '../cli/helpers.js';
import { isCI } from '../harness/index.js';
import { EVENT_BOUND_MS } from '../harness/bounds.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/install-servers.sh installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Whether the browser tests can run: outside CI a missing Chromium skips them
 * loudly; under CI it is a failure.
 */
export function requireChromium(suite: string): { available: boolean; reason?: string } {
  if (existsSync(CHROMIUM)) return { available: true };
  const reason = `${CHROMIUM} not found; install it: apt-get install -y chromium (or bash .ci/install-servers.sh)`;
  if (isCI()) throw new Error(`${suite} needs Chromium and CI is set, so this is a failure, not a skip: ${reason}`);
  process.stderr.write(`\nSKIPPED: ${suite} — ${reason}\n\n`);
  return { available: false, reason };
}

/** A headless Chromium with a fresh profile (its --user-data-dir), removed on close. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'deadbolt-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A running `deadbolt serve`. */
export interface Serve {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
  /** SIGTERM, and wait for its exit code. */
  stop(): Promise<number | null>;
}

const servers: Serve[] = [];

/** Start `deadbolt serve --listen 127.0.0.1:0 --json ...args` and resolve once it listens. */
export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Serve> {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--json', '--interval', '100ms', ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    void exited.then((code) => reject(new Error(`deadbolt serve exited (${code}) before listening: ${err}`)));
  });
  const serve: Serve = {
    url: (JSON.parse(line) as { url: string }).url,
    child,
    stderr: () => err,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
  servers.push(serve);
  return serve;
}

/** Stop every server still running: for `after()`. */
export async function stopServers(): Promise<void> {
  await Promise.all(servers.splice(0).map((s) => (s.child.exitCode === null ? s.stop() : undefined)));
}

/** The first holder's token of lock `name` on `serve`, once the server lists it. */
export async function listedToken(serve: Serve, name: string, backend?: string): Promise<string> {
  const deadline = Date.now() + EVENT_BOUND_MS;
  for (;;) {
    const params = new URLSearchParams({ q: name, ...(backend !== undefined && { backend }) });
    const data = (await (await fetch(`${serve.url}api/locks?${params}`)).json()) as { locks: Array<{ name: string; holders: Array<{ token: string }> }> };
    const token = data.locks.find((l) => l.name === name)?.holders[0]?.token;
    if (token !== undefined) return token;
    if (Date.now() > deadline) throw new Error(`lock "${name}" was not listed by ${serve.url} within 15 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A private token file (0600) in `dir`, and the token. */
export function tokenFile(dir: string, token = 'test-token-0123456789abcdef'): { path: string; token: string } {
  const path = join(dir, 'serve.token');
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return { path, token };
}

/** The engine-holder fixture (fixtures/engine-holder.ts). */
export const ENGINE_HOLDER = fileURLToPath(new URL('./fixtures/engine-holder.js', import.meta.url));

/** A process holding lock `name` on `url`, with what it printed since. */
export interface EngineHolder {
  readonly token: string;
  readonly child: ChildProcess;
  /** Resolves with the line it prints when its lock is lost (`lost CODE`). */
  readonly lost: Promise<string>;
  readonly exited: Promise<number | null>;
}

const holders: ChildProcess[] = [];

/** Start an engine holder and resolve once it holds the lock. */
export async function startEngineHolder(url: string, name: string, ttlMs = 5000): Promise<EngineHolder> {
  const child = spawn(process.execPath, [ENGINE_HOLDER, url, name, String(ttlMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
  holders.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  const token = await new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => resolve(line.replace(/^held /, '')));
    void exited.then((code) => reject(new Error(`engine holder exited (${code}) before holding: ${err}`)));
  });
  const lost = new Promise<string>((resolve) => lines.once('line', resolve));
  return { token, child, lost, exited };
}

/** Kill every engine holder still running. */
export function killEngineHolders(): void {
  for (const child of holders.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
}

/** A temporary directory for one test file. */
export function tempDir(label: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `deadbolt-serve-${label}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
