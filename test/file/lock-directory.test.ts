/**
 * LockDirectory in one process and against holder processes: semantics, tokens,
 * cleanup, cancellation of kernel waits, crash release, bad input and security.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { closeSync, existsSync, fstatSync, lstatSync, openSync, mkdirSync, readdirSync, symlinkSync, unlinkSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  channels,
  ClosedError,
  ConfigurationError,
  LockDirectory,
  LockLostError,
  LockTimeoutError,
  UnsafeFileError,
  isInvalidArgument,
  type LockAcquireFailedMessage,
} from '../../src/index.js';
import { setTestHooks } from '../../src/file/addon.js';
import { blockedInKernel, fixture, spawnWorker, tempDir, untilBlocked } from './helpers.js';

const tmp = tempDir('lockdir');
after(() => tmp.remove());
let seq = 0;
/** A fresh lock directory path (not yet created). */
const freshDir = () => join(tmp.path, `d${seq++}`);
const lockFiles = (dir: string) => readdirSync(dir).filter((f) => !f.startsWith('.deadbolt'));

test('no path and no DEADBOLT_LOCK_PATH: ConfigurationError that explains why there is no default', () => {
  const saved = process.env.DEADBOLT_LOCK_PATH;
  delete process.env.DEADBOLT_LOCK_PATH;
  try {
    assert.throws(() => new LockDirectory(), (e: unknown) => {
      assert.ok(e instanceof ConfigurationError);
      assert.match(e.message, /DEADBOLT_LOCK_PATH/);
      assert.match(e.message, /every process that shares these locks must use the same directory/);
      return true;
    });
    process.env.DEADBOLT_LOCK_PATH = tmp.path;
    assert.equal(new LockDirectory().path, tmp.path);
  } finally {
    if (saved === undefined) delete process.env.DEADBOLT_LOCK_PATH;
    else process.env.DEADBOLT_LOCK_PATH = saved;
  }
});

test('the directory is created on first use, and a lock file is deleted on release', async () => {
  const dir = freshDir();
  const locks = new LockDirectory(dir);
  assert.equal(existsSync(dir), false, 'construction touches nothing');
  const guard = await locks.acquire('jobs');
  assert.equal(guard.path, join(dir, 'jobs'));
  assert.equal(guard.name, 'jobs');
  assert.equal(guard.mode, 'exclusive');
  assert.equal(typeof guard.token, 'bigint');
  assert.equal(lstatSync(dir).mode & 0o777, 0o700, 'a new lock directory is private');
  assert.equal(lstatSync(guard.path).mode & 0o777, 0o600, 'and so are its files');
  assert.deepEqual(lockFiles(dir), ['jobs']);
  await guard.release();
  await guard.release(); // idempotent
  assert.deepEqual(lockFiles(dir), []);
});

test('N distinct names leave zero files behind', async () => {
  const dir = freshDir();
  const locks = new LockDirectory(dir);
  for (let i = 0; i < 2000; i++) await locks.run(`name-${i}`, () => undefined);
  const shared = await Promise.all(Array.from({ length: 50 }, (_, i) => locks.acquire(`s-${i % 5}`, { mode: 'shared' })));
  await Promise.all(shared.map((g) => g.release()));
  assert.deepEqual(lockFiles(dir), []);
});

test('cleanup "never" keeps files; tokens keep increasing across file deletion and new instances', async () => {
  const dir = freshDir();
  const keep = new LockDirectory(dir, { cleanup: 'never' });
  const a = await keep.acquire('t');
  await a.release();
  assert.deepEqual(lockFiles(dir), ['t']);
  const other = new LockDirectory(dir);
  const b = await other.acquire('t');
  await b.release();
  assert.deepEqual(lockFiles(dir), [], 'on-release instance deletes it');
  const c = await new LockDirectory(dir).acquire('t');
  await c.release();
  assert.ok(a.token < b.token && b.token < c.token, `${a.token} < ${b.token} < ${c.token}`);
});

