/**
 * Web Locks over the processes of one host (LockManager.forDirectory), with
 * real child processes as the other clients; steal as a recorded break.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LockDirectory } from '../../src/file/lock-directory.js';
import { DirectoryHandle } from '../../src/file/directory-handle.js';
import { readAudit } from '../../src/cli/audit.js';
import { LockLostError, LockTimeoutError } from '../../src/errors.js';
import { LockManager, type FencedLock } from '../../src/web-locks/index.js';
import { tempDir } from '../file/helpers.js';
import { processClient } from './remote.js';
import { webLocksConformance } from './suite.js';
import { HANG_GUARD_MS } from '../harness/bounds.js';

const NOBODY_GID = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim() || 65534);

/** The hostile test needs root (to set up the group layout) and runuser. */
function nobodySkip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root, to give user nobody a group-writable lock directory';
  if (spawnSync('runuser', ['--version']).status !== 0) return 'needs runuser (util-linux)';
  return false;
}

const dir = tempDir('web-locks');
after(() => dir.remove());
const directory = new LockDirectory(dir.path);
after(() => directory.close());

webLocksConformance({
  label: 'processes (LockManager.forDirectory)',
  locks: LockManager.forDirectory(directory, { allowSteal: true }),
  remote: () => processClient(dir.path),
  fenced: true,
});

test('processes: 4 child processes x 300 increments of a counter file under one Web Lock: exact', { timeout: HANG_GUARD_MS }, async () => {
  const file = join(dir.path, 'counter.txt');
  writeFileSync(file, '0');
  const fixture = fileURLToPath(new URL('./fixtures/process-counter.js', import.meta.url));
  await Promise.all(Array.from({ length: 4 }, () => promisify(execFile)(process.execPath, [fixture, dir.path, file, '300'])));
  assert.equal(readFileSync(file, 'utf8'), '1200');
});

test('steal without allowSteal is refused with NotSupportedError, and the holder keeps its lock', async () => {
  const locks = LockManager.forDirectory(directory);
  let release!: () => void;
  const held = locks.request('no-steal', () => new Promise<void>((resolve) => (release = resolve)));
  await new Promise((resolve) => setImmediate(resolve));
  while ((await locks.query()).held.every((l) => l.name !== 'no-steal')) await new Promise((resolve) => setImmediate(resolve));
  await assert.rejects(locks.request('no-steal', { steal: true }, () => {}), (err: Error) => err.name === 'NotSupportedError' && /allowSteal/.test(err.message));
  release();
  await held;
});

test('steal of a holder in this process: its lock.signal aborts (LockLostError "broken"), and an audit line records it', async () => {
  const holderManager = LockManager.forDirectory(directory);
  const thief = LockManager.forDirectory(directory, { allowSteal: true });
  let lock!: FencedLock;
  let release!: () => void;
  let granted!: () => void;
  const isGranted = new Promise<void>((resolve) => (granted = resolve));
  const held = holderManager.request('audited', (l) => {
    lock = l as FencedLock;
    granted();
    return new Promise<void>((resolve) => (release = resolve));
  });
  const outcome = held.then(() => 'resolved', (err: Error) => err.name);
  await isGranted;
  const token = await thief.request('audited', { steal: true }, (l) => (l as FencedLock).token);
  assert.equal(await outcome, 'AbortError');
  assert.equal(lock.signal.aborted, true);
  assert.ok(lock.signal.reason instanceof LockLostError && lock.signal.reason.reason === 'broken');
  assert.ok(token > lock.token);
  release();
  const handle = DirectoryHandle.open(dir.path, { fileMode: 0o600, cleanup: false });
  try {
    const [record] = readAudit(handle, 1, 'audited');
    assert.equal(record?.via, 'web-locks');
    assert.equal(record?.displaced.token, lock.token.toString());
    assert.deepEqual(record?.signals, []);
  } finally {
    handle.close();
  }
});

/** The audit log's last record for lock `name`. */
function lastAudit(path: string, name: string) {
  const handle = DirectoryHandle.open(path, { fileMode: 0o600, cleanup: false });
  try {
    return readAudit(handle, 1, name)[0];
  } finally {
    handle.close();
  }
}

