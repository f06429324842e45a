/**
 * Hostile user, part 7: the two shared layouts the issue names, with every
 * plant at once (issue 11, "Group layout (2775 without sticky bit) and
 * world-writable (1777) directories both covered"), plus the recommended
 * group layout (2770, fileMode 0o660).
 *
 * The attacker (a group member, or anyone for 1777) plants symlinks to a
 * stand-in /etc, a hard link to its shadow file, a FIFO, `.deadbolt-shared`
 * and `.deadbolt-audit.log` symlinks, and a forged holder record naming
 * root's unrelated process in a file it locks itself. Then root runs every
 * command it has. Safety: /etc's stand-in is unchanged, the unrelated process
 * lives, every command ends on its own.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import {
  NOBODY,
  attackerLock,
  cliHolder,
  deadbolt,
  forgedRecord,
  killAll,
  makeLockDirectory,
  nobodySh,
  sandbox,
  secondAccount,
  snapshot,
  standInEtc,
  victimProcess,
} from './helpers.js';
import { EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

const skip = secondAccount('hostile-user suite (layouts)');
const box = skip ? undefined : sandbox('layout');
after(() => {
  killAll();
  box?.remove();
});

const LAYOUTS = [
  { label: 'group 2775 (no sticky bit)', slug: 'g2775', mode: 0o2775, gid: NOBODY.gid, fileMode: 0o660 },
  { label: 'group 2770 (recommended)', slug: 'g2770', mode: 0o2770, gid: NOBODY.gid, fileMode: 0o660 },
  { label: 'world-writable 1777', slug: 'w1777', mode: 0o1777, gid: 0, fileMode: undefined },
];

for (const layout of LAYOUTS) {
  test(`layout ${layout.label}: root's ls, show, clean, break and run are never turned against the host`, { timeout: HANG_GUARD_MS, skip }, async () => {
    const dir = await makeLockDirectory(join(box!.path, layout.slug), layout.mode, { gid: layout.gid, ...(layout.fileMode === undefined ? {} : { fileMode: layout.fileMode }) });
    const etc = standInEtc(box!.path, `${layout.slug}-etc`);
    const victim = victimProcess();
    // A legitimate holder of root's, so that `.deadbolt-shared` and records exist as in real use.
    await cliHolder(dir, 'root-job');
    // The plants. In the group layouts the attacker may also remove root's entries (no sticky bit).
    const group = layout.mode !== 0o1777;
    await nobodySh(
      [
        `cd '${dir}'`,
        `ln -s '${etc}/passwd' passwd`,
        `ln -s '${etc}/shadow' evil-link`,
        `mkfifo fifo`,
        `: > theirs`,
        group || !existsSync(join(dir, '.deadbolt-shared')) ? `rm -rf .deadbolt-shared; ln -s '${etc}' .deadbolt-shared` : 'true',
        group || !existsSync(join(dir, '.deadbolt-audit.log')) ? `rm -f .deadbolt-audit.log; ln -s '${etc}/ld.so.preload' .deadbolt-audit.log` : 'true',
      ].join('; '),
    );
    linkSync(join(etc, 'shadow'), join(dir, 'hardlink')); // as the attacker would without protected_hardlinks
    const attacker = await attackerLock(join(dir, 'forged'), { create: true, content: forgedRecord({ name: 'forged', pid: victim.pid, command: 'sleep 60' }) });
    const before = snapshot(etc);

    const commands = [
      ['ls'],
      ['ls', '--json'],
      ['show', 'forged'],
      ['show', 'fifo'],
      ['show', 'passwd', '--json'],
      ['clean', '--dry-run'],
      ['clean'],
      ['clean', '--older-than', '0s', '--json'],
      ['break', 'forged', '--yes', '--grace', '100ms'],
      ['break', 'passwd', '--yes', '--grace', '100ms'],
      ['break', 'hardlink', '--yes', '--grace', '100ms'],
      ['run', '--shared', 'job', '--', 'true'],
      ['run', 'hardlink', '--', 'true'],
      ['run', 'passwd', '--', 'true'],
      ['run', '--no-wait', 'fifo', '--', 'true'],
    ];
    for (const args of commands) {
      const r = await deadbolt([args[0]!, '--lock-path', dir, ...args.slice(1)], { timeoutMs: EVENT_BOUND_MS });
      const what = args.join(' ');
      assert.equal(r.timedOut, false, `${what} hung`);
      assert.deepEqual(snapshot(etc), before, `${what} touched /etc's stand-in: ${r.stdout}${r.stderr}`);
      assert.equal(victim.alive(), true, `${what} killed the unrelated process named by a forged record`);
    }
    const broke = await deadbolt(['break', '--lock-path', dir, 'forged', '--yes', '--grace', '100ms']);
    assert.equal(broke.code, 69, `a forged record is refused: ${broke.stderr}`);
    await attacker.release();
  });
}