test('same-process callers queue in-process: exclusive excludes, shared shares one kernel lock', async () => {
  const locks = new LockDirectory(freshDir());
  const first = await locks.acquire('x');
  assert.equal(await locks.tryAcquire('x'), undefined);
  await assert.rejects(locks.acquire('x', { timeout: 0 }), LockTimeoutError);
  const second = locks.acquire('x');
  await first.release();
  const g2 = await second;
  assert.ok(g2.token > first.token);
  await g2.release();

  const readers = await Promise.all([1, 2, 3].map(() => locks.acquire('r', { mode: 'shared' })));
  assert.equal(await locks.tryAcquire('r'), undefined, 'exclusive must wait for readers');
  const writer = locks.acquire('r');
  await readers[0]!.release();
  await readers[1]!.release();
  assert.equal(existsSync(readers[0]!.path), true, 'a shared holder remains: the file stays');
  await readers[2]!.release();
  const w = await writer;
  await w.release();
  assert.equal(existsSync(w.path), false);
});

test('shared and exclusive across processes behave as one reader-writer lock', async () => {
  const dir = freshDir();
  const locks = new LockDirectory(dir);
  const reader = spawnWorker(fixture('lockdir-holder'), [dir, 'rw', '--shared']);
  await reader.line(/^held/);
  const mine = await locks.tryAcquire('rw', { mode: 'shared' });
  assert.ok(mine, 'shared alongside another process\'s shared');
  await mine.release();
  assert.equal(existsSync(join(dir, 'rw')), true, 'not the last shared holder: file kept');
  assert.equal(await locks.tryAcquire('rw'), undefined, 'exclusive refused while a process reads');
  const writer = locks.acquire('rw', { timeout: 10_000 });
  reader.child.stdin!.write('release\n');
  const w = await writer;
  assert.equal(w.mode, 'exclusive');
  await w.release();
  await reader.exited;
  assert.deepEqual(lockFiles(dir), []);
});

test('a release leaves the lock file to a process waiting for it; the last release deletes it', async () => {
  const dir = freshDir();
  const locks = new LockDirectory(dir);
  for (const silent of [false, true]) {
    const holder = spawnWorker(fixture('lockdir-holder'), [dir, 'relay']);
    await holder.line(/^held/);
    const original = openSync(join(dir, 'relay'), 'r'); // no lock; keeps the inode from being reused
    setTestHooks({ silentWait: silent });
    try {
      const waiting = locks.acquire('relay');
      await untilBlocked('self', 1);
      holder.child.stdin!.write('release\n');
      const guard = await waiting;
      await holder.exited;
      const kept = fstatSync(original).nlink === 1 && fstatSync(original).ino === lstatSync(guard.path).ino;
      // Announced, the waiter is granted the very file it waited on; silent, the releaser
      // unlinks it and the waiter wakes on the orphan and retries on a fresh file.
      assert.equal(kept, !silent, silent ? 'a silent waiter gets a fresh file' : 'the announced waiter gets the same file');
      await guard.release();
      assert.deepEqual(lockFiles(dir), [], 'the last release deletes it');
    } finally {
      setTestHooks({});
      closeSync(original);
    }
  }
});

test('a holder killed with SIGKILL: a waiter in another process gets the lock', async (t) => {
  const dir = freshDir();
  const holder = spawnWorker(fixture('lockdir-holder'), [dir, 'crash']);
  const heldToken = BigInt((await holder.line(/^held/)).split(' ')[1]!);
  const locks = new LockDirectory(dir);
  const waiting = locks.acquire('crash');
  await untilBlocked('self', 1); // the waiter is in the kernel: only the holder's death can grant it
  const killedAt = performance.now();
  holder.child.kill('SIGKILL');
  const guard = await waiting;
  t.diagnostic(`granted ${(performance.now() - killedAt).toFixed(1)} ms after the kill (hand-off latency: bench/)`);
  assert.ok(guard.token > heldToken);
  await guard.release();
  await holder.exited;
  assert.deepEqual(lockFiles(dir), [], 'the dead holder\'s file was reused and removed');
});

