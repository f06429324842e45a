/**
 * proveHolder against real processes and the real /proc (no mocks): a holder
 * of a LockDirectory lock is proven; a process that only has the file open, one
 * that holds it shared, an unrelated process and a process of the wrong user
 * are refused, each with its reason.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { proveHolder } from '../../src/cli/holder-proof.js';
import { lockFileIdentity } from '../../src/cli/lock-file-identity.js';
import { DirectoryHandle } from '../../src/file/directory-handle.js';
import { killHolders, startFixture, tempDir } from './helpers.js';

const tmp = tempDir('proof');
after(() => {
  killHolders();
  tmp.remove();
});

/** lockFileIdentity of the file at `path`, through a handle of its directory, as break reads it. */
function identityAt(path: string): ReturnType<typeof lockFileIdentity> {
  const handle = DirectoryHandle.open(dirname(path), { fileMode: 0o600, cleanup: false });
  try {
    return lockFileIdentity(handle, basename(path));
  } finally {
    handle.close();
  }
}

const uid = process.getuid!();
const gid = process.getgid!();

test('a child holding a LockDirectory lock is proven, through the descriptor that holds it', async () => {
  const dir = tmp.next();
  const holder = await startFixture(['hold', dir, 'jobs']);
  const file = identityAt(holder.path)!;
  const proof = proveHolder(holder.pid, file, { groupMode: false });
  assert.ok(proof.proven, JSON.stringify(proof));
  assert.equal(readlinkSync(`/proc/${holder.pid}/fd/${proof.fd}`), join(dir, 'jobs'));
  assert.ok(proveHolder(holder.pid, { ...file, dev: Number(file.dev), ino: Number(file.ino) }, { groupMode: false }).proven, 'numbers as well as bigints');
});

test('an unrelated process is refused: none of its open files is the lock file', async () => {
  const dir = tmp.next();
  const holder = await startFixture(['hold', dir, 'jobs']);
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const proof = proveHolder(sleeper.pid!, identityAt(holder.path)!, { groupMode: false });
    assert.deepEqual(proof, { proven: false, why: `pid ${sleeper.pid} does not hold this lock: none of its open files is the lock file` });
  } finally {
    sleeper.kill('SIGKILL');
  }
});

test('a process that has the lock file open without a lock is refused', async () => {
  const dir = tmp.next();
  const holder = await startFixture(['hold', dir, 'jobs']);
  const reader = await startFixture(['open', holder.path]);
  const proof = proveHolder(reader.pid, identityAt(holder.path)!, { groupMode: false });
  assert.deepEqual(proof, { proven: false, why: `pid ${reader.pid} does not hold this lock: it has the file open but holds no lock on it` });
});

test('a shared holder is refused: it does not hold the lock exclusively', async () => {
  const dir = tmp.next();
  const holder = await startFixture(['hold', dir, 'reads', 'shared']);
  const proof = proveHolder(holder.pid, identityAt(holder.path)!, { groupMode: false });
  assert.deepEqual(proof, { proven: false, why: `pid ${holder.pid} does not hold this lock: it holds it shared, not exclusively` });
});

test('the lock file must belong to the holder\'s user, or in group mode to one of its groups', async () => {
  const dir = tmp.next();
  const holder = await startFixture(['hold', dir, 'jobs']);
  const file = identityAt(holder.path)!;
  const other = uid === 65534 ? 65533 : 65534;
  const strange = { ...file, uid: other, gid: 54321 };
  assert.deepEqual(proveHolder(holder.pid, strange, { groupMode: false }), {
    proven: false,
    why: `the lock file is owned by uid ${other} but pid ${holder.pid} runs as uid ${uid}`,
  });
  const refused = proveHolder(holder.pid, strange, { groupMode: true });
  assert.ok(!refused.proven);
  assert.match(refused.why, new RegExp(`^the lock file is owned by uid ${other} and group 54321 but pid ${holder.pid} runs as uid ${uid} in groups .*\\b${gid}\\b`));
  assert.ok(proveHolder(holder.pid, { ...strange, gid }, { groupMode: true }).proven, 'group mode: the file\'s group is the holder\'s');
  assert.ok(!proveHolder(holder.pid, { ...strange, gid }, { groupMode: false }).proven, 'without group mode the group does not count');
});

test('a pid that is not running is refused', () => {
  const dead = spawnSync('true').pid;
  assert.deepEqual(proveHolder(dead, { dev: 1, ino: 1, uid, gid }, { groupMode: false }), { proven: false, why: `pid ${dead} does not hold this lock: it is not running` });
});

test('lockFileIdentity: a regular file only; a symbolic link is not followed', async () => {
  const dir = tmp.next();
  const holder = await startFixture(['hold', dir, 'jobs']);
  assert.equal(identityAt(join(dir, 'missing')), undefined);
  assert.equal(identityAt(dir), undefined);
  spawnSync('ln', ['-s', holder.path, join(dir, 'link')]);
  assert.equal(identityAt(join(dir, 'link')), undefined);
});
