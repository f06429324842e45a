/**
 * What makes a directory a lock directory (src/file/marker.ts, issue 11): the
 * marker `.deadbolt-directory`, written when LockDirectory creates a directory
 * or adopts an empty one (or one of an earlier deadbolt, holding only
 * `.deadbolt-tokens`). Any other directory is refused before anything is
 * created in it, unless an oslo.concurrency prefix is named: then no marker is
 * needed or written, and only `<prefix>-*` files are listed and cleaned. And a
 * path that is a file is a ConfigurationError, never a raw ENOTDIR.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { ConfigurationError, DeadboltError, LockDirectory, UnsafeFileError } from '../../src/index.js';
import { MARKER_FILE, TOKEN_FILE } from '../../src/file/lock-name.js';

import { tempDir } from './helpers.js';

const tmp = tempDir('marker');
after(() => tmp.remove());
let seq = 0;
const freshDir = (): string => join(tmp.path, `d${seq++}`);
const MARKER_TEXT = 'deadbolt lock directory 1\n';

/** Every name in `dir` with its content (directories listed by name). */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const st = lstatSync(join(dir, name));
    out[name] = st.isFile() ? readFileSync(join(dir, name), 'utf8') : st.isSymbolicLink() ? 'symlink' : 'other';
  }
  return out;
}

const notALockDirectory = (dir: string) => (err: unknown) =>
  err instanceof ConfigurationError &&
  err.code === 'DEADBOLT_CONFIG' &&
  err.message.startsWith(`${dir} is not a deadbolt lock directory`) &&
  /give a new or empty directory/.test(err.message) &&
  /prefix its services use/.test(err.message);

test('list() and clean() on a path that is a regular file: ConfigurationError (DEADBOLT_CONFIG), not a raw ENOTDIR', async () => {
  const file = join(tmp.path, `file-${seq++}`);
  writeFileSync(file, 'not a directory\n');
  const locks = new LockDirectory(file);
  const isConfig = (err: unknown) => {
    assert.ok(err instanceof DeadboltError, `a DeadboltError, got ${String(err)}`);
    assert.equal(err.code, 'DEADBOLT_CONFIG');
    assert.ok(err instanceof ConfigurationError);
    assert.match(err.message, new RegExp(`lock directory ${file} is not a directory`));
    return true;
  };
  await assert.rejects(locks.list(), isConfig);
  await assert.rejects(locks.clean(), isConfig);
  await assert.rejects(locks.acquire('jobs'), isConfig);
  assert.equal(readFileSync(file, 'utf8'), 'not a directory\n');
});

test('a new directory gets the marker (0700 directory, 0600 marker); list() and clean() accept it', async () => {
  const dir = freshDir();
  const locks = new LockDirectory(dir);
  const guard = await locks.acquire('jobs');
  try {
    assert.equal(readFileSync(join(dir, MARKER_FILE), 'utf8'), MARKER_TEXT);
    assert.equal(lstatSync(join(dir, MARKER_FILE)).mode & 0o777, 0o600);
    assert.equal(lstatSync(dir).mode & 0o777, 0o700);
    assert.deepEqual((await locks.list()).map((f) => f.file), ['jobs'], 'bookkeeping files are not lock files');
  } finally {
    await guard.release();
  }
  assert.deepEqual((await locks.clean()).removed, []);
  // Another instance (another process, later) sees a lock directory.
  assert.deepEqual(await new LockDirectory(dir).list(), []);
});

test('an existing empty directory, or one holding only an earlier deadbolt counter, is adopted (marked)', async () => {
  const empty = freshDir();
  mkdirSync(empty, { mode: 0o700 });
  await (await new LockDirectory(empty).acquire('jobs')).release();
  assert.equal(readFileSync(join(empty, MARKER_FILE), 'utf8'), MARKER_TEXT);

  const earlier = freshDir();
  mkdirSync(earlier, { mode: 0o700 });
  writeFileSync(join(earlier, TOKEN_FILE), '00000000000000000007\n', { mode: 0o600 });
  const guard = await new LockDirectory(earlier).acquire('jobs');
  assert.equal(guard.token, 8n, 'its tokens go on');
  await guard.release();
  assert.equal(readFileSync(join(earlier, MARKER_FILE), 'utf8'), MARKER_TEXT);
});