test('a wait blocked in the kernel is cancelled promptly by AbortSignal and by timeout, holding nothing', async () => {
  const dir = freshDir();
  const holder = spawnWorker(fixture('lockdir-holder'), [dir, 'busy']);
  await holder.line(/^held/);
  const locks = new LockDirectory(dir);

  // No timed assertions: the holder keeps the lock until told, so each rejection can only come from the
  // abort or the timeout, and it comes while the wait is blocked in the kernel (promptness is in bench/).
  const controller = new AbortController();
  const aborted = locks.acquire('busy', { signal: controller.signal });
  await untilBlocked('self', 1);
  controller.abort(new Error('operator gave up'));
  await assert.rejects(aborted, /operator gave up/);

  const started = performance.now();
  const err = await locks.acquire('busy', { timeout: 40 }).catch((e: unknown) => e);
  assert.ok(err instanceof LockTimeoutError, String(err));
  const took = performance.now() - started;
  assert.ok(took >= 39, `the timeout fired early, after ${took.toFixed(1)} ms`);

  // Nothing of ours is left: once the holder releases, a fresh process-level try succeeds at once.
  holder.child.stdin!.write('release\n');
  await holder.exited;
  const g = await locks.tryAcquire('busy');
  assert.ok(g);
  await g.release();
  assert.deepEqual(lockFiles(dir), []);
});

test('64 waiters blocked in the kernel do not slow fs.promises.readFile', async () => {
  const dir = freshDir();
  const holder = spawnWorker(fixture('lockdir-holder'), [dir, 'many', '--count', '64']);
  await holder.line(/^held/);
  const locks = new LockDirectory(dir);
  const controller = new AbortController();
  let settled = 0;
  const waits = Array.from({ length: 64 }, (_, i) =>
    locks.acquire(`many-${i}`, { signal: controller.signal }).catch((e: unknown) => e).finally(() => settled++),
  );
  await untilBlocked('self', 64);
  // Event ordering, not timing: were the waits on libuv's threadpool (4 threads), these reads could not
  // complete until a wait ended, and none ends before the abort below.
  const probe = join(tmp.path, 'probe.txt');
  writeFileSync(probe, 'x'.repeat(1000));
  await Promise.all(Array.from({ length: 8 }, () => readFile(probe)));
  assert.equal(settled, 0, 'every read completed while all 64 waits were pending');
  assert.equal(blockedInKernel('self'), 64, 'and still blocked in the kernel');
  controller.abort(new Error('done'));
  const results = await Promise.all(waits);
  assert.ok(results.every((r) => r instanceof Error && r.message === 'done'));
  holder.child.kill('SIGKILL');
  await holder.exited;
});

test('a child spawned while the lock is held does not keep it after the parent releases or dies', async () => {
  const locks = new LockDirectory(freshDir());
  const guard = await locks.acquire('inherit');
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  await guard.release();
  const again = await locks.tryAcquire('inherit');
  assert.ok(again, 'lock free while the child still runs');
  await again.release();
  sleeper.kill('SIGKILL');

  // The parent dies while its child lives on.
  const dir = freshDir();
  const parent = spawnWorker(fixture('lockdir-holder'), [dir, 'orphan', '--spawn', 'sleep 30']);
  const childPid = Number((await parent.line(/^child/)).split(' ')[1]);
  await parent.line(/^held/);
  parent.child.kill('SIGKILL');
  await parent.exited;
  const g = await new LockDirectory(dir).acquire('orphan', { timeout: 1000 });
  await g.release();
  process.kill(childPid, 'SIGKILL');
});