test('steal of a lock held by another process: it gives the lock up, its signal aborts, and the audit log records it', async () => {
  const other = await processClient(dir.path);
  try {
    const theirs = other.hold('foreign');
    const lock = await theirs.granted;
    const locks = LockManager.forDirectory(directory, { allowSteal: true });
    const token = await locks.request('foreign', { steal: true }, (l) => (l as FencedLock).token);
    const settled = await theirs.settled;
    assert.equal(settled.outcome, 'AbortError');
    assert.equal(settled.signalAborted, true);
    assert.ok(token > BigInt(lock!.token!));
    const record = lastAudit(dir.path, 'foreign');
    assert.equal(record?.via, 'web-locks');
    assert.equal(record?.outcome, 'freed');
    assert.equal(record?.displaced.token, lock!.token);
    assert.notEqual(record?.displaced.pid, process.pid);
    assert.equal(record?.by.pid, process.pid);
    assert.equal(existsSync(join(dir.path, '.deadbolt-steal', 'foreign')), false, 'the stealer removes its request');
    theirs.release();
  } finally {
    await other.close();
  }
});

test('steal from a process whose manager does not allow steal: LockTimeoutError naming deadbolt break; it keeps the lock', async () => {
  const other = await processClient(dir.path, { allowSteal: false });
  try {
    const theirs = other.hold('keeps');
    await theirs.granted;
    const locks = LockManager.forDirectory(directory, { allowSteal: true, stealTimeout: 200 });
    await assert.rejects(
      locks.request('keeps', { steal: true }, () => {}),
      (err: Error) => err instanceof LockTimeoutError && /deadbolt break "keeps"/.test(err.message) && /allowSteal/.test(err.message),
    );
    assert.equal(lastAudit(dir.path, 'keeps')?.outcome, 'still-held');
    assert.equal(existsSync(join(dir.path, '.deadbolt-steal', 'keeps')), false);
    theirs.release();
    const settled = await theirs.settled;
    assert.equal(settled.outcome, 'resolved');
    assert.equal(settled.signalAborted, false);
  } finally {
    await other.close();
  }
});

test('steal from a hung process (event loop blocked): LockTimeoutError naming deadbolt break', async () => {
  const other = await processClient(dir.path);
  try {
    const theirs = other.hold('hung');
    await theirs.granted;
    other.hang();
    const locks = LockManager.forDirectory(directory, { allowSteal: true, stealTimeout: 200 });
    await assert.rejects(locks.request('hung', { steal: true }, () => {}), (err: Error) => err instanceof LockTimeoutError && /deadbolt break "hung"/.test(err.message));
    await other.kill();
    // Once the kernel released the dead holder's lock, it is free.
    assert.equal(await locks.request('hung', () => 'mine'), 'mine');
  } finally {
    await other.close();
  }
});

test('forDirectory refuses a bad stealTimeout with a RangeError naming it', () => {
  assert.throws(() => LockManager.forDirectory(directory, { allowSteal: true, stealTimeout: -1 }), /options\.stealTimeout: expected a positive number/);
});

test('a steal request written by another account (nobody) is refused: the holder keeps its lock; a proven one is honoured', { skip: nobodySkip() }, async () => {
  // A group layout (2770, group nobody's) lets nobody write, and lets the descriptor checks accept nobody's
  // files: only the owner-uid proof stands between its request and the holder.
  const shared = tempDir('web-locks-hostile');
  try {
    chmodSync(shared.path, 0o755); // nobody must reach the directory inside
    const locksPath = join(shared.path, 'locks');
    mkdirSync(locksPath);
    chownSync(locksPath, 0, NOBODY_GID);
    chmodSync(locksPath, 0o2770);
    const other = await processClient(locksPath);
    try {
      const theirs = other.hold('guarded');
      const lock = await theirs.granted;
      const forged = JSON.stringify({ version: 1, lock: 'guarded', tokens: [lock!.token], by: { user: 'root', uid: 0, host: 'x', pid: 1 }, reason: 'forged', at: new Date().toISOString() });
      const steal = join(locksPath, '.deadbolt-steal');
      // The holder created the folder (umask applied); let the attacker write it, as a careless operator might.
      chmodSync(steal, 0o2770);
      const written = spawnSync('runuser', ['-u', 'nobody', '--', 'sh', '-c', 'printf %s "$1" > "$2"', 'sh', forged, join(steal, 'guarded')], { encoding: 'utf8' });
      assert.equal(written.status, 0, written.stderr);
      const refusal = await other.nextRefusal();
      assert.equal(refusal.name, 'guarded');
      assert.match(refusal.why, /owned by uid \d+, neither the holder's uid nor root/);
      const files = await new LockDirectory(locksPath).list();
      assert.equal(files.find((f) => f.name === 'guarded')?.state, 'exclusive', 'still held after the forged request');
      const thief = new LockDirectory(locksPath);
      try {
        assert.equal(await LockManager.forDirectory(thief, { allowSteal: true }).request('guarded', { steal: true }, () => 'stolen'), 'stolen');
      } finally {
        thief.close();
      }
      assert.equal((await theirs.settled).outcome, 'AbortError');
    } finally {
      await other.close();
    }
  } finally {
    shared.remove();
  }
});
