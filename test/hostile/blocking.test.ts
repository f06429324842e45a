/**
 * Hostile user, part 4: read access alone cannot block anyone (issue 11,
 * attack 7).
 *
 * By default nothing in a lock directory can be opened by another user (files
 * 0600 in a 0700 directory). Where a reader still can (a legacy directory made
 * with 0644 files), it can hold a shared lock on the token counter; then every
 * wait must still end: `timeout`, `signal`, `close()`, `tryAcquire` never
 * waiting, and SIGTERM for a waiting `deadbolt run` (exit 143).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LockDirectory, type FileLockGuard } from '../../src/index.js';
import { hasKernelWaiter, killHolders, startHolder } from '../cli/helpers.js';
import {
  attackerLock,
  deadbolt,
  eventually,
  killAll,
  makeLockDirectory,
  openableByNobody,
  sandbox,
  secondAccount,
  within,
  type AttackerLock,
} from './helpers.js';
import { EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

const skip = secondAccount('hostile-user suite (blocking)');
const box = skip ? undefined : sandbox('block');
after(() => {
  killHolders();
  killAll();
  box?.remove();
});
const T = { timeout: HANG_GUARD_MS, skip };
const code = (e: unknown) => (e as { code?: unknown })?.code;

/** Every path under `dir` (and `dir`), with its mode. */
function modes(dir: string): Array<[string, number, boolean]> {
  const out: Array<[string, number, boolean]> = [[dir, lstatSync(dir).mode, true]];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    const s = lstatSync(p);
    if (s.isDirectory()) out.push(...modes(p));
    else out.push([p, s.mode, false]);
  }
  return out;
}

test('7: defaults: the directory is 0700 and every file in it 0600 (lock files, counter, marker, shared records, leftovers); nobody opens none of them', T, async () => {
  const dir = join(box!.dir('defaults'), 'locks');
  const locks = new LockDirectory(dir);
  const kept = new LockDirectory(dir, { cleanup: 'never' });
  await kept.run('leftover', () => undefined);
  const held = await locks.acquire('held');
  const shared = await locks.acquire('readers', { mode: 'shared' });
  try {
    assert.equal(lstatSync(dir).mode & 0o777, 0o700, `the directory is ${(lstatSync(dir).mode & 0o777).toString(8)}`);
    const all = modes(dir);
    for (const [path, mode, isDir] of all) {
      assert.equal(mode & 0o077, 0, `${path} is ${(mode & 0o777).toString(8)} (${isDir ? 'directory' : 'file'})`);
    }
    assert.ok(all.some(([p]) => p.includes('.deadbolt-shared/')), 'a shared record was among them');
    assert.deepEqual(await openableByNobody(all.map(([p]) => p)), []);
  } finally {
    await held.release();
    await shared.release();
  }
});

test('7: the CLI\'s defaults too: `deadbolt run` creates a 0700 directory and 0600 files', T, async () => {
  const dir = join(box!.dir('cli-defaults'), 'locks');
  await startHolder(dir, 'job');
  const all = modes(dir);
  assert.equal(all[0]![1] & 0o777, 0o700);
  for (const [path, mode] of all) assert.equal(mode & 0o077, 0, `${path} is ${(mode & 0o777).toString(8)}`);
  assert.deepEqual(await openableByNobody(all.map(([p]) => p)), []);
  killHolders();
});

/**
 * A legacy directory nobody can read (0755, counter 0644), with the attacker
 * holding a shared lock on the counter. `body` gets the directory; whatever
 * acquire promises it registers are released after the attacker lets go.
 */
