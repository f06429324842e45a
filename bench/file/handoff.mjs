#!/usr/bin/env node
/**
 * Cross-process hand-off latency of one deadbolt lock: the time from the holder's
 * release call to the waiter's grant in another process. Run by ../file.mjs (one
 * process pair per round); usable alone:
 *
 *   node file/handoff.mjs --dir=/dev/shm/x --n=500 --variant=lockdir [--dist=PATH]
 *
 * Variants:
 *   lockdir        LockDirectory.acquire / guard.release, default cleanup ('on-release'):
 *                  the waiter announces its wait on the lock file's waiting byte, so the
 *                  release leaves the file to it (no unlink); the woken wait thread re-checks,
 *                  takes a fencing token and writes its holder record before JavaScript hears
 *                  of the grant (native/grant.h).
 *   lockdir-never  the same with cleanup: 'never' (no announcement, no unlink).
 *   grant          the native grant alone: LockDir.acquireWait with the token counter and a
 *                  record (the same wait-thread work as lockdir), released with
 *                  LockDir.release: LockDirectory's work without its JavaScript.
 *   native         the bare binding: LockDir.acquireWait without token or record (F_OFD_SETLKW on
 *                  a dedicated native thread, result through a thread-safe function, re-check), release
 *                  by the holder: the addon's share of the hand-off, without LockDirectory.
 *
 * Method (the same as ../c/ofd-handoff.c): the holder (this process) tells the waiter (a
 * forked child) to acquire, then polls /proc/<waiter>/task/<tid>/syscall until one of the
 * waiter's threads is asleep in fcntl(_, F_OFD_SETLKW, _), i.e. really waiting in the kernel.
 * It reads t0 = process.hrtime.bigint() and releases. The waiter reads t1 the moment its
 * acquire resolves. Both clocks are CLOCK_MONOTONIC (libuv's uv_hrtime), which is one
 * system-wide clock on Linux, so t1 - t0 across the two processes is meaningful. The
 * waiter releases and sends t1 back over the IPC channel (untimed); the holder re-acquires
 * and starts the next round trip.
 *
 * Prints one JSON line: {"variant", "samples": [µs...], "median_us", "p99_us", "max_us"}.
 */
import { fork } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, readdirSync } from 'node:fs';
import { arch } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { percentile } from '../lib/stats.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? true];
  }),
);
// --dist=PATH: another build of deadbolt's dist/ (to measure a change to src/ before/after).
const DIST = args.dist ? pathToFileURL(`${resolve(String(args.dist))}/`) : new URL('../../dist/', import.meta.url);
const { DirectoryHandle } = await import(new URL('file/directory-handle.js', DIST).href);
const { LockDirectory } = await import(new URL('index.js', DIST).href);
const dir = String(args.dir ?? '/dev/shm/deadbolt-handoff');
const n = Number(args.n ?? 500);
const variant = String(args.variant ?? 'lockdir');
const NAME = 'handoff';

/** acquire() → release function, per variant. */
function locker() {
  mkdirSync(dir, { recursive: true });
  if (variant === 'native' || variant === 'grant') {
    // native: the bare wait (lock, re-check, no token, no record); grant: the whole native grant.
    const handle = DirectoryHandle.open(dir, { fileMode: 0o600, cleanup: true });
    const bare = variant === 'native';
    if (!bare) handle.raw.openCounter();
    const request = bare
      ? { name: NAME, exclusive: true, token: false, head: null, tail: null }
      : { name: NAME, exclusive: true, token: true, head: `{"name":"${NAME}","mode":"exclusive","token":"`, tail: `","pid":${process.pid},"since":"` };
    const release = (grant) => async () => handle.raw.release(grant[0], NAME, true);
    return {
      acquire: async () => {
        const grant = await handle.raw.acquireWait(request)[0];
        if (!grant) throw new Error('wait cancelled');
        return release(grant);
      },
      holdNow: async () => {
        const grant = handle.raw.acquireNow(request);
        if (!grant) throw new Error('holder could not re-lock');
        return release(grant);
      },
    };
  }
  const locks = new LockDirectory(dir, { cleanup: variant === 'lockdir-never' ? 'never' : 'on-release' });
  return {
    acquire: async () => {
      const guard = await locks.acquire(NAME);
      return () => guard.release();
    },
    holdNow: async () => {
      const guard = await locks.tryAcquire(NAME);
      if (!guard) throw new Error('holder could not re-acquire');
      return () => guard.release();
    },
  };
}

