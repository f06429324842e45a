/**
 * `deadbolt run`: exit statuses, the token in the environment, contention
 * between CLI processes, waiting, signals, and a deadbolt that dies.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, alive, cli, cliEnv, hasKernelWaiter, killHolders, startHolder, tempDir, until } from './helpers.js';

const tmp = tempDir('run');
after(() => {
  killHolders();
  tmp.remove();
});
const lockFiles = (dir: string) => readdirSync(dir).filter((f) => !f.startsWith('.deadbolt'));

test('runs the command with DEADBOLT_TOKEN and DEADBOLT_LOCK_NAME, passes its exit status, deletes the lock file', async () => {
  const dir = tmp.next();
  const r = await cli(['run', '--lock-path', dir, 'jobs', '--', 'sh', '-c', 'echo "$DEADBOLT_LOCK_NAME $DEADBOLT_TOKEN"; exit 3']);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, 'jobs 1\n');
  assert.equal(r.stderr, '');
  const again = await cli(['run', '--lock-path', dir, 'jobs', '--', 'sh', '-c', 'echo $DEADBOLT_TOKEN']);
  assert.equal(again.code, 0);
  assert.equal(again.stdout, '2\n', 'tokens increase per grant');
  assert.deepEqual(lockFiles(dir), []);
});

test('the command\'s own options after "--" are never parsed as deadbolt\'s', async () => {
  const r = await cli(['run', '--lock-path', tmp.next(), 'jobs', '--', 'sh', '-c', 'echo "$@"', 'sh', '--help', '--lock-path', '-x', '--']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '--help --lock-path -x --\n');
});

test('a command that does not exist: 127, a clear error, lock released; not executable: 126', async () => {
  const dir = tmp.next();
  const r = await cli(['run', '--lock-path', dir, 'jobs', '--', 'no-such-command-xyz', 'arg']);
  assert.equal(r.code, 127);
  assert.match(r.stderr, /no-such-command-xyz: command not found \(lock "jobs" released\)/);
  assert.deepEqual(lockFiles(dir), []);
  const free = await cli(['run', '--lock-path', dir, '--no-wait', 'jobs', '--', 'true']);
  assert.equal(free.code, 0, 'the lock is free again');
  const script = join(tmp.path, 'not-executable.sh');
  writeFileSync(script, '#!/bin/sh\necho hi\n');
  chmodSync(script, 0o644);
  const na = await cli(['run', '--lock-path', dir, 'jobs', '--', script]);
  assert.equal(na.code, 126);
  assert.match(na.stderr, /cannot execute \(EACCES\)/);
});

test('--no-wait on a busy lock: exit 75 naming the holder; --timeout: exit 124; neither runs the command', async () => {
  const dir = tmp.next();
  const holder = await startHolder(dir, 'busy');
  const marker = join(tmp.path, 'busy-ran');
  const busy = await cli(['run', '--lock-path', dir, '--no-wait', 'busy', '--', 'touch', marker]);
  assert.equal(busy.code, 75);
  assert.match(busy.stderr, new RegExp(`lock "busy" is held by pid ${holder.child.pid} \\(deadbolt run busy -- sh\\) for \\d+ m?s; not waiting \\(--no-wait\\)`));
  const started = Date.now();
  const timeout = await cli(['run', '--lock-path', dir, '--timeout', '300ms', 'busy', '--', 'touch', marker]);
  assert.equal(timeout.code, 124);
  assert.ok(Date.now() - started >= 300);
  assert.match(timeout.stderr, /timed out after 300 ms waiting for lock "busy": it is held by pid \d+/);
  assert.equal(timeout.stderr.includes('\x1b'), false, 'no waiting line when stderr is not a terminal');
  assert.equal(existsSync(marker), false);
  holder.child.kill('SIGTERM');
  await holder.exited;
});

test('a waiter gets the lock when the holder exits; --shared holders run together', async () => {
  const dir = tmp.next();
  const holder = await startHolder(dir, 'handoff');
  const waiter = cli(['run', '--lock-path', dir, 'handoff', '--', 'sh', '-c', 'echo got $DEADBOLT_TOKEN']);
  await until('the waiter to wait in the kernel', () => hasKernelWaiter(join(dir, 'handoff')));
  holder.child.kill('SIGTERM');
  const r = await waiter;
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'got 2\n');
  assert.equal(r.stderr, '', 'quiet when stderr is not a terminal');

  const a = await startHolder(dir, 'reads', { args: ['--shared'] });
  const b = await cli(['run', '--lock-path', dir, '--shared', '--no-wait', 'reads', '--', 'true']);
  assert.equal(b.code, 0, 'a second shared holder is admitted at once');
  const c = await cli(['run', '--lock-path', dir, '--no-wait', 'reads', '--', 'true']);
  assert.equal(c.code, 75, 'an exclusive one is not');
  a.child.kill('SIGTERM');
  await a.exited;
});

test('several CLI processes contending: an exact shared counter, one strictly increasing token per run', async () => {
  const dir = tmp.next();
  const work = tmp.next();
  await cli(['run', '--lock-path', dir, 'setup', '--', 'sh', '-c', `mkdir -p ${work} && echo 0 > ${work}/counter && : > ${work}/tokens`]);
  const script = `n=$(cat ${work}/counter); sleep 0.002; echo $((n+1)) > ${work}/counter; echo $DEADBOLT_TOKEN >> ${work}/tokens`;
  const loop = async () => {
    for (let i = 0; i < 10; i++) {
      const r = await cli(['run', '--lock-path', dir, 'counter', '--', 'sh', '-c', script]);
      assert.equal(r.code, 0, r.stderr);
    }
  };
  await Promise.all([loop(), loop(), loop(), loop()]);
  assert.equal(readFileSync(join(work, 'counter'), 'utf8').trim(), '40');
  const tokens = readFileSync(join(work, 'tokens'), 'utf8').trim().split('\n').map(Number);
  assert.equal(tokens.length, 40);
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `token ${tokens[i]} after ${tokens[i - 1]}`);
  assert.deepEqual(lockFiles(dir), []);
});

test('SIGTERM to deadbolt reaches the command, and deadbolt exits with its status', async () => {
  const dir = tmp.next();
  const trapped = await startHolder(dir, 'sig1', { setup: 'trap "echo got TERM; exit 42" TERM; ', script: 'while :; do sleep 0.05; done' });
  let out = '';
  trapped.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  trapped.child.kill('SIGTERM');
  assert.deepEqual(await trapped.exited, { code: 42, signal: null });
  assert.match(out, /got TERM/);
  assert.deepEqual(lockFiles(dir), [], 'released');

  const plain = await startHolder(dir, 'sig2');
  plain.child.kill('SIGTERM');
  assert.deepEqual(await plain.exited, { code: null, signal: 'SIGTERM' }, 'killed by the same signal as its command');
  await until('the command to be gone', () => !alive(plain.commandPid));

  const int = await startHolder(dir, 'sig3');
  int.child.kill('SIGINT');
  assert.deepEqual(await int.exited, { code: null, signal: 'SIGINT' });
});

test('SIGINT or SIGTERM while waiting: the wait stops, nothing is run or held, deadbolt dies of that signal', async () => {
  const dir = tmp.next();
  const holder = await startHolder(dir, 'waited');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const marker = join(tmp.path, `waited-${signal}`);
    const waiter = spawn(process.execPath, [CLI, 'run', '--lock-path', dir, 'waited', '--', 'touch', marker], { env: cliEnv(), stdio: 'ignore' });
    const exited = new Promise((resolve) => waiter.on('exit', (code, sig) => resolve({ code, signal: sig })));
    await until('the waiter to wait in the kernel', () => hasKernelWaiter(join(dir, 'waited')));
    waiter.kill(signal);
    assert.deepEqual(await exited, { code: null, signal });
    assert.equal(existsSync(marker), false);
  }
  assert.ok(alive(holder.commandPid), 'the holder is undisturbed');
  holder.child.kill('SIGTERM');
  await holder.exited;
});

test('deadbolt killed by SIGKILL: the kernel frees the lock at once; the command runs on without it', async () => {
  const dir = tmp.next();
  const holder = await startHolder(dir, 'crash');
  const path = join(dir, 'crash');
  // The command holds no descriptor of the lock file (O_CLOEXEC) nor of the token counter.
  const fds = readdirSync(`/proc/${holder.commandPid}/fd`).map((fd) => {
    try {
      return readlinkSync(`/proc/${holder.commandPid}/fd/${fd}`);
    } catch {
      return '';
    }
  });
  assert.ok(!fds.some((target) => target.startsWith(dir)), `the command inherited ${fds.join(', ')}`);
  holder.child.kill('SIGKILL');
  assert.deepEqual(await holder.exited, { code: null, signal: 'SIGKILL' });
  assert.ok(alive(holder.commandPid), 'the command is still running');
  const next = await cli(['run', '--lock-path', dir, '--no-wait', 'crash', '--', 'true']);
  assert.equal(next.code, 0, `the lock is free while the orphaned command runs: ${next.stderr}`);
  assert.equal(existsSync(path), false);
  process.kill(holder.commandPid, 'SIGKILL');
});