async function withReaderOnCounter(label: string, body: (dir: string, pending: (p: Promise<FileLockGuard | undefined>) => void) => Promise<void>): Promise<void> {
  const dir = await makeLockDirectory(join(box!.path, label), 0o755);
  const counter = join(dir, '.deadbolt-tokens');
  await (await new LockDirectory(dir).acquire('seed')).release(); // the counter exists
  chmodSync(counter, 0o644);
  const promises: Array<Promise<FileLockGuard | undefined>> = [];
  let attacker: AttackerLock | undefined;
  try {
    attacker = await attackerLock(counter, { shared: true });
    await body(dir, (p) => promises.push(p));
  } finally {
    await attacker?.release();
    // With the reader gone, a wait that ignored its cancellation finishes: give back what it got.
    for (const p of promises) await within(p.then((g) => g?.release()), EVENT_BOUND_MS);
  }
}

/** Resolves once someone waits in the kernel for the counter (or after 10 s, if the wait is not a kernel wait: the tests pass either way). */
const counterWaiter = (dir: string) => eventually(() => hasKernelWaiter(join(dir, '.deadbolt-tokens')), 10_000);

test('7: a reader holding a shared lock on the token counter: acquire with `timeout` still rejects in time', T, async () => {
  await withReaderOnCounter('reader-timeout', async (dir, pending) => {
    const p = new LockDirectory(dir).acquire('job', { timeout: 300 });
    pending(p);
    // The reader never lets go: only the timeout can end the wait (the bound is a hang guard).
    const r = await within(p, EVENT_BOUND_MS);
    assert.equal(r.pending, undefined, 'the token wait ignored the timeout');
    assert.equal(code(r.error), 'DEADBOLT_TIMEOUT', String(r.error ?? 'granted'));
  });
});

test('7: … acquire with `signal` rejects promptly when it aborts', T, async () => {
  await withReaderOnCounter('reader-signal', async (dir, pending) => {
    const controller = new AbortController();
    const p = new LockDirectory(dir).acquire('job', { signal: controller.signal });
    pending(p);
    await counterWaiter(dir);
    controller.abort(new Error('operator gave up'));
    const r = await within(p, EVENT_BOUND_MS);
    assert.equal(r.pending, undefined, 'the token wait ignored the signal');
    assert.equal((r.error as Error)?.message, 'operator gave up');
  });
});

test('7: … LockDirectory.close() rejects the token waiter with DEADBOLT_CLOSED', T, async () => {
  await withReaderOnCounter('reader-close', async (dir, pending) => {
    const locks = new LockDirectory(dir);
    const p = locks.acquire('job');
    pending(p);
    await counterWaiter(dir);
    locks.close();
    const r = await within(p, EVENT_BOUND_MS);
    assert.equal(r.pending, undefined, 'close() left the token waiter waiting');
    assert.equal(code(r.error), 'DEADBOLT_CLOSED', String(r.error ?? 'granted'));
  });
});

test('7: … tryAcquire never waits on the reader', T, async () => {
  await withReaderOnCounter('reader-try', async (dir, pending) => {
    const p = new LockDirectory(dir).tryAcquire('job');
    pending(p);
    const r = await within(p, EVENT_BOUND_MS);
    assert.equal(r.pending, undefined, 'tryAcquire waited for the counter');
  });
});

test('7: … a waiting `deadbolt run` ends on SIGTERM with exit 143; `--timeout` ends with 124', T, async () => {
  await withReaderOnCounter('reader-cli', async (dir) => {
    let child: ChildProcess | undefined;
    const run = deadbolt(['run', '--lock-path', dir, 'job', '--', 'true'], { timeoutMs: EVENT_BOUND_MS, onSpawn: (c) => (child = c) });
    await counterWaiter(dir);
    child!.kill('SIGTERM');
    const r = await run;
    assert.equal(r.timedOut, false, 'deadbolt run ignored SIGTERM while waiting for a token');
    assert.ok(r.code === 143 || r.signal === 'SIGTERM', `exit ${r.code ?? r.signal}`);

    const timed = await deadbolt(['run', '--lock-path', dir, '--timeout', '300ms', 'job', '--', 'true'], { timeoutMs: EVENT_BOUND_MS });
    assert.equal(timed.timedOut, false, '--timeout ignored');
    assert.equal(timed.code, 124, timed.stderr);
  });
});
