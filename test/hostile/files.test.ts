/**
 * Hostile user, part 3: what is at a lock path or a bookkeeping path (issue 11,
 * attacks 6 and 8, and the marker).
 *
 * 6: a hard link or a pre-created file at a lock path is never written to
 *    (acquire refuses with DEADBOLT_UNSAFE); a pre-created, world-writable
 *    `.deadbolt-tokens` owned by the attacker is refused, so tokens never repeat.
 * 8: no prefix can reach the bookkeeping files (`--prefix .deadbolt`: exit 64);
 *    a FIFO at `.deadbolt-audit.log` hangs nothing; a FIFO at `.deadbolt-tokens`
 *    is a clear refusal, not ESPIPE.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LockDirectory, isInvalidArgument } from '../../src/index.js';
import {
  NOBODY,
  deadbolt,
  killAll,
  makeLockDirectory,
  nobodySh,
  sandbox,
  secondAccount,
  snapshot,
  standInEtc,
  within,
} from './helpers.js';
import { EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

const skip = secondAccount('hostile-user suite (files)');
const box = skip ? undefined : sandbox('files');
after(() => {
  killAll();
  box?.remove();
});
const T = { timeout: HANG_GUARD_MS, skip };
const code = (e: unknown) => (e as { code?: unknown })?.code;

/** `acquire` and `tryAcquire` of `name` must both be refused as unsafe; whatever they got is released. */
async function assertRefusedUnsafe(locks: LockDirectory, name: string): Promise<void> {
  const results = [
    await locks.acquire(name, { timeout: 2000 }).then(async (g) => (await g.release(), 'granted'), (e: unknown) => e),
    await locks.tryAcquire(name).then(async (g) => (await g?.release(), g ? 'granted' : 'busy'), (e: unknown) => e),
  ];
  for (const r of results) assert.equal(code(r), 'DEADBOLT_UNSAFE', `expected a DEADBOLT_UNSAFE refusal for "${name}", got ${r instanceof Error ? `${code(r)}: ${r.message}` : String(r)}`);
}

test('6: a hard link at a lock path (to a stand-in for /etc/shadow): acquire refuses, the target is never written', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'hardlink'), 0o755);
  const etc = standInEtc(box!.path, 'hardlink-etc');
  linkSync(join(etc, 'shadow'), join(dir, 'job')); // as an attacker would where protected_hardlinks is off
  const before = snapshot(etc);
  await assertRefusedUnsafe(new LockDirectory(dir), 'job');
  assert.deepEqual(snapshot(etc), before, 'the hard link\'s target was written');
  const r = await deadbolt(['run', '--lock-path', dir, 'job', '--', 'true']);
  assert.notEqual(r.code, 0, 'the CLI refuses it too');
  assert.deepEqual(snapshot(etc), before);
  const clean = await deadbolt(['clean', '--lock-path', dir]);
  assert.equal(clean.timedOut, false);
  assert.deepEqual(snapshot(etc), before, 'clean removed or changed the hard link');
});

test('6: the attacker\'s own hard link and a pre-created file with data at lock paths (1777): refused, contents intact', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'precreated'), 0o1777);
  const theirs = box!.dir('nobody-home', 0o755, NOBODY);
  await nobodySh(`printf 'attacker data\\n' > '${theirs}/data'; ln '${theirs}/data' '${dir}/linked'; printf 'planted\\n' > '${dir}/planted'; chmod 666 '${dir}/planted'`);
  const before = { theirs: snapshot(theirs), planted: readFileSync(join(dir, 'planted'), 'utf8') };
  const locks = new LockDirectory(dir);
  await assertRefusedUnsafe(locks, 'linked');
  await assertRefusedUnsafe(locks, 'planted');
  assert.deepEqual(snapshot(theirs), before.theirs);
  assert.equal(readFileSync(join(dir, 'planted'), 'utf8'), before.planted, 'the holder record overwrote the planted file\'s first bytes');
});

