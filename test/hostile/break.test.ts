/**
 * Hostile user, part 2: root's `deadbolt break` (issue 11, attacks 4 and 5).
 *
 * 4: the audit log planted as a symlink (or a hard link, or a FIFO): root's
 *    break never writes to the target, and never hangs.
 * 5: a forged holder record naming an unrelated process, in a file the
 *    attacker locks itself: root's break signals nobody and exits 69.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { killHolders, startHolder } from '../cli/helpers.js';
import {
  CLI,
  NOBODY,
  attackerLock,
  deadbolt,
  forgedRecord,
  killAll,
  makeLockDirectory,
  nobodySh,
  processAlive,
  sandbox,
  secondAccount,
  snapshot,
  standInEtc,
  startProcess,
  victimProcess,
} from './helpers.js';
import { EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

const skip = secondAccount('hostile-user suite (break)');
const box = skip ? undefined : sandbox('break');
after(() => {
  killHolders();
  killAll();
  box?.remove();
});
const T = { timeout: HANG_GUARD_MS, skip };
const AUDIT = '.deadbolt-audit.log';

/** Plant the audit log as `how` (symlink / hard link / FIFO) unless deadbolt already created it (then the attack is moot in a sticky directory). */
async function plantAudit(dir: string, how: 'symlink' | 'hardlink' | 'fifo', target: string): Promise<void> {
  const path = join(dir, AUDIT);
  if (existsSync(path)) {
    const s = lstatSync(path);
    assert.ok(s.isFile() && s.uid === 0 && (s.mode & 0o022) === 0, 'an audit log created in advance must be root\'s and not writable by others');
    return;
  }
  if (how === 'symlink') await nobodySh(`ln -s '${target}' '${path}'`);
  else if (how === 'fifo') await nobodySh(`mkfifo '${path}'`);
  else linkSync(target, path); // as the attacker would on a system without protected_hardlinks
}

for (const how of ['symlink', 'hardlink'] as const) {
  test(`4: .deadbolt-audit.log planted as a ${how} to /etc/ld.so.preload's stand-in (1777): root's break never writes to it`, T, async () => {
    const dir = await makeLockDirectory(join(box!.path, `audit-${how}`), 0o1777);
    const etc = standInEtc(box!.path, `audit-${how}-etc`);
    await plantAudit(dir, how, join(etc, 'ld.so.preload'));
    const before = snapshot(etc);
    await startHolder(dir, 'job');
    const r = await deadbolt(['break', '--lock-path', dir, 'job', '--yes', '--grace', '300ms', '--reason', '/tmp/evil.so']);
    assert.equal(r.timedOut, false);
    assert.deepEqual(snapshot(etc), before, `break wrote through the planted ${how}`);
    assert.equal(readFileSync(join(etc, 'ld.so.preload'), 'utf8'), '');
    assert.notEqual(r.code, 0, 'a break that cannot be recorded is reported as a failure');
  });
}

test('4: group layout: a group member holds a lock with a command of its choosing and replaces the audit log with a symlink: root\'s break never writes to the target', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'audit-group'), 0o2775, { gid: NOBODY.gid, fileMode: 0o660 });
  const etc = standInEtc(box!.path, 'audit-group-etc');
  const holder = startProcess([process.execPath, CLI, 'run', '--lock-path', dir, 'job', '--', 'sh', '-c', 'echo held $$; exec sleep 60 # /tmp/evil.so']);
  await holder.line(/^held/);
  // No sticky bit: the group member may remove whatever is there and plant its own.
  await nobodySh(`cd '${dir}'; rm -f ${AUDIT}; ln -s '${join(etc, 'ld.so.preload')}' ${AUDIT}`);
  const before = snapshot(etc);
  const r = await deadbolt(['break', '--lock-path', dir, 'job', '--yes', '--grace', '300ms']);
  assert.equal(r.timedOut, false);
  assert.deepEqual(snapshot(etc), before, 'break appended to the symlink\'s target');
  assert.equal(readFileSync(join(etc, 'ld.so.preload'), 'utf8'), '');
  assert.notEqual(r.code, 0);
});

