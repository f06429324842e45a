/**
 * `deadbolt break` without a terminal: confirmation, SIGTERM then SIGKILL, the
 * audit record, and every refusal (holder unidentifiable, remote, shared, pid
 * gone or reused, not ours to signal).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, closeSync, openSync, readFileSync, existsSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { encodeRecord } from '../../src/file/holder-record.js';
import { LockDirectory } from '../../src/file/lock-directory.js';
import { DirectoryHandle } from '../../src/file/directory-handle.js';
import { grantRequest, tryLockFile } from '../../src/file/grant.js';
import { closeFd } from '../file/native-helpers.js';
import { LOCK_HOLDER, alive, canSwitchUser, cli, cliAsNobody, killHolders, startFixture, startHolder, tempDir, until } from './helpers.js';

const tmp = tempDir('break');
after(() => {
  killHolders();
  tmp.remove();
});
const auditLines = (dir: string) => (existsSync(join(dir, '.deadbolt-audit.log')) ? readFileSync(join(dir, '.deadbolt-audit.log'), 'utf8').trim().split('\n') : []);

test('without a terminal and without --yes: refused (64), holder untouched, nothing recorded', async () => {
  const dir = tmp.next();
  const holder = await startHolder(dir, 'jobs');
  const r = await cli(['break', '--lock-path', dir, 'jobs']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, new RegExp(`lock "jobs" in ${dir} is held by pid ${holder.child.pid} on `));
  assert.match(r.stderr, /refusing to break a lock without confirmation: stdin is not a terminal/);
  assert.match(r.stderr, /Add --yes/);
  assert.ok(alive(holder.child.pid!) && alive(holder.commandPid));
  assert.deepEqual(auditLines(dir), []);
});

test('--yes: SIGTERM stops a `deadbolt run NAME -- sleep 60` holder, the lock is freed, the audit record says who, why and whom', async () => {
  const dir = tmp.next();
  const holder = await startHolder(dir, 'jobs');
  const r = await cli(['break', '--lock-path', dir, 'jobs', '--yes', '--reason', 'hung since 03:00', '--json'], { env: { SUDO_USER: 'alice' } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await holder.exited, { code: null, signal: 'SIGTERM' }, 'SIGTERM sufficed: no SIGKILL after the grace');
  const [line] = auditLines(dir);
  const record = JSON.parse(line!) as Record<string, any>;
  assert.deepEqual(JSON.parse(r.stdout), record, '--json prints the audit record');
  assert.equal(record.version, 1);
  assert.equal(record.event, 'break');
  assert.deepEqual(record.lock, { name: 'jobs', file: 'jobs' });
  assert.equal(record.reason, 'hung since 03:00');
  assert.equal(record.by.host, hostname());
  assert.equal(record.by.sudoUser, 'alice');
  assert.equal(typeof record.by.user, 'string');
  assert.equal(typeof record.by.pid, 'number');
  assert.equal(record.displaced.pid, holder.child.pid);
  assert.equal(record.displaced.token, '1');
  assert.equal(record.displaced.command, 'deadbolt run jobs -- sh', 'the program, none of its arguments');
  assert.ok(Date.parse(record.displaced.since) <= Date.parse(record.at));
  assert.deepEqual(record.signals, ['SIGTERM']);
  assert.equal(record.outcome, 'freed');
  const free = await cli(['run', '--lock-path', dir, '--no-wait', 'jobs', '--', 'true']);
  assert.equal(free.code, 0);
  const ls = await cli(['ls', '--lock-path', dir]);
  assert.match(ls.stdout, /Recent breaks \(\.deadbolt-audit\.log\):\n {2}\S+ \S+ {2}jobs {2}pid \d+ .* by alice@.*: "hung since 03:00" \(SIGTERM, freed\)/);
});

test('a holder that ignores SIGTERM gets SIGKILL after --grace; a reason is recorded even when none is given', async () => {
  const dir = tmp.next();
  // deadbolt passes SIGTERM on to its command, which ignores it, so deadbolt keeps the lock.
  const holder = await startHolder(dir, 'stubborn', { setup: 'trap "" TERM; ', script: 'while :; do sleep 0.05; done' });
  const started = Date.now();
  const r = await cli(['break', '--lock-path', dir, 'stubborn', '--yes', '--grace', '400ms']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Date.now() - started >= 400);
  assert.match(r.stderr, /still holds the lock after 400 ms: sending SIGKILL/);
  assert.match(r.stdout, /lock "stubborn" broken: pid \d+ stopped with SIGTERM, then SIGKILL/);
  assert.deepEqual(await holder.exited, { code: null, signal: 'SIGKILL' });
  const record = JSON.parse(auditLines(dir)[0]!) as { signals: string[]; outcome: string; reason: string };
  assert.deepEqual([record.signals, record.outcome, record.reason], [['SIGTERM', 'SIGKILL'], 'freed', '(no reason given)']);
  process.kill(holder.commandPid, 'SIGKILL'); // the orphaned command
});

test('break on a free lock: exit 1, nothing recorded', async () => {
  const dir = tmp.next();
  new LockDirectory(dir).open().close(); // a lock directory (marked): break refuses any other
  const r = await cli(['break', '--lock-path', dir, 'idle', '--yes']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /lock "idle" is not held: nothing to break/);
  assert.deepEqual(auditLines(dir), []);
});

/**
 * Hold `name` in this test process (no holder record unless `record` is
 * given), in a real lock directory (created and marked as LockDirectory does,
 * since break refuses an unmarked one). The record, if any, is forged here:
 * break must judge it by the process it names.
 */
