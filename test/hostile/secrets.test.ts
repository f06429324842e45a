/**
 * Hostile user, part 6: secrets (issue 11, attacks 10 and 11).
 *
 * 10: holder records (and the audit log a break writes, and a crash's
 *     leftovers) carry the program, never its arguments (`--password=hunter2`),
 *     unless the holder asks for them (`recordArgs`, `run --record-args`); and
 *     no other user can read them.
 * 11: a password in a backend URL, whatever characters it holds (raw / # ? @ :),
 *     never appears in a connect() error, its cause chain, a diagnostics
 *     message, or the CLI's output; a malformed --backend is never echoed whole.
 *     (These need no second account and run everywhere.)
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  cliHolder,
  closedPort,
  deadbolt,
  hostileFixture,
  killAll,
  makeLockDirectory,
  openableByNobody,
  runBounded,
  sandbox,
  secondAccount,
  startProcess,
} from './helpers.js';
import { EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

const skip = secondAccount('hostile-user suite (secrets in holder records)');
const box = sandbox('secrets');
after(() => {
  killAll();
  box.remove();
});
const T = { timeout: HANG_GUARD_MS, skip };
const SECRET = 'hunter2';

/** Every file under `dir`, its text and mode. */
function files(dir: string): Array<{ path: string; text: string; mode: number }> {
  const out: Array<{ path: string; text: string; mode: number }> = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const s = lstatSync(path);
    if (s.isDirectory()) out.push(...files(path));
    else if (s.isFile()) out.push({ path, text: readFileSync(path, 'latin1'), mode: s.mode });
  }
  return out;
}

test('10: `deadbolt run` records the program, not its arguments: not in the lock file, ls, show, or the audit log after a break; none readable by others', T, async () => {
  const dir = await makeLockDirectory(join(box.path, 'cli'), 0o1777);
  const holder = await cliHolder(dir, 'job', { commandArgs: [`--password=${SECRET}`] });
  const lockFile = join(dir, 'job');
  assert.doesNotMatch(readFileSync(lockFile, 'latin1'), new RegExp(SECRET), 'the lock file keeps the password');
  for (const args of [['ls'], ['ls', '--json'], ['show', 'job'], ['show', 'job', '--json']]) {
    const r = await deadbolt([args[0]!, '--lock-path', dir, ...args.slice(1)]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(SECRET) && !r.stderr.includes(SECRET), `${args.join(' ')} shows the password`);
  }
  const shown = JSON.parse((await deadbolt(['show', '--lock-path', dir, 'job', '--json'])).stdout) as { lock: { holder: { command: string } } };
  assert.match(shown.lock.holder.command, /\bsh\b/, 'the program is still recorded');
  assert.equal(lstatSync(lockFile).mode & 0o077, 0, 'the record file is 0600');
  assert.deepEqual(await openableByNobody([lockFile]), []);

  const broken = await deadbolt(['break', '--lock-path', dir, 'job', '--yes', '--grace', '2s']);
  assert.equal(broken.code, 0, broken.stderr);
  await holder.worker.exited;
  const audit = join(dir, '.deadbolt-audit.log');
  assert.doesNotMatch(readFileSync(audit, 'utf8'), new RegExp(SECRET), 'the audit log keeps the password forever');
  assert.equal(lstatSync(audit).mode & 0o077, 0, 'the audit log is 0600');
  assert.deepEqual(await openableByNobody([audit]), []);
});

test('10: a SIGKILLed holder\'s leftover file holds no argument either', T, async () => {
  const dir = await makeLockDirectory(join(box.path, 'crash'), 0o1777);
  const holder = await cliHolder(dir, 'crash', { commandArgs: [`--password=${SECRET}`] });
  holder.worker.child.kill('SIGKILL'); // deadbolt dies holding the lock: its file is left behind
  process.kill(holder.commandPid, 'SIGKILL'); // (its command keeps the output pipes open)
  await holder.worker.exited;
  for (const f of files(dir)) {
    assert.ok(!f.text.includes(SECRET), `${f.path} keeps the password`);
    assert.equal(f.mode & 0o077, 0, `${f.path} is ${(f.mode & 0o777).toString(8)}`);
  }
});

