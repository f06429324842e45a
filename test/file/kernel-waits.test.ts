/**
 * No wait that cannot be cancelled (issue 11): a LockDirectory waiter blocked
 * in the kernel, for a lock file or for the token counter, ends on its
 * `timeout`, its `signal` and `close()`, promptly, and holds nothing
 * afterwards: another process takes the name at once, and no token was spent.
 *
 * The counter is held by a second process, Python's fcntl.lockf on
 * `.deadbolt-tokens` (a classic POSIX lock, which conflicts with OFD locks),
 * as a reader of a 0644 counter could have done before files were 0600. Lock
 * files are held by child Node processes (fixtures/lockdir-holder.ts). Every
 * wait is observed blocked in fcntl(F_OFD_SETLKW) through /proc before it is
 * cancelled; no sleeps.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { ClosedError, LockDirectory, LockTimeoutError } from '../../src/index.js';
import { addon, nativeInfo } from '../../src/file/addon.js';
import { grantRequest, tryLockFile, unlockFile } from '../../src/file/grant.js';
import { recordParts } from '../../src/file/holder-record.js';
import { TOKEN_FILE } from '../../src/file/lock-name.js';

import { blockedInKernel, fixture, spawnWorker, tempDir, untilBlocked, type Worker } from './helpers.js';
import { CLEANUP, openDir } from './native-helpers.js';
import { HANG_GUARD_MS } from '../harness/bounds.js';

const PYTHON = '/usr/bin/python3';
/** The bound asserted for a cancel (the issue asks 50 ms; a loaded CI machine gets slack, the figure is printed). */
const PROMPT_MS = 1000;

const tmp = tempDir('kernel-waits');
const workers: Worker[] = [];
after(() => {
  for (const w of workers) w.child.kill('SIGKILL');
  tmp.remove();
});
let seq = 0;
const freshDir = (): string => join(tmp.path, `d${seq++}`);
const owner = { id: 'waits-test', host: 'here', pid: process.pid, command: 'node kernel-waits.test' };

function track(worker: Worker): Worker {
  workers.push(worker);
  return worker;
}

/** A second process holding the token counter of `dir` with fcntl.lockf until its stdin closes. */
async function holdCounter(dir: string): Promise<Worker> {
  const python = track(
    spawnWorker(
      '',
      [
        '-c',
        'import fcntl, sys\nf = open(sys.argv[1], "r+")\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint("locked", flush=True)\nsys.stdin.read()',
        join(dir, TOKEN_FILE),
      ],
      PYTHON,
    ),
  );
  await python.line(/^locked$/);
  return python;
}

async function release(python: Worker): Promise<void> {
  python.child.stdin!.end();
  assert.equal(await python.exited, 0, python.stderr());
}

/** Another process that takes lock `name` of `dir`; resolves with the token it was granted. */
async function anotherProcessTakes(dir: string, name: string): Promise<{ token: bigint; worker: Worker }> {
  const worker = track(spawnWorker(fixture('lockdir-holder'), [dir, name]));
  const line = await worker.line(/^held /);
  return { token: BigInt(line.split(' ')[1]!), worker };
}

function ms(t0: number): number {
  return performance.now() - t0;
}

/** Nothing of ours waits in the kernel or holds `name`. */
function nothingLeft(dir: string, name: string): void {
  assert.equal(blockedInKernel('self'), 0, 'no wait thread is left in the kernel');
  assert.equal(nativeInfo().pendingWaits, 0, 'no wait is pending');
  const handle = openDir(dir);
  try {
    assert.ok(['free', 'missing'].includes(handle.state(name)), `${name} is not held`);
  } finally {
    handle.close();
  }
}

