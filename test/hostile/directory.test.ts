/**
 * Hostile user, part 1: what a directory is, and which directory root's
 * `clean` works in (issue 11, attacks 1–3).
 *
 * Safety properties, not wording: files outside lock files are never deleted,
 * a swapped directory changes nothing, a planted `.deadbolt-shared` is never
 * followed. Each stand-in for /etc is snapshotted before and compared after.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { channels, LockDirectory } from '../../src/index.js';
import {
  NOBODY,
  deadbolt,
  forgedRecord,
  killAll,
  makeLockDirectory,
  nobodySh,
  nobodyShSync,
  runBounded,
  AS_NOBODY,
  sandbox,
  secondAccount,
  snapshot,
  standInEtc,
} from './helpers.js';
import { EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

const skip = secondAccount('hostile-user suite (directories)');
const box = skip ? undefined : sandbox('dir');
after(() => {
  killAll();
  box?.remove();
});
const T = { timeout: HANG_GUARD_MS, skip };

/** A home directory: what `clean --lock-path ~` (a typo) must never wipe. */
function homeLike(dir: string): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    '.bashrc': 'export PATH=/usr/bin\n',
    '.profile': '',
    authorized_keys: 'ssh-ed25519 AAAA... admin@laptop\n',
    'notes.txt': 'do not delete\n',
    empty: '',
    'nova-job': '', // looks like an oslo lock file: only --prefix nova may touch it
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  mkdirSync(join(dir, '.ssh'), { recursive: true });
  writeFileSync(join(dir, '.ssh', 'authorized_keys'), 'ssh-ed25519 AAAA...\n');
  return snapshot(dir);
}

test('1: `clean` on a directory that is not a lock directory (no marker) deletes nothing and exits non-zero', T, async () => {
  const home = join(box!.path, 'home1');
  const before = homeLike(home);
  for (const extra of [[], ['--dry-run'], ['--json'], ['--older-than', '0s']]) {
    const r = await deadbolt(['clean', '--lock-path', home, ...extra]);
    assert.equal(r.timedOut, false);
    assert.notEqual(r.code, 0, `clean ${extra.join(' ')} must refuse an unmarked directory: ${r.stdout}${r.stderr}`);
    assert.deepEqual(snapshot(home), before, `clean ${extra.join(' ')} touched the directory`);
  }
  // The library refuses too: a ConfigurationError, nothing deleted.
  await assert.rejects(new LockDirectory(home).clean(), (e: unknown) => (e as { code?: string }).code === 'DEADBOLT_CONFIG');
  assert.deepEqual(snapshot(home), before);
});

test('1: the same through a symlinked --lock-path, DEADBOLT_LOCK_PATH and --backend file://', T, async () => {
  const home = join(box!.path, 'home2');
  const before = homeLike(home);
  const link = join(box!.path, 'home2-link');
  symlinkSync(home, link);
  for (const [args, env] of [
    [['clean', '--lock-path', link], {}],
    [['clean'], { DEADBOLT_LOCK_PATH: home }],
    [['clean', '--backend', `file://${home}`], {}],
  ] as Array<[string[], Record<string, string>]>) {
    const r = await deadbolt(args, { env });
    assert.notEqual(r.code, 0, `${args.join(' ')} ${JSON.stringify(env)}: ${r.stdout}`);
    assert.deepEqual(snapshot(home), before);
  }
});