test('4: a FIFO at .deadbolt-audit.log: break ends on its own (refused or reported), nothing hangs', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'audit-fifo'), 0o1777);
  await plantAudit(dir, 'fifo', '');
  await startHolder(dir, 'job');
  const r = await deadbolt(['break', '--lock-path', dir, 'job', '--yes', '--grace', '300ms'], { timeoutMs: EVENT_BOUND_MS });
  assert.equal(r.timedOut, false, 'break hung on the FIFO');
});

/** A forged record naming `pid` (running `command`), in a lock file the attacker creates and locks itself. */
async function forge(dir: string, name: string, pid: number, command: string) {
  return attackerLock(join(dir, name), { create: true, content: forgedRecord({ name, pid, command }) });
}

for (const layout of [
  { label: '1777', mode: 0o1777, gid: 0 },
  { label: 'group 2775', mode: 0o2775, gid: NOBODY.gid },
]) {
  test(`5: a forged record naming root's unrelated process (${layout.label}): break --yes signals nothing and exits 69`, T, async () => {
    const dir = await makeLockDirectory(join(box!.path, `forged-${layout.label.replace(' ', '-')}`), layout.mode, { gid: layout.gid });
    const victim = victimProcess();
    const attacker = await forge(dir, 'job', victim.pid, 'sleep 60');
    const r = await deadbolt(['break', '--lock-path', dir, 'job', '--yes', '--grace', '200ms']);
    assert.equal(r.timedOut, false);
    assert.equal(victim.alive(), true, `root's break killed the unrelated pid ${victim.pid}: ${r.stdout}${r.stderr}`);
    assert.equal(r.code, 69, r.stderr);
    assert.equal(processAlive(attacker.pid), true, 'nor was the attacker (the real holder) signalled on the record\'s word');
    await attacker.release();
  });
}

test('5: a forged record naming another process of the attacker\'s own user (owner checks pass; only the kernel can tell): exit 69, nothing signalled', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'forged-own'), 0o1777);
  const sleeper = startProcess(['sleep', '60']); // nobody's process, not holding anything
  const pid = sleeper.child.pid!;
  const attacker = await forge(dir, 'job', pid, 'sleep 60');
  const r = await deadbolt(['break', '--lock-path', dir, 'job', '--yes', '--grace', '200ms']);
  assert.equal(processAlive(pid), true, `break signalled pid ${pid}, which does not hold the lock`);
  assert.equal(r.code, 69, r.stderr);
  await attacker.release();
});

test('5: a record naming root\'s process in a lock file owned by the attacker, with no lock at all: nothing signalled', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'forged-unlocked'), 0o1777);
  const victim = victimProcess();
  await nobodySh(`printf '%s\\n' '${forgedRecord({ name: 'job', pid: victim.pid, command: 'sleep 60' }).trimEnd()}' > '${dir}/job'`);
  const r = await deadbolt(['break', '--lock-path', dir, 'job', '--yes', '--grace', '200ms']);
  assert.equal(r.timedOut, false);
  assert.equal(victim.alive(), true);
  assert.notEqual(r.code, 0);
});

test('5: the real holder is still broken (the proof accepts a genuine `deadbolt run`), and recorded', T, async () => {
  // The positive control: the checks that refuse forgeries must not refuse the real thing.
  const dir = await makeLockDirectory(join(box!.path, 'genuine'), 0o755);
  const holder = await startHolder(dir, 'job');
  const r = await deadbolt(['break', '--lock-path', dir, 'job', '--yes', '--grace', '2s', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await holder.exited, { code: null, signal: 'SIGTERM' });
  assert.ok(existsSync(join(dir, AUDIT)));
  assert.equal(lstatSync(join(dir, AUDIT)).mode & 0o077, 0, 'the audit log is 0600');
});

test('5: a genuine holder of nobody\'s in the group layout can be broken; the lock file\'s owner matches the holder', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'genuine-group'), 0o2775, { gid: NOBODY.gid, fileMode: 0o660 });
  const holder = startProcess([process.execPath, CLI, 'run', '--lock-path', dir, 'job', '--', 'sh', '-c', 'echo held $$; exec sleep 60']);
  await holder.line(/^held/);
  const r = await deadbolt(['break', '--lock-path', dir, 'job', '--yes', '--grace', '2s']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await holder.exited, 'SIGTERM');
});