test('6: a world-writable .deadbolt-tokens pre-created by the attacker (1777): refused; tokens never repeat', T, async () => {
  const dir = box!.dir('tokens-planted', 0o1777);
  await nobodySh(`printf '%020d\\n' 41 > '${dir}/.deadbolt-tokens'; chmod 666 '${dir}/.deadbolt-tokens'`);
  const locks = new LockDirectory(dir);
  const tokens: bigint[] = [];
  let refusal: unknown;
  for (let round = 0; round < 2 && refusal === undefined; round++) {
    refusal = await locks.acquire('a', { timeout: 2000 }).then(async (g) => {
      tokens.push(g.token);
      await g.release();
      return undefined;
    }, (e: unknown) => e);
    await nobodySh(`printf '%020d\\n' 41 > '${dir}/.deadbolt-tokens'`); // the attacker resets the counter
  }
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `tokens repeat after the attacker reset the counter: ${tokens.join(', ')}`);
  assert.equal(code(refusal), 'DEADBOLT_UNSAFE', `the attacker's counter must be refused, got ${String(refusal)}`);
});

test('6: the counter is created 0600 and owned by root: the attacker cannot reset it', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'tokens-root'), 0o1777);
  const locks = new LockDirectory(dir);
  const g = await locks.acquire('a');
  await g.release();
  const s = lstatSync(join(dir, '.deadbolt-tokens'));
  assert.equal(s.uid, 0);
  assert.equal(s.mode & 0o077, 0, `.deadbolt-tokens is ${(s.mode & 0o777).toString(8)}`);
  await assert.rejects(nobodySh(`printf '%020d\\n' 0 > '${dir}/.deadbolt-tokens'`));
  const h = await locks.acquire('a');
  assert.ok(h.token > g.token);
  await h.release();
});

test('8: --prefix .deadbolt (and any prefix starting with ".") is refused: exit 64, the bookkeeping files untouched', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'prefix'), 0o755);
  const locks = new LockDirectory(dir);
  await (await locks.acquire('seed')).release();
  const audit = `${JSON.stringify({ version: 1, event: 'break', at: new Date().toISOString(), lock: { name: 'x', file: 'x' } })}\n`;
  writeFileSync(join(dir, '.deadbolt-audit.log'), audit, { mode: 0o600 });
  const before = snapshot(dir);
  for (const args of [
    ['run', '--prefix', '.deadbolt', 'audit.log', '--', 'true'],
    ['run', '--prefix', '.deadbolt', 'tokens', '--', 'true'],
    ['run', '--prefix', '.deadbolt', 'directory', '--', 'true'],
    ['run', '--prefix', '.x', 'y', '--', 'true'],
    ['ls', '--prefix', '.deadbolt'],
    ['show', '--prefix', '.deadbolt', 'tokens'],
    ['break', '--prefix', '.deadbolt', 'tokens', '--yes'],
    ['clean', '--prefix', '.deadbolt'],
  ]) {
    const r = await deadbolt([args[0]!, '--lock-path', dir, ...args.slice(1)], { timeoutMs: EVENT_BOUND_MS });
    assert.equal(r.timedOut, false, `${args.join(' ')} hung (the counter locked against itself?)`);
    assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
    assert.deepEqual(snapshot(dir), before, `${args.join(' ')} changed a bookkeeping file`);
  }
  for (const prefix of ['.deadbolt', '.deadbolt-tokens', '.hidden', '.']) {
    assert.throws(() => new LockDirectory(dir, { prefix }), (e: unknown) => isInvalidArgument(e) && e instanceof RangeError, `prefix ${prefix}`);
  }
});

test('8: no lock name reaches a bookkeeping file (without a prefix)', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'names'), 0o755);
  const locks = new LockDirectory(dir);
  await (await locks.acquire('seed')).release();
  const before = readFileSync(join(dir, '.deadbolt-tokens'), 'utf8');
  for (const name of ['.deadbolt-tokens', '.deadbolt-audit.log', '.deadbolt-directory', '.deadbolt-shared']) {
    await locks.run(name, (g) => assert.ok(!g.path.split('/').pop()!.startsWith('.'), `${name} → ${g.path}`));
  }
  assert.match(readFileSync(join(dir, '.deadbolt-tokens'), 'utf8'), /^\d{20}\n$/);
  assert.ok(BigInt(readFileSync(join(dir, '.deadbolt-tokens'), 'utf8')) > BigInt(before));
});