test('1: ls, show and break refuse an unmarked directory with exit 66 and change nothing', T, async () => {
  const home = join(box!.path, 'home3');
  const before = homeLike(home);
  for (const args of [['ls'], ['ls', '--json'], ['show', 'notes.txt'], ['break', 'notes.txt', '--yes']]) {
    const r = await deadbolt([...args, '--lock-path', home]);
    assert.equal(r.code, 66, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  assert.deepEqual(snapshot(home), before);
});

test('1: with an oslo prefix no marker is needed, and only empty <prefix>-* files are cleaned', T, async () => {
  const home = join(box!.path, 'home4');
  homeLike(home);
  const r = await deadbolt(['clean', '--lock-path', home, '--prefix', 'nova']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(join(home, 'nova-job')), false, 'the oslo lock file is cleaned');
  const after = readdirSync(home).sort();
  assert.deepEqual(after, ['.bashrc', '.profile', '.ssh', 'authorized_keys', 'empty', 'notes.txt'], 'nothing else');
  // The library, likewise.
  writeFileSync(join(home, 'nova-other'), '');
  const report = await new LockDirectory(home, { prefix: 'nova' }).clean();
  assert.deepEqual(report.removed.map((e) => e.file), ['nova-other']);
  assert.deepEqual(readdirSync(home).sort(), after);
});

test('1: in a marked lock directory, clean deletes empty and record-holding lock files only; data files, hard links and foreign files stay', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'marked'), 0o755);
  const locks = new LockDirectory(dir, { cleanup: 'never' });
  await locks.run('leftover', () => undefined); // a real lock file with a record, free
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'crashed'), forgedRecord({ name: 'crashed', pid: 2147483, command: 'gone' })); // a dead holder's record
  writeFileSync(join(dir, 'notes.txt'), 'important data, not a lock\n');
  writeFileSync(join(dir, 'half'), 'deadbolt1 00000000 {"torn"'); // not a valid record
  const etc = standInEtc(box!.path, 'etc-marked');
  linkSync(join(etc, 'shadow'), join(dir, 'linked')); // as an attacker would on a system without protected_hardlinks
  const before = snapshot(etc);
  const report = await locks.clean();
  assert.deepEqual(report.removed.map((e) => e.file).sort(), ['crashed', 'empty', 'leftover']);
  const skipped = new Map(report.skipped.map((e) => [e.file, e.reason]));
  for (const kept of ['notes.txt', 'half', 'linked']) {
    assert.ok(skipped.has(kept), `${kept} is reported as skipped`);
    assert.ok(existsSync(join(dir, kept)), `${kept} is not deleted`);
  }
  assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'important data, not a lock\n');
  assert.deepEqual(snapshot(etc), before);
  // The CLI agrees.
  writeFileSync(join(dir, 'empty'), '');
  const r = await deadbolt(['clean', '--lock-path', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { removed: Array<{ file: string }> }).removed.map((e) => e.file), ['empty']);
  assert.ok(existsSync(join(dir, 'notes.txt')));
});

/**
 * Attack 2's layout: the attacker owns the lock directory's parent, root owns
 * the lock directory, which holds root's leftover lock files whose names are
 * also names of files in /etc (a service locking "passwd" before editing it).
 */
async function swapLayout(label: string) {
  const parent = box!.dir(`${label}-parent`, 0o755, NOBODY);
  const dir = await makeLockDirectory(join(parent, 'locks'), 0o755);
  const locks = new LockDirectory(dir, { cleanup: 'never' });
  for (const name of ['aaa-first', 'passwd', 'shadow', 'sudoers']) await locks.run(name, () => undefined);
  const etc = standInEtc(box!.path, `${label}-etc`);
  return { parent, dir, etc, before: snapshot(etc) };
}

test('2: the lock directory swapped for a symlink to /etc before root\'s clean: nothing in /etc is touched', T, async () => {
  const { parent, dir, etc, before } = await swapLayout('swap-before');
  await nobodySh(`cd '${parent}'; mv locks locks.real; ln -s '${etc}' locks`);
  for (const args of [['clean'], ['clean', '--trust-directory'], ['ls'], ['break', 'passwd', '--yes']]) {
    const r = await deadbolt([...args, '--lock-path', dir]);
    assert.equal(r.timedOut, false);
    assert.deepEqual(snapshot(etc), before, `${args.join(' ')} touched /etc's stand-in`);
    if (args[0] === 'clean') assert.notEqual(r.code, 0, `${args.join(' ')} through a symlink to a directory without a marker must refuse`);
  }
});