test('an existing non-empty directory without a marker is refused by acquire (DEADBOLT_CONFIG), and nothing is created in it', async () => {
  const dir = freshDir();
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, 'notes.txt'), 'mine\n');
  writeFileSync(join(dir, 'jobs'), ''); // even a file that looks like a lock file: the directory is not ours
  const before = contents(dir);
  const locks = new LockDirectory(dir);
  await assert.rejects(locks.acquire('jobs'), notALockDirectory(dir));
  await assert.rejects(locks.tryAcquire('jobs'), notALockDirectory(dir));
  await assert.rejects(locks.acquire('other', { mode: 'shared' }), notALockDirectory(dir));
  assert.throws(() => locks.open(), notALockDirectory(dir));
  await assert.rejects(locks.list(), notALockDirectory(dir));
  await assert.rejects(locks.clean(), notALockDirectory(dir));
  assert.deepEqual(contents(dir), before, 'no marker, no counter, no lock file, nothing removed');
  locks.close();
});

test('a planted marker that is a symlink, or holds something else, is refused', async () => {
  const linked = freshDir();
  mkdirSync(linked, { mode: 0o700 });
  writeFileSync(join(tmp.path, `elsewhere-${seq}`), MARKER_TEXT);
  symlinkSync(join(tmp.path, `elsewhere-${seq}`), join(linked, MARKER_FILE));
  await assert.rejects(new LockDirectory(linked).acquire('jobs'), (err: unknown) => err instanceof UnsafeFileError && err.reason === 'symlink');
  assert.deepEqual(Object.keys(contents(linked)), [MARKER_FILE]);

  const forged = freshDir();
  mkdirSync(forged, { mode: 0o700 });
  writeFileSync(join(forged, MARKER_FILE), 'something else\n', { mode: 0o600 });
  await assert.rejects(new LockDirectory(forged).acquire('jobs'), (err: unknown) => err instanceof UnsafeFileError && err.reason === 'notLockFile');
  assert.deepEqual(contents(forged), { [MARKER_FILE]: 'something else\n' });
});

test('a marker its creator is still writing (empty, or a prefix of the text) counts; the text with more after it does not', async () => {
  // The creator opens the marker O_EXCL and then writes it: a process racing
  // it for a fresh directory may read it in between (CI once failed on that).
  for (const partial of ['', MARKER_TEXT.slice(0, 9)]) {
    const dir = freshDir();
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, MARKER_FILE), partial, { mode: 0o600 });
    const locks = new LockDirectory(dir);
    const guard = await locks.acquire('jobs');
    await guard.release();
    assert.equal(readFileSync(join(dir, MARKER_FILE), 'utf8'), partial, 'a marker is never rewritten');
    locks.close();
  }
  const longer = freshDir();
  mkdirSync(longer, { mode: 0o700 });
  writeFileSync(join(longer, MARKER_FILE), `${MARKER_TEXT}x`, { mode: 0o600 });
  await assert.rejects(new LockDirectory(longer).acquire('jobs'), (err: unknown) => err instanceof UnsafeFileError && err.reason === 'notLockFile');
  assert.deepEqual(contents(longer), { [MARKER_FILE]: `${MARKER_TEXT}x` });
});

test("with an oslo.concurrency prefix no marker is needed or written, and only <prefix>-* files are listed and cleaned", async () => {
  const dir = freshDir();
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, 'service.conf'), 'the service keeps its own files here\n');
  writeFileSync(join(dir, 'nova-old'), ''); // a leftover lock file of the prefix
  writeFileSync(join(dir, 'glance-other'), ''); // another prefix's: not ours to touch
  const locks = new LockDirectory(dir, { prefix: 'nova', cleanup: 'never' });
  const guard = await locks.acquire('jobs');
  try {
    assert.equal(guard.path, join(dir, 'nova-jobs'));
    assert.deepEqual((await locks.list()).map((f) => [f.file, f.state]), [
      ['nova-jobs', 'exclusive'],
      ['nova-old', 'free'],
    ]);
  } finally {
    await guard.release();
  }
  const report = await locks.clean();
  assert.deepEqual(report.removed.map((e) => e.file).sort(), ['nova-jobs', 'nova-old']);
  assert.deepEqual(
    readdirSync(dir).sort(),
    [TOKEN_FILE, 'glance-other', 'service.conf'],
    'no marker written; the service file and the other prefix are untouched',
  );
  assert.equal(readFileSync(join(dir, 'service.conf'), 'utf8'), 'the service keeps its own files here\n');
  locks.close();
});