test('bad names: empty, NUL, non-strings are refused; dot, dot-dot and slashes stay inside the directory; long names map deterministically', async () => {
  const locks = new LockDirectory(freshDir());
  for (const bad of ['', 'a\0b', 42, undefined]) {
    assert.throws(() => locks.acquire(bad as string), (e: unknown) => isInvalidArgument(e) && /^name must be/.test((e as Error).message));
  }
  assert.throws(() => locks.tryAcquire(''), /name must be a string of 1 to 256 characters/); // synchronously, like every bad argument
  const long = 'é'.repeat(256);
  const g1 = await locks.acquire(long);
  const file = basename(g1.path);
  assert.ok(Buffer.byteLength(file) <= 255);
  assert.match(file, /~[0-9a-f]{16}$/);
  assert.equal(await new LockDirectory(locks.path).tryAcquire(long), undefined, 'another instance maps it to the same file');
  const listed = await locks.list();
  assert.equal(listed[0]!.name, long, 'the holder record keeps the full name');
  await g1.release();
  for (const special of ['.', '..', '../escape', 'a/b', '.hidden', '%2F', 'a b']) {
    await locks.run(special, (g) => {
      assert.equal(join(g.path, '..'), locks.path, `${special} maps to a file directly inside the directory`);
      assert.ok(!basename(g.path).startsWith('.'), `${special} is not hidden`);
    });
  }
  assert.equal(existsSync(join(locks.path, '..', 'escape')), false);
  assert.deepEqual(lockFiles(locks.path), []);
});

test('bad options are rejected synchronously', () => {
  const dir = freshDir();
  assert.throws(() => new LockDirectory(dir, { cleanup: 'sometimes' as never }), /options\.cleanup/);
  assert.throws(() => new LockDirectory(dir, { fileMode: 0o444 }), /options\.fileMode/);
  assert.throws(() => new LockDirectory(dir, { prefix: 'a/b' }), /options\.prefix/);
  assert.throws(() => new LockDirectory(''), /path must be/);
  const locks = new LockDirectory(dir);
  assert.throws(() => locks.acquire('x', { timeout: -1 }), RangeError);
  assert.throws(() => locks.acquire('x', { mode: 'write' as never }), TypeError);
});

test('unusable lock paths: not a directory, not creatable, read-only, not writable — clear errors, nothing created', async () => {
  const file = join(tmp.path, 'a-file');
  writeFileSync(file, '');
  await assert.rejects(new LockDirectory(file).acquire('x'), (e: unknown) => e instanceof ConfigurationError && /is not a directory/.test(e.message));
  await assert.rejects(new LockDirectory(join(file, 'sub')).acquire('x'), (e: unknown) => e instanceof ConfigurationError && /not a directory/.test(e.message));

  if (process.getuid?.() !== 0) return; // the rest needs root to mount and to switch users
  const ro = join(tmp.path, 'ro');
  mkdirSync(ro);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]).status === 0) {
    try {
      await assert.rejects(new LockDirectory(join(ro, 'locks')).acquire('x'), (e: unknown) => e instanceof ConfigurationError && /read-only file system/.test(e.message));
      await assert.rejects(new LockDirectory(ro).acquire('x'), (e: unknown) => e instanceof ConfigurationError && /read-only/.test(e.message));
    } finally {
      spawnSync('umount', [ro]);
    }
  }
  const locked = join(tmp.path, 'root-only');
  mkdirSync(locked, { mode: 0o755 });
  chmodSync(tmp.path, 0o755);
  const script = `import('${new URL('../../src/index.js', import.meta.url).href}').then(async ({ LockDirectory }) => {
    try { await new LockDirectory(process.argv[1]).acquire('x'); console.log('acquired'); }
    catch (e) { console.log(e.code + ': ' + e.message); } })`;
  const run = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', script, locked], { encoding: 'utf8' });
  if (run.status === 0) {
    assert.match(run.stdout, /DEADBOLT_CONFIG: lock directory .* is not writable by this user/);
    assert.deepEqual(readdirSync(locked), []);
  }
});

test('a symlink planted at a lock path is not followed', async () => {
  const locks = new LockDirectory(freshDir());
  await locks.run('setup', () => undefined); // creates the directory
  const target = join(tmp.path, 'victim');
  writeFileSync(target, 'precious');
  symlinkSync(target, join(locks.path, 'evil'));
  await assert.rejects(locks.acquire('evil'), (e: unknown) => e instanceof UnsafeFileError && e.reason === 'symlink' && /symbolic link/i.test(e.message));
  assert.equal(readFileSync(target, 'utf8'), 'precious');
  assert.equal(await locks.tryAcquire('evil').catch((e: unknown) => (e as UnsafeFileError).reason), 'symlink');
  const report = await locks.clean();
  assert.deepEqual(report.skipped.map((s) => [s.file, s.reason]), [['evil', 'a symbolic link (never followed or removed)']]);
  assert.equal(lstatSync(join(locks.path, 'evil')).isSymbolicLink(), true);
});