// ------------------------------------------------------------------ waiter (child)
if (args.role === 'waiter') {
  const lock = locker();
  process.on('message', async (message) => {
    if (message === 'exit') process.exit(0);
    // 'go': wait for the lock (the holder has it), report the grant time, give it back.
    const release = await lock.acquire();
    const t1 = process.hrtime.bigint();
    await release();
    process.send(t1.toString());
  });
  process.send('ready');
} else {
  await holder();
}

// ------------------------------------------------------------------ holder (parent)
async function holder() {
  const lock = locker();
  let release = await lock.holdNow();
  const child = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), '--role=waiter'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages = [];
  let wake;
  child.on('message', (m) => {
    messages.push(m);
    wake?.();
  });
  const next = async () => {
    while (messages.length === 0) await new Promise((r) => (wake = r));
    wake = undefined;
    return messages.shift();
  };
  if ((await next()) !== 'ready') throw new Error('waiter did not start');

  const blocked = blockedProbe(child.pid);
  const samples = [];
  for (let i = 0; i < n; i++) {
    child.send('go');
    blocked.waitUntilBlocked();
    const t0 = process.hrtime.bigint();
    await release();
    const t1 = BigInt(await next());
    samples.push(Number(t1 - t0) / 1e3);
    release = await lock.holdNow();
  }
  child.send('exit');
  await release();
  const s = samples.slice();
  process.stdout.write(
    `${JSON.stringify({
      variant,
      dir,
      iterations: n,
      samples: s.map((v) => Number(v.toFixed(3))),
      median_us: percentile(s, 50),
      p99_us: percentile(s, 99),
      max_us: Math.max(...s),
    })}\n`,
  );
}

/**
 * Finds the waiter's thread asleep in fcntl(F_OFD_SETLKW), polling every ~50 µs (an
 * Atomics.wait sleep: this process yields the CPU, which on a 2-core box matters).
 */
function blockedProbe(pid) {
  const FCNTL = { x64: 72, arm64: 25 }[arch()];
  if (FCNTL === undefined) throw new Error(`unknown fcntl syscall number on ${arch()}`);
  const F_OFD_SETLKW = 38;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const buffer = Buffer.alloc(256);
  let last; // the tid found last time: the addon parks and reuses its wait thread
  const isBlocked = (tid) => {
    let fd;
    try {
      fd = openSync(`/proc/${pid}/task/${tid}/syscall`, 'r');
    } catch {
      return false; // thread gone
    }
    try {
      const text = buffer.toString('latin1', 0, readSync(fd, buffer, 0, buffer.length, 0));
      const [nr, , cmd] = text.split(' ');
      return Number(nr) === FCNTL && Number(cmd) === F_OFD_SETLKW;
    } finally {
      closeSync(fd);
    }
  };
  return {
    waitUntilBlocked() {
      for (let spins = 0; ; spins++) {
        if (last !== undefined && isBlocked(last)) return;
        for (const tid of readdirSync(`/proc/${pid}/task`)) {
          if (tid !== last && isBlocked(tid)) {
            last = tid;
            return;
          }
        }
        if (spins > 200_000) throw new Error('the waiter never blocked in F_OFD_SETLKW');
        Atomics.wait(sleeper, 0, 0, 0.05);
      }
    },
  };
}
