/**
 * `deadbolt clean`: what it removes and skips (text, --dry-run, --json,
 * --older-than), and cleaning while `deadbolt run` loops use the directory.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, killHolders, normalize, startHolder, tempDir } from './helpers.js';

const tmp = tempDir('clean');
after(() => {
  killHolders();
  tmp.remove();
});
const lockFiles = (dir: string) => readdirSync(dir).filter((f) => !f.startsWith('.deadbolt')).sort();

/** A directory with a held lock, a leftover of a crash, and an old unused file. */
async function populated(): Promise<string> {
  const dir = tmp.next();
  await startHolder(dir, 'held');
  const crashed = await startHolder(dir, 'crashed', { detached: true });
  process.kill(-crashed.child.pid!, 'SIGKILL');
  await crashed.exited;
  writeFileSync(join(dir, 'old'), '');
  const hourAgo = new Date(Date.now() - 2 * 3600_000);
  utimesSync(join(dir, 'old'), hourAgo, hourAgo);
  return dir;
}

test('clean removes unused files and says which it skipped and why; --dry-run removes nothing', async () => {
  const dir = await populated();
  const dry = await cli(['clean', '--lock-path', dir, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(
    normalize(dry.stdout, dir),
    ['would remove 2 unused lock files from <dir>:', '  crashed  unused for <dur>', '  old      unused for <dur>', 'skipped 1:', '  held  held exclusive', ''].join('\n'),
  );
  assert.deepEqual(lockFiles(dir), ['crashed', 'held', 'old']);
  const real = await cli(['clean', '--lock-path', dir]);
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, /^removed 2 unused lock files from /);
  assert.deepEqual(lockFiles(dir), ['held']);
  const again = await cli(['clean', '--lock-path', dir]);
  assert.equal(normalize(again.stdout, dir), ['nothing to clean in <dir>', 'skipped 1:', '  held  held exclusive', ''].join('\n'));
  const empty = tmp.next();
  await cli(['run', '--lock-path', empty, 'x', '--', 'true']); // a lock directory, empty again after the run
  assert.equal((await cli(['clean', '--lock-path', empty])).stdout, `nothing to clean in ${empty} (no lock files)\n`);
});

test('clean --older-than skips younger files; --json follows the documented schema', async () => {
  const dir = await populated();
  const r = await cli(['clean', '--lock-path', dir, '--older-than', '1h', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { version: number; directory: string; dryRun: boolean; removed: Array<{ file: string; ageMs: number }>; skipped: Array<{ file: string; ageMs: number; reason: string }> };
  assert.equal(report.version, 1);
  assert.equal(report.directory, dir);
  assert.equal(report.dryRun, false);
  assert.deepEqual(report.removed.map((e) => e.file), ['old']);
  assert.ok(report.removed[0]!.ageMs >= 2 * 3600_000 - 60_000);
  for (const entry of [...report.removed, ...report.skipped]) assert.ok(Number.isInteger(entry.ageMs), `integer ms: ${entry.ageMs}`);
  assert.deepEqual(
    report.skipped.map((e) => [e.file, e.reason.replace(/\d+/, 'N')]),
    [
      ['crashed', 'modified N s ago, newer than olderThan'],
      ['held', 'modified N s ago, newer than olderThan'],
    ],
  );
  assert.deepEqual(lockFiles(dir), ['crashed', 'held']);
});

test('clean while `deadbolt run` loops use the directory: counters stay exact, every clean succeeds', async () => {
  const dir = tmp.next();
  const work = tmp.next();
  mkdirSync(work);
  for (const name of ['a', 'b']) writeFileSync(join(work, name), '0');
  const increment = (name: string) => `n=$(cat ${work}/${name}); echo $((n+1)) > ${work}/${name}`;
  const loop = async (name: string) => {
    for (let i = 0; i < 8; i++) {
      const r = await cli(['run', '--lock-path', dir, name, '--', 'sh', '-c', increment(name)]);
      assert.equal(r.code, 0, r.stderr);
    }
  };
  let running = true;
  const cleans: string[][] = [];
  const cleaner = (async () => {
    while (running) {
      const r = await cli(['clean', '--lock-path', dir, '--json']);
      if (r.code === 66) continue; // before the first run created the directory
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as { skipped: Array<{ reason: string }> };
      cleans.push(report.skipped.map((e) => e.reason));
    }
  })();
  await Promise.all([loop('a'), loop('a'), loop('b'), loop('b')]);
  running = false;
  await cleaner;
  assert.ok(cleans.length >= 2, `clean ran ${cleans.length} times`);
  for (const reasons of cleans) for (const reason of reasons) assert.match(reason, /^held (exclusive|shared)$/);
  assert.equal(readFileSync(join(work, 'a'), 'utf8').trim(), '16');
  assert.equal(readFileSync(join(work, 'b'), 'utf8').trim(), '16');
  assert.deepEqual(lockFiles(dir), []);
  assert.ok(existsSync(join(dir, '.deadbolt-tokens')), 'bookkeeping files are never cleaned');
});