test('10: the library records no arguments by default (exclusive record, shared record files); `recordArgs: true` records them', T, async () => {
  const dir = await makeLockDirectory(join(box.path, 'lib'), 0o1777);
  const start = async (name: string, ...flags: string[]) => {
    const w = startProcess([process.execPath, hostileFixture('holder'), dir, name, ...flags, `--password=${SECRET}`], 'root');
    const line = await w.line(/^(held|error)/);
    assert.match(line, /^held/, line);
    return w;
  };
  const ex = await start('ex');
  const sh = await start('sh', 'shared');
  const secretFiles = () => files(dir).filter((f) => f.text.includes(SECRET)).map((f) => f.path);
  assert.deepEqual(secretFiles(), [], 'a record keeps the arguments');
  for (const f of files(dir)) assert.equal(f.mode & 0o077, 0, `${f.path} is ${(f.mode & 0o777).toString(8)}`);
  const opt = await start('opt', 'record-args');
  assert.deepEqual(secretFiles(), [join(dir, 'opt')], 'recordArgs: true records the full command line (and only there)');
  for (const w of [ex, sh, opt]) {
    w.child.stdin!.end('release\n');
    await w.exited;
  }
});

test('10: `deadbolt run --record-args` records the full command line', T, async () => {
  const dir = await makeLockDirectory(join(box.path, 'cli-args'), 0o755);
  await cliHolder(dir, 'job', { args: ['--record-args'], commandArgs: [`--password=${SECRET}`] });
  assert.match(readFileSync(join(dir, 'job'), 'latin1'), new RegExp(SECRET));
});

// ---------------------------------------------------------------- 11: URLs

const PASSWORDS = ['hunter2/S3CRET', 'hunter2#S3CRET', 'hunter2?S3CRET', 'hunter2@S3CRET', 'hunter2:S3CRET', 'hu/n#t?e@r2S3CRET', 'hunter2%2FS3CRET'];
const leaks = (text: string) => ['hunter2', 'S3CRET', 'hu/n#t'].filter((s) => text.includes(s));

/** connect(url) in its own process (killed after 12 s): how it failed. */
async function probe(url: string, options: object): Promise<{ ok?: boolean; code?: string; message?: string; inspected?: string; published?: string[]; ms?: number; timedOut: boolean; raw: string }> {
  const r = await runBounded([process.execPath, hostileFixture('connect-probe'), url, JSON.stringify(options)], { timeoutMs: EVENT_BOUND_MS });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return { ...(JSON.parse(line) as object), timedOut: r.timedOut, raw: r.stdout + r.stderr };
  } catch {
    return { timedOut: r.timedOut, raw: r.stdout + r.stderr };
  }
}

for (const [scheme, path] of [['redis', '/0'], ['postgres', '/db'], ['etcd', ''], ['zookeeper', '']] as const) {
  test(`11: ${scheme}:// URL passwords with raw / # ? @ : never reach connect()'s error, its causes or diagnostics`, { timeout: HANG_GUARD_MS }, async () => {
    const port = await closedPort();
    const urls = PASSWORDS.map((pw) => `${scheme}://alice:${pw}@127.0.0.1:${port}${path}`);
    if (scheme === 'etcd') urls.push(`etcd://alice:hunter2/S3CRET@127.0.0.1:${port},127.0.0.1:${port}`);
    const results = await Promise.all(urls.map((url) => probe(url, { connectTimeout: 2000 })));
    for (const [i, r] of results.entries()) {
      const seen = `${r.message ?? ''}\n${r.inspected ?? ''}\n${(r.published ?? []).join('\n')}\n${r.raw}`;
      assert.deepEqual(leaks(seen), [], `${urls[i]} → ${r.code}: ${r.message}\n${r.inspected}`);
      assert.equal(r.ok, false, `${urls[i]} must fail: ${r.raw}`);
    }
  });
}

test('11: the CLI never echoes a malformed --backend / DEADBOLT_BACKEND, nor a password in one', { timeout: HANG_GUARD_MS }, async () => {
  const port = await closedPort();
  const values = [
    ...PASSWORDS.map((pw) => `redis://alice:${pw}@127.0.0.1:${port}/0`),
    `etcd://alice:hunter2/S3CRET@127.0.0.1:${port}`,
    `postgres://alice:hunter2#S3CRET@127.0.0.1:${port}/db`,
    'hunter2S3CRET is not a url',
    'file//hunter2S3CRET',
    '://alice:hunter2S3CRET@',
  ];
  const runs = await Promise.all(
    values.flatMap((value) => [
      deadbolt(['ls', '--backend', value], { timeoutMs: EVENT_BOUND_MS }).then((r) => ({ r, how: `--backend ${value}` })),
      deadbolt(['ls'], { env: { DEADBOLT_BACKEND: value }, timeoutMs: EVENT_BOUND_MS }).then((r) => ({ r, how: `DEADBOLT_BACKEND=${value}` })),
    ]),
  );
  for (const { r, how } of runs) {
    const out = r.stdout + r.stderr;
    assert.equal(r.timedOut, false, how);
    assert.notEqual(r.code, 0, how);
    assert.deepEqual(leaks(out), [], `${how}:\n${out}`);
  }
});