describe('the token counter wait can be cancelled', { timeout: HANG_GUARD_MS }, () => {
  test('LockDir.tokenWait: cancel resolves null at once; the held lock file is still ours to release', async (t) => {
    if (!existsSync(PYTHON)) return skipWithoutPython(t);
    const dir = freshDir();
    new LockDirectory(dir).open().close();
    const python = await holdCounter(dir);
    const handle = openDir(dir, CLEANUP);
    try {
      handle.raw.openCounter();
      const record = recordParts('jobs', 'exclusive', owner);
      const grant = tryLockFile(handle, grantRequest('jobs', 'exclusive', record));
      assert.ok(grant);
      assert.equal(grant.token, undefined, 'granted, but the counter is busy');
      const [waiting, id] = handle.raw.tokenWait(grant.fd, record.head, record.tail);
      await untilBlocked('self', 1);
      const t0 = performance.now();
      addon().cancel(id);
      assert.equal(await waiting, null);
      const took = ms(t0);
      t.diagnostic(`tokenWait cancelled in ${took.toFixed(2)} ms`);
      assert.ok(took < PROMPT_MS, `${took} ms`);
      assert.equal(unlockFile(handle, grant.fd, 'jobs', true), 'same');
      await release(python);
      nothingLeft(dir, 'jobs');
      assert.equal((await anotherProcessTakes(dir, 'jobs')).token, 1n, 'the cancelled wait took no token');
    } finally {
      handle.close();
    }
  });

  test('LockDirectory.acquire: timeout rejects with LockTimeoutError, signal with its reason, close() with ClosedError; nothing is left locked', async (t) => {
    if (!existsSync(PYTHON)) return skipWithoutPython(t);
    const dir = freshDir();
    const locks = new LockDirectory(dir).open();
    const python = await holdCounter(dir);

    let t0 = performance.now();
    await assert.rejects(locks.acquire('jobs', { timeout: 100 }), (err: unknown) => {
      assert.ok(err instanceof LockTimeoutError, String(err));
      assert.equal(err.code, 'DEADBOLT_TIMEOUT');
      assert.match(err.message, /fencing-token counter/);
      return true;
    });
    const timedOut = ms(t0);
    t.diagnostic(`timeout: 100 ms asked, rejected after ${timedOut.toFixed(1)} ms`);
    assert.ok(timedOut >= 99 && timedOut < 100 + PROMPT_MS, `${timedOut} ms`);
    nothingLeft(dir, 'jobs');

    const controller = new AbortController();
    const reason = new Error('the caller gave up');
    const bySignal = locks.acquire('jobs', { signal: controller.signal });
    await untilBlocked('self', 1);
    t0 = performance.now();
    controller.abort(reason);
    await assert.rejects(bySignal, (err: unknown) => err === reason);
    t.diagnostic(`signal: rejected ${ms(t0).toFixed(2)} ms after the abort`);
    assert.ok(ms(t0) < PROMPT_MS);
    nothingLeft(dir, 'jobs');

    const byClose = locks.acquire('jobs');
    const alsoByClose = locks.acquire('reports', { mode: 'shared' }); // a shared holder's token waits the same way
    await untilBlocked('self', 2);
    t0 = performance.now();
    locks.close();
    const closed = (err: unknown) => err instanceof ClosedError && err.code === 'DEADBOLT_CLOSED';
    await Promise.all([assert.rejects(byClose, closed), assert.rejects(alsoByClose, closed)]);
    const tookClose = ms(t0);
    t.diagnostic(`close(): both waiters rejected ${tookClose.toFixed(2)} ms after it (issue 11 asks < 50 ms)`);
    assert.ok(tookClose < PROMPT_MS, `${tookClose} ms`);
    nothingLeft(dir, 'jobs');
    nothingLeft(dir, 'reports');
    await assert.rejects(locks.acquire('jobs'), closed, 'a closed instance hands out nothing');

    await release(python);
    const next = await anotherProcessTakes(dir, 'jobs');
    assert.equal(next.token, 1n, 'none of the cancelled waits took a token');
  });
});

describe('close() rejects a waiter blocked in the kernel for a held lock', { timeout: HANG_GUARD_MS }, () => {
  test('ClosedError at once, for the kernel waiter and the one queued behind it; the name is free for another process once its holder leaves', async (t) => {
    const dir = freshDir();
    const holder = await anotherProcessTakes(dir, 'jobs');
    assert.equal(holder.token, 1n);
    const locks = new LockDirectory(dir);
    const inKernel = locks.acquire('jobs');
    const queued = locks.acquire('jobs'); // waits in this process's queue behind the kernel waiter
    await untilBlocked('self', 1);
    const t0 = performance.now();
    locks.close();
    const closed = (err: unknown) => err instanceof ClosedError && err.code === 'DEADBOLT_CLOSED';
    await Promise.all([assert.rejects(inKernel, closed), assert.rejects(queued, closed)]);
    const took = ms(t0);
    t.diagnostic(`close(): kernel waiter rejected ${took.toFixed(2)} ms after it (issue 11 asks < 50 ms)`);
    assert.ok(took < PROMPT_MS, `${took} ms`);
    assert.equal(blockedInKernel('self'), 0);
    assert.equal(nativeInfo().pendingWaits, 0);

    holder.worker.child.stdin!.write('release\n');
    await holder.worker.line(/^released$/);
    assert.equal(await holder.worker.exited, 0);
    nothingLeft(dir, 'jobs');
    const next = await anotherProcessTakes(dir, 'jobs');
    assert.equal(next.token, 2n, 'granted at once; the closed waiter took neither the lock nor a token');
  });
});

function skipWithoutPython(t: { skip(message: string): void }): void {
  // Justified skip outside CI only: .ci/install-servers.sh installs Debian's python3.
  if (process.env.CI && !['0', 'false'].includes(process.env.CI)) assert.fail(`${PYTHON} is missing under CI; run .ci/install-servers.sh`);
  t.skip(`SKIPPED LOUDLY: ${PYTHON} is missing; a second process holding the token counter is needed`);
}