function holdHere(dir: string, name: string, record?: { pid: number; host?: string; command: string; since?: Date }): () => void {
  new LockDirectory(dir).open().close();
  const handle = DirectoryHandle.open(dir, { fileMode: 0o600, cleanup: false });
  const grant = tryLockFile(handle, grantRequest(name, 'exclusive'));
  handle.close();
  assert.ok(grant);
  if (record !== undefined) {
    writeSync(grant.fd, encodeRecord({ name, mode: 'exclusive', token: 7n, id: 'test', host: hostname(), since: new Date(), ...record }), 0);
  }
  return () => closeFd(grant.fd);
}

test('refusals (69): no holder record, a record whose pid is gone, reused by another program or started later, another host', async () => {
  const dir = tmp.next();
  const expectRefusal = async (name: string, why: RegExp) => {
    const r = await cli(['break', '--lock-path', dir, name, '--yes']);
    assert.equal(r.code, 69, `${name}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`refusing to break "${name}": `));
    assert.match(r.stderr, why);
  };
  const releases = [holdHere(dir, 'no-record')];
  await expectRefusal('no-record', /its holder wrote no holder record/);

  const dead = spawnSync('true').pid;
  releases.push(holdHere(dir, 'gone', { pid: dead, command: 'true' }));
  await expectRefusal('gone', new RegExp(`its record names pid ${dead}, which is not running`));

  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    releases.push(holdHere(dir, 'other-program', { pid: sleeper.pid!, command: 'node /srv/app/worker.js' }));
    await expectRefusal('other-program', new RegExp(`pid ${sleeper.pid} now runs "sleep 60", not the recorded "node /srv/app/worker.js"`));
    releases.push(holdHere(dir, 'started-later', { pid: sleeper.pid!, command: 'sleep 60', since: new Date(Date.now() - 3600_000) }));
    await expectRefusal('started-later', new RegExp(`pid ${sleeper.pid} was started at .*, after the record was written`));
    releases.push(holdHere(dir, 'remote', { pid: sleeper.pid!, command: 'sleep 60', host: 'some-other-host' }));
    await expectRefusal('remote', /its holder is on host some-other-host; a local break can only stop processes of this host/);
    assert.ok(alive(sleeper.pid!), 'nobody was signalled');
  } finally {
    sleeper.kill('SIGKILL');
    for (const release of releases) release();
  }
  assert.deepEqual(auditLines(dir), []);
});

test('a lock held shared is refused (69): its holders are several', async () => {
  const dir = tmp.next();
  const a = await startHolder(dir, 'reads', { args: ['--shared'] });
  const b = await startHolder(dir, 'reads', { args: ['--shared'] });
  const r = await cli(['break', '--lock-path', dir, 'reads', '--yes']);
  assert.equal(r.code, 69);
  assert.match(r.stderr, /it is held shared, possibly by several processes/);
  assert.ok(alive(a.commandPid) && alive(b.commandPid));
});

test('a holder this user may not signal: exit 77, nothing recorded', { skip: canSwitchUser ? false : 'needs root and setpriv' }, async () => {
  const dir = tmp.next();
  const holder = await startHolder(dir, 'roots');
  const r = await cliAsNobody(['break', '--lock-path', dir, 'roots', '--yes']);
  assert.equal(r.code, 77, r.stderr);
  assert.match(r.stderr, new RegExp(`not allowed to signal pid ${holder.child.pid}|cannot read lock directory ${dir}: permission denied`)); // a 0700 directory keeps nobody out before that
  await until('the holder to still run', () => alive(holder.commandPid), 100);
  assert.deepEqual(auditLines(dir), []);
});

/** Whether tests can run a process as user nobody through runuser (root only). */
const canRunAsNobody = process.getuid?.() === 0 && spawnSync('runuser', ['--version']).status === 0;

test(
  'a forged record: the attacker (nobody) locks the file itself and names an unrelated root process with its real command and start time; refused (69), that process is not signalled',
  { skip: canRunAsNobody ? false : 'needs root and runuser' },
  async () => {
    const dir = tmp.next();
    new LockDirectory(dir).open().close();
    chownSync(dir, 65534, 65534); // the attacker's own lock directory
    for (const file of ['.deadbolt-directory', '.deadbolt-tokens']) chownSync(join(dir, file), 65534, 65534);
    const victim = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const record = JSON.stringify({ pid: victim.pid, command: 'sleep 60' });
      await startFixture(['hold', dir, 'jobs', 'exclusive', record], { asNobody: true });
      // Every check a record can be put to passes: same host, running, started before the record, same command line.
      const ls = await cli(['ls', '--lock-path', dir, '--json']);
      const holder = (JSON.parse(ls.stdout) as { locks: Array<{ holder: { pid: number; process: string } }> }).locks[0]!.holder;
      assert.deepEqual([holder.pid, holder.process], [victim.pid, 'running']);

      const r = await cli(['break', '--lock-path', dir, 'jobs', '--yes', '--grace', '100ms']);
      assert.equal(r.code, 69, r.stderr);
      assert.match(r.stderr, new RegExp(`refusing to break "jobs": pid ${victim.pid} does not hold this lock: none of its open files is the lock file`));
      assert.ok(alive(victim.pid!), 'the named process was not signalled');
      assert.equal(victim.exitCode, null);
      assert.equal(victim.signalCode, null);
      assert.deepEqual(auditLines(dir), []);
    } finally {
      victim.kill('SIGKILL');
    }
  },
);

/** Overwrite the holder record of the lock file at `path` with `fields`, as anyone who can write the file could. */
function forgeRecord(path: string, fields: { pid: number; command: string }): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, encodeRecord({ name: 'jobs', mode: 'exclusive', token: 1n, id: 'forged', host: hostname(), since: new Date(), ...fields }), 0);
  } finally {
    closeSync(fd);
  }
}

test('a record naming a process that has the lock file open but holds no lock: refused (69), that process is not signalled', async () => {
  const dir = tmp.next();
  const locks = new LockDirectory(dir);
  const guard = await locks.acquire('jobs');
  try {
    const reader = await startFixture(['open', guard.path]);
    // The default short form of a Node process: its program and script.
    forgeRecord(guard.path, { pid: reader.pid, command: `${process.execPath} ${LOCK_HOLDER}` });
    const r = await cli(['break', '--lock-path', dir, 'jobs', '--yes', '--grace', '100ms']);
    assert.equal(r.code, 69, r.stderr);
    assert.match(r.stderr, new RegExp(`refusing to break "jobs": pid ${reader.pid} does not hold this lock: it has the file open but holds no lock on it`));
    assert.ok(alive(reader.pid));
    assert.equal(reader.child.exitCode, null);
    assert.deepEqual(auditLines(dir), []);
  } finally {
    await guard.release();
  }
});

test('a real holder writing the default short record (program and script) is proven and broken', async () => {
  const dir = tmp.next();
  const holder = await startFixture(['hold', dir, 'jobs']);
  const shown = JSON.parse((await cli(['show', '--lock-path', dir, 'jobs', '--json'])).stdout) as { lock: { holder: { command: string; process: string } } };
  assert.equal(shown.lock.holder.command, `${process.execPath} ${LOCK_HOLDER}`, 'no argument recorded');
  assert.equal(shown.lock.holder.process, 'running', 'the short form passes the pid-reuse check');
  const r = await cli(['break', '--lock-path', dir, 'jobs', '--yes']);
  assert.equal(r.code, 0, r.stderr);
  await until('the holder to be gone', () => !alive(holder.pid));
  assert.equal(JSON.parse(auditLines(dir)[0]!).displaced.command, `${process.execPath} ${LOCK_HOLDER}`);
});
