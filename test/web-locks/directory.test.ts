/**
 * Web Locks over the processes of one host (LockManager.forDirectory), with
 * real child processes as the other clients; steal as a recorded break.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LockDirectory } from '../../src/file/lock-directory.js';
import { DirectoryHandle } from '../../src/file/directory-handle.js';
import { readAudit } from '../../src/cli/audit.js';
import { LockLostError } from '../../src/errors.js';
import { LockManager, type FencedLock } from '../../src/web-locks/index.js';
import { tempDir } from '../file/helpers.js';
import { processClient } from './remote.js';
import { webLocksConformance } from './suite.js';
import { HANG_GUARD_MS } from '../harness/bounds.js';

const dir = tempDir('web-locks');
after(() => dir.remove());
const directory = new LockDirectory(dir.path);
after(() => directory.close());

webLocksConformance({
  label: 'processes (LockManager.forDirectory)',
  locks: LockManager.forDirectory(directory, { allowSteal: true }),
  remote: () => processClient(dir.path),
  fenced: true,
  differences: {
    "steal from another client: its request() rejects with AbortError (and, fenced, its lock's signal aborts)":
      "a kernel lock cannot be taken from another process: the steal is refused with NotSupportedError naming `deadbolt break` (docs/web-locks.md)",
  },
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

test('steal of a lock held by another process is refused with NotSupportedError naming deadbolt break', async () => {
  const other = await processClient(dir.path);
  try {
    const theirs = other.hold('foreign');
    await theirs.granted;
    const locks = LockManager.forDirectory(directory, { allowSteal: true });
    await assert.rejects(locks.request('foreign', { steal: true }, () => {}), (err: Error) => err.name === 'NotSupportedError' && /deadbolt break/.test(err.message));
    theirs.release();
    assert.equal((await theirs.settled).outcome, 'resolved');
  } finally {
    await other.close();
  }
});