test('2: a parent writable by the attacker (no sticky bit): privileged clean and break refuse with exit 77', T, async () => {
  const { dir, etc, before } = await swapLayout('parent-writable');
  for (const args of [['clean'], ['break', 'passwd', '--yes']]) {
    const r = await deadbolt([...args, '--lock-path', dir]);
    assert.equal(r.code, 77, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  assert.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('.')).sort(), ['aaa-first', 'passwd', 'shadow', 'sudoers'], 'nothing removed');
  assert.deepEqual(snapshot(etc), before);
  // The documented override lets root clean it, still only through one directory handle.
  const r = await deadbolt(['clean', '--lock-path', dir, '--trust-directory']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('.')), []);
  assert.deepEqual(snapshot(etc), before);
});

test('2: swapped between listing and deletion (deterministically, inside clean()): the rest of the deletions never land in /etc', T, async () => {
  const { parent, etc, before } = await swapLayout('swap-during');
  const dir = join(parent, 'locks');
  let swapped = false;
  let swapError: unknown;
  // After clean() removes its first file (sorted: aaa-first), the attacker swaps the
  // directory; the callback runs synchronously inside clean(), so the swap lands
  // between the listing and every later deletion.
  const onCleaned = () => {
    if (swapped) return;
    swapped = true;
    try {
      nobodyShSync(`cd '${parent}'; mv locks locks.real; ln -s '${etc}' locks`);
    } catch (err) {
      swapError = err;
    }
  };
  diagnosticsChannel.subscribe(channels.fileCleaned, onCleaned);
  try {
    await new LockDirectory(dir).clean().catch(() => undefined);
  } finally {
    diagnosticsChannel.unsubscribe(channels.fileCleaned, onCleaned);
  }
  assert.equal(swapped, true, 'the swap happened after the first deletion');
  assert.equal(swapError, undefined);
  assert.deepEqual(snapshot(etc), before, 'clean() followed the swapped path into /etc');
});

test('2: the attacker swaps the directory and a symlink in a loop while root cleans repeatedly: /etc is never touched', { ...T, timeout: HANG_GUARD_MS }, async () => {
  const { parent, dir, etc, before } = await swapLayout('swap-loop');
  const swaps = 400;
  const swapper = runBounded(
    [...AS_NOBODY, 'sh', '-c', `cd '${parent}'; i=0; while [ $i -lt ${swaps} ]; do mv locks locks.real && ln -s '${etc}' locks && rm locks && mv locks.real locks; i=$((i+1)); done`],
    { timeoutMs: EVENT_BOUND_MS },
  );
  let done = false;
  void swapper.then(() => (done = true));
  let runs = 0;
  const codes: Array<number | null> = [];
  // Plain runs must refuse (the parent is the attacker's); runs with the override
  // exercise the one directory handle itself.
  while (!done && runs < 40) {
    const override = runs % 2 === 1;
    const r = await deadbolt(['clean', '--lock-path', dir, ...(override ? ['--trust-directory'] : [])]);
    assert.equal(r.timedOut, false);
    assert.deepEqual(snapshot(etc), before, `clean run ${runs} (${override ? '--trust-directory' : 'plain'}) touched /etc's stand-in: ${r.stdout}`);
    if (override) codes.push(r.code);
    runs++;
  }
  const s = await swapper;
  assert.equal(s.code, 0, s.stderr);
  assert.ok(runs >= 4, `only ${runs} clean runs overlapped the swaps`);
  assert.deepEqual(snapshot(etc), before);
  // The loop proves something for the override only if it was accepted at all.
  const last = await deadbolt(['clean', '--lock-path', dir, '--trust-directory']);
  assert.equal(last.code, 0, `--trust-directory on the settled directory: ${last.stderr}`);
  assert.ok(codes.every((c) => c !== 64), `--trust-directory is a known option (exit codes ${codes.join(', ')})`);
});