test('a lock file deleted or replaced while held: the guard reports the loss on release, and diagnostics say so', async () => {
  const locks = new LockDirectory(freshDir());
  const seen: unknown[] = [];
  const listener = (m: unknown) => seen.push(m);
  diagnosticsChannel.subscribe(channels.fileProtocolViolation, listener);
  try {
    const g = await locks.acquire('victim');
    unlinkSync(g.path);
    writeFileSync(g.path, ''); // someone else's file now
    await g.release();
    assert.equal(g.signal.aborted, true);
    assert.ok(g.signal.reason instanceof LockLostError);
    assert.equal((g.signal.reason as LockLostError).reason, 'deleted');
    assert.equal(existsSync(g.path), true, 'the other file was not deleted by our release');
    assert.deepEqual(seen, [{ name: 'victim', path: g.path, found: 'replaced' }]);

    const h = await locks.acquire('gone');
    unlinkSync(h.path);
    await h.release();
    assert.equal(h.signal.aborted, true);
  } finally {
    diagnosticsChannel.unsubscribe(channels.fileProtocolViolation, listener);
  }
});

test('a failed acquire is published on deadbolt:lock:acquire-failed with its reason; tryAcquire never is', async () => {
  const locks = new LockDirectory(freshDir());
  const seen: LockAcquireFailedMessage[] = [];
  const listener = (m: unknown) => void seen.push(m as LockAcquireFailedMessage);
  diagnosticsChannel.subscribe(channels.lockAcquireFailed, listener);
  try {
    const held = await locks.acquire('busy');
    await assert.rejects(locks.acquire('busy', { timeout: 0 }), LockTimeoutError);
    await assert.rejects(locks.acquire('busy', { timeout: 20 }), LockTimeoutError);
    const reason = new Error('caller gave up');
    await assert.rejects(locks.acquire('busy', { signal: AbortSignal.abort(reason) }), (e) => e === reason);
    const controller = new AbortController();
    const waiting = locks.acquire('busy', { signal: controller.signal });
    controller.abort(reason);
    await assert.rejects(waiting, (e) => e === reason);
    assert.equal(await locks.tryAcquire('busy'), undefined);
    const queued = locks.acquire('busy');
    locks.close();
    await assert.rejects(queued, ClosedError);
    await assert.rejects(locks.acquire('later'), ClosedError);
    await held.release();
    assert.deepEqual(
      seen.map((m) => [m.name, m.mode, m.backend, m.reason]),
      [
        ['busy', 'exclusive', 'file', 'timeout'],
        ['busy', 'exclusive', 'file', 'timeout'],
        ['busy', 'exclusive', 'file', 'aborted'],
        ['busy', 'exclusive', 'file', 'aborted'],
        ['busy', 'exclusive', 'file', 'closed'],
        ['later', 'exclusive', 'file', 'closed'],
      ],
    );
    assert.ok(seen.every((m) => typeof m.waitedMs === 'number' && m.waitedMs >= 0 && m.error instanceof Error));
  } finally {
    diagnosticsChannel.unsubscribe(channels.lockAcquireFailed, listener);
  }
});

test('too many open files: a clear error, and nothing is left locked', async () => {
  const dir = freshDir();
  const script = `import('${new URL('../../src/index.js', import.meta.url).href}').then(async ({ LockDirectory }) => {
    const locks = new LockDirectory(process.argv[1]); const held = [];
    try { for (let i = 0; i < 1000; i++) held.push(await locks.acquire('f' + i)); console.log('no error'); }
    catch (e) { console.log(e.code + ' ' + e.errno + ': ' + e.message);
      for (const g of held) await g.release();
      const again = await locks.tryAcquire('f' + held.length); console.log(again ? 'free after' : 'still locked'); await again?.release(); } })`;
  // 256: enough for Node to load the package (its ESM loader reads modules in parallel), far fewer than 1000 locks.
  const run = spawnSync('sh', ['-c', `ulimit -n 256 && exec "${process.execPath}" -e "$0" "$1"`, script, dir], { encoding: 'utf8' });
  assert.match(run.stdout, /DEADBOLT_NATIVE EMFILE: .*too many open files/i, run.stderr);
  assert.match(run.stdout, /free after/);
  assert.deepEqual(lockFiles(dir), []);
});

