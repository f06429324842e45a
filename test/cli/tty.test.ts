/**
 * The CLI on a terminal, driven through tmux (a private server socket, a
 * 200×50 pane): `break`'s confirmation prompt, answered yes and no, and
 * `run`'s waiting line ("waiting for NAME — held by pid …"), kept current, and
 * escaped when the holder record is forged.
 * The pane is polled with a deadline; nothing sleeps for a fixed time.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { encodeRecord } from '../../src/file/holder-record.js';
import { LockDirectory } from '../../src/file/lock-directory.js';
import { CLI, alive, cliEnv, killHolders, startHolder, tempDir, until } from './helpers.js';

const tmux = spawnSync('tmux', ['-V']).status === 0;
const underCi = process.env.CI !== undefined && !['0', 'false'].includes(process.env.CI);
if (!tmux && underCi) throw new Error('the terminal tests need tmux under CI (apt-get install tmux)');
const skip = tmux ? false : 'tmux is not installed';

const tmp = tempDir('tty');
const socket = `deadbolt-test-${process.pid}`;
after(() => {
  if (tmux) spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
  killHolders();
  tmp.remove();
});

let session = 0;

/** A tmux window running `args` through the CLI; the shell then prints EXIT=<status> and stays. */
function terminal(args: string[]): { screen(): string; keys(...keys: string[]): void; waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray> } {
  const name = `s${session++}`;
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const started = spawnSync('tmux', ['-L', socket, 'new-session', '-d', '-s', name, '-x', '200', '-y', '50', `${quoted}; echo EXIT=$?; sleep 600`], {
    env: cliEnv({ NO_COLOR: '' }),
  });
  assert.equal(started.status, 0, started.stderr.toString());
  const screen = () => spawnSync('tmux', ['-L', socket, 'capture-pane', '-p', '-t', name]).stdout.toString();
  return {
    screen,
    keys: (...keys) => void spawnSync('tmux', ['-L', socket, 'send-keys', '-t', name, ...keys]),
    waitFor: (pattern, ms = 10_000) => until(`${pattern} on the terminal`, () => screen().match(pattern) ?? undefined, ms),
  };
}

test('break on a terminal asks for confirmation; "y" breaks the lock', { skip }, async () => {
  const dir = tmp.next();
  const holder = await startHolder(dir, 'jobs');
  const term = terminal(['break', '--lock-path', dir, 'jobs', '--reason', 'tty', '--grace', '5s']);
  await term.waitFor(new RegExp(`Stop pid ${holder.child.pid} \\(SIGTERM, then SIGKILL after 5 s\\)\\? \\[y/N\\]\\s*$`, 'm'));
  assert.match(term.screen(), /command {2}deadbolt run jobs -- sh\n/);
  term.keys('y', 'Enter');
  await term.waitFor(/^EXIT=0$/m);
  assert.match(term.screen(), /lock "jobs" broken: pid \d+ stopped with SIGTERM/);
  assert.deepEqual(await holder.exited, { code: null, signal: 'SIGTERM' });
  const record = JSON.parse(readFileSync(join(dir, '.deadbolt-audit.log'), 'utf8')) as { reason: string; outcome: string };
  assert.deepEqual([record.reason, record.outcome], ['tty', 'freed']);
});

test('break on a terminal: "n" (or anything but yes) leaves the holder alone, exit 1', { skip }, async () => {
  const dir = tmp.next();
  const holder = await startHolder(dir, 'jobs');
  const term = terminal(['break', '--lock-path', dir, 'jobs']);
  await term.waitFor(/\[y\/N\]\s*$/m);
  term.keys('n', 'Enter');
  await term.waitFor(/^EXIT=1$/m);
  assert.match(term.screen(), /not confirmed: nothing was done/);
  assert.ok(alive(holder.child.pid!) && alive(holder.commandPid));
  assert.equal(existsSync(join(dir, '.deadbolt-audit.log')), false);
});

test('run on a terminal shows whom it waits for, refreshed, and clears the line when it gets the lock', { skip }, async () => {
  const dir = tmp.next();
  const holder = await startHolder(dir, 'report');
  const term = terminal(['run', '--lock-path', dir, 'report', '--', 'sh', '-c', 'echo GOT token $DEADBOLT_TOKEN']);
  const waiting = new RegExp(`^waiting for report — held by pid ${holder.child.pid} \\(deadbolt run report -- sh\\) for (\\d+ m?s)$`, 'm');
  const first = await term.waitFor(waiting);
  // Kept current: the "for N s" part changes as the holder keeps the lock.
  await until('the waiting line to be refreshed', () => {
    const now = term.screen().match(waiting);
    return now !== null && now[1] !== first[1];
  });
  holder.child.kill('SIGTERM');
  await term.waitFor(/^EXIT=0$/m);
  const screen = term.screen();
  assert.match(screen, /^GOT token 2$/m);
  assert.doesNotMatch(screen, /waiting for/, 'the waiting line is erased');
});

test('the waiting line shows a forged holder record escaped: the screen is not cleared, the line not broken', { skip }, async () => {
  const dir = tmp.next();
  const guard = await new LockDirectory(dir).acquire('forged');
  const fd = openSync(guard.path, 'r+');
  const command = '\x1b[2J\x1b[H\nFAKE LINE\r\u202eevil';
  writeSync(fd, encodeRecord({ name: 'forged', mode: 'exclusive', token: guard.token, id: 'x', host: hostname(), pid: process.pid, command, since: new Date() }), 0);
  closeSync(fd);
  try {
    const term = terminal(['run', '--lock-path', dir, 'forged', '--', 'true']);
    const line = await term.waitFor(/^waiting for forged — held by pid \d+ \((.*)\) for \d+ m?s$/m);
    assert.equal(line[1], '\\x1b[2J\\x1b[H\\nFAKE LINE\\r\\u{202e}evil');
    assert.doesNotMatch(term.screen(), /^FAKE LINE/m);
  } finally {
    await guard.release();
  }
});