test('3: `.deadbolt-shared` planted as a symlink: clean deletes nothing in its target, `run --shared` creates nothing there', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'shared-1777'), 0o1777);
  const etc = standInEtc(box!.path, 'shared-etc');
  const before = snapshot(etc);
  rmSync(join(dir, '.deadbolt-shared'), { recursive: true, force: true });
  await nobodySh(`ln -s '${etc}' '${dir}/.deadbolt-shared'`);
  for (const args of [['clean'], ['clean', '--dry-run'], ['ls'], ['ls', '--json'], ['run', '--shared', 'job', '--', 'true'], ['run', '--shared', 'passwd', '--', 'true']]) {
    const r = await deadbolt([...args.slice(0, 1), '--lock-path', dir, ...args.slice(1)]);
    assert.equal(r.timedOut, false, args.join(' '));
    assert.deepEqual(snapshot(etc), before, `${args.join(' ')} followed .deadbolt-shared into /etc's stand-in`);
  }
  // The library, likewise.
  const locks = new LockDirectory(dir);
  await locks
    .acquire('lib', { mode: 'shared', timeout: 2000 })
    .then((g) => g.release())
    .catch(() => undefined);
  await locks.clean().catch(() => undefined);
  assert.deepEqual(snapshot(etc), before);
});

test('3: `.deadbolt-shared` renamed away and replaced by a symlink while a shared holder holds: release and clean stay inside', T, async () => {
  // Group layout (no sticky bit): a group member may rename root's entries.
  const dir = await makeLockDirectory(join(box!.path, 'shared-group'), 0o2775, { gid: NOBODY.gid });
  const etc = standInEtc(box!.path, 'shared-group-etc');
  const locks = new LockDirectory(dir);
  const guard = await locks.acquire('passwd', { mode: 'shared' });
  const before = snapshot(etc);
  // Pretend a stale shared record of lock "passwd" exists in the target, too.
  await nobodySh(`cd '${dir}'; mv .deadbolt-shared .old-shared; ln -s '${etc}' .deadbolt-shared`);
  await guard.release();
  await locks.clean().catch(() => undefined);
  const r = await deadbolt(['clean', '--lock-path', dir]);
  assert.equal(r.timedOut, false);
  assert.deepEqual(snapshot(etc), before);
});

test('privileged commands refuse a directory writable by others without the sticky bit (0777): exit 77, nothing touched', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'open-0777'), 0o777);
  const etc = standInEtc(box!.path, 'open-etc');
  writeFileSync(join(dir, 'leftover'), '');
  await nobodySh(`cd '${dir}'; ln -s '${etc}/passwd' evil; : > theirs`);
  const before = { etc: snapshot(etc), dir: snapshot(dir) };
  for (const args of [['clean'], ['clean', '--dry-run'], ['break', 'leftover', '--yes']]) {
    const r = await deadbolt([...args, '--lock-path', dir]);
    assert.equal(r.code, 77, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  assert.deepEqual(snapshot(etc), before.etc);
  assert.deepEqual(snapshot(dir), before.dir);
  // With the override, clean works, skips the attacker's files, and never follows the link.
  const r = await deadbolt(['clean', '--lock-path', dir, '--trust-directory']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(join(dir, 'leftover')), false);
  assert.ok(existsSync(join(dir, 'theirs')), 'a file owned by another user than the directory\'s owner is skipped');
  assert.deepEqual(snapshot(etc), before.etc);
});

test('a renamed-away lock directory replaced by a directory without a marker: clean refuses it', T, async () => {
  const parent = box!.dir('replaced-parent', 0o755, NOBODY);
  const dir = await makeLockDirectory(join(parent, 'locks'), 0o755);
  await nobodySh(`cd '${parent}'; mv locks locks.real; mkdir locks; : > locks/precious; chmod 755 locks`);
  const r = await deadbolt(['clean', '--lock-path', dir, '--trust-directory']);
  assert.notEqual(r.code, 0);
  assert.ok(existsSync(join(dir, 'precious')));
});