test('list() shows state, holder record and age; clean() removes only unused files', async () => {
  const dir = freshDir();
  const locks = new LockDirectory(dir, { cleanup: 'never' });
  await locks.run('old', () => undefined);
  const held = await locks.acquire('held');
  const other = spawnWorker(fixture('lockdir-holder'), [dir, 'theirs', '--shared']);
  await other.line(/^held/);
  const list = await locks.list();
  assert.deepEqual(list.map((f) => [f.file, f.state]), [['held', 'exclusive'], ['old', 'free'], ['theirs', 'shared']]);
  const mine = list.find((f) => f.file === 'held')!;
  assert.equal(mine.holder?.owner.pid, process.pid);
  assert.equal(mine.holder?.token, held.token);
  assert.equal(list.find((f) => f.file === 'theirs')!.holder?.owner.pid, other.child.pid);
  assert.equal(list.find((f) => f.file === 'old')!.holder, undefined, 'a free file has no holder');

  assert.deepEqual((await locks.clean({ olderThan: 60_000 })).removed, [], 'all newer than a minute');
  const dry = await locks.clean({ dryRun: true });
  assert.deepEqual(dry.removed.map((e) => e.file), ['old']);
  assert.ok(existsSync(join(dir, 'old')));
  const report = await locks.clean();
  assert.deepEqual(report.removed.map((e) => e.file), ['old']);
  assert.deepEqual(report.skipped.map((e) => [e.file, e.reason]), [['held', 'held exclusive'], ['theirs', 'held shared']]);
  await held.release();
  other.child.stdin!.write('release\n');
  await other.exited;
  await locks.clean();
  assert.deepEqual(lockFiles(dir), []);
  assert.ok(existsSync(join(dir, '.deadbolt-tokens')), 'the token counter is never cleaned');
});

test('every shared holder is listed; a killed shared holder\'s record is ignored by list() and removed by clean()', async () => {
  const dir = freshDir();
  const locks = new LockDirectory(dir);
  const mine = await locks.acquire('readers', { mode: 'shared' });
  const other = spawnWorker(fixture('lockdir-holder'), [dir, 'readers', '--shared']);
  await other.line(/^held/);
  const doomed = spawnWorker(fixture('lockdir-holder'), [dir, 'readers', '--shared']);
  await doomed.line(/^held/);
  let [info] = await locks.list();
  assert.equal(info!.state, 'shared');
  assert.deepEqual(info!.holders.map((h) => h.owner.pid).sort(), [process.pid, other.child.pid, doomed.child.pid].sort());
  doomed.child.kill('SIGKILL');
  await doomed.exited;
  [info] = await locks.list();
  assert.deepEqual(info!.holders.map((h) => h.owner.pid).sort(), [process.pid, other.child.pid].sort(), 'the dead holder is not shown');
  const report = await locks.clean();
  assert.deepEqual(report.removed.map((e) => e.file.split('@')[0]), ['.deadbolt-shared/readers']);
  assert.deepEqual(report.skipped.map((e) => [e.file, e.reason]), [['readers', 'held shared']]);
  other.child.stdin!.write('release\n');
  await other.exited;
  await mine.release();
  assert.deepEqual(readdirSync(join(dir, '.deadbolt-shared')), []);
  assert.deepEqual(lockFiles(dir), []);
});

test('a FIFO planted at a lock path is refused, not locked', async () => {
  const locks = new LockDirectory(freshDir()).open();
  const fifo = join(locks.path, 'pipe');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  await assert.rejects(locks.acquire('pipe'), (e: unknown) => e instanceof UnsafeFileError && e.reason === 'notRegular' && /not a regular file/.test(e.message));
  await assert.rejects(locks.tryAcquire('pipe'), /not a regular file/);
  const ok = await locks.acquire('pipe-neighbour');
  await ok.release();
});