test('8: a FIFO planted at .deadbolt-audit.log (1777): ls and show end on their own', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'audit-fifo'), 0o1777);
  if (!existsSync(join(dir, '.deadbolt-audit.log'))) await nobodySh(`mkfifo '${dir}/.deadbolt-audit.log'`);
  await (await new LockDirectory(dir, { cleanup: 'never' }).acquire('job')).release();
  for (const args of [['ls'], ['ls', '--json'], ['show', 'job'], ['show', 'job', '--json']]) {
    const r = await deadbolt([args[0]!, '--lock-path', dir, ...args.slice(1)], { timeoutMs: EVENT_BOUND_MS });
    assert.equal(r.timedOut, false, `${args.join(' ')} hung reading the FIFO`);
  }
});

test('8: a FIFO at .deadbolt-tokens (group layout: a member replaced root\'s counter): a clear DEADBOLT_UNSAFE refusal, never ESPIPE, never a hang', T, async () => {
  const dir = await makeLockDirectory(join(box!.path, 'tokens-fifo'), 0o2775, { gid: NOBODY.gid });
  await (await new LockDirectory(dir).acquire('seed')).release();
  await nobodySh(`cd '${dir}'; rm -f .deadbolt-tokens; mkfifo .deadbolt-tokens`);
  const locks = new LockDirectory(dir);
  const r = await within(locks.acquire('job', { timeout: 2000 }), EVENT_BOUND_MS);
  assert.equal(r.pending, undefined, 'acquire hung on the FIFO');
  if (r.value !== undefined) await r.value.release();
  assert.ok(r.error instanceof Error, 'acquire must fail');
  assert.equal(code(r.error), 'DEADBOLT_UNSAFE', `${code(r.error)}: ${(r.error as Error).message}`);
  assert.doesNotMatch((r.error as Error).message, /ESPIPE/);
  assert.match((r.error as Error).message, /\.deadbolt-tokens/, 'names the file');
  const cli = await deadbolt(['run', '--lock-path', dir, 'job', '--', 'true'], { timeoutMs: EVENT_BOUND_MS });
  assert.equal(cli.timedOut, false);
  assert.notEqual(cli.code, 0);
  assert.doesNotMatch(cli.stderr, /ESPIPE/);
});

for (const kind of ['symlink', 'fifo', 'hardlink'] as const) {
  test(`the marker .deadbolt-directory planted as a ${kind} before first use (1777): refused, the target untouched, nothing hangs`, T, async () => {
    const dir = box!.dir(`marker-${kind}`, 0o1777);
    const etc = standInEtc(box!.path, `marker-${kind}-etc`);
    const marker = join(dir, '.deadbolt-directory');
    if (kind === 'symlink') await nobodySh(`ln -s '${etc}/passwd' '${marker}'`);
    else if (kind === 'fifo') await nobodySh(`mkfifo '${marker}'`);
    else linkSync(join(etc, 'passwd'), marker);
    const before = snapshot(etc);
    const r = await within(
      (async () => {
        const locks = new LockDirectory(dir).open();
        const g = await locks.acquire('job', { timeout: 2000 });
        await g.release();
      })(),
      EVENT_BOUND_MS,
    );
    assert.equal(r.pending, undefined, 'hung');
    assert.ok(['DEADBOLT_UNSAFE', 'DEADBOLT_CONFIG'].includes(code(r.error) as string), `a planted marker must be refused, got ${String(r.error ?? 'success')}`);
    assert.deepEqual(snapshot(etc), before);
    const cli = await deadbolt(['clean', '--lock-path', dir], { timeoutMs: EVENT_BOUND_MS });
    assert.equal(cli.timedOut, false);
    assert.notEqual(cli.code, 0);
    assert.deepEqual(snapshot(etc), before);
  });
}
