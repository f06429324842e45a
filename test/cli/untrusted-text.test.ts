/**
 * Untrusted text end to end: a lock directory with a forged holder record, a
 * real holder whose command line carries escapes, a file whose name does, and
 * a forged audit line. No terminal control character reaches stdout or stderr
 * of ls, show, break, run or clean; every table row stays one line; `--json`
 * keeps every value exact.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { escapeText } from '../../src/cli/escape.js';
import { encodeRecord } from '../../src/file/holder-record.js';
import { LockDirectory } from '../../src/file/lock-directory.js';
import type { FileLockGuard } from '../../src/file/file-guard.js';
import { cli, killHolders, startFixture, tempDir, type Result } from './helpers.js';

const tmp = tempDir('untrusted');
const dir = tmp.next();
let forged: FileLockGuard;

/** What must never reach a terminal raw; newlines are checked by counting lines instead. */
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]|\p{Cs}/u;

/** The forged record of lock file `forged` (held by this test process), field by field. */
const RECORD = {
  name: 'forged\x1b[2J\x1b[H',
  host: 'evil\rhost\u202e',
  command: 'node /srv/x.js\n  jobs  exclusive  1  node fake.js\x1b]0;pwned\x07',
  id: 'id\x9b31m',
};
/** A real holder's own command line (it is proven by the kernel): its last argument carries escapes. */
const EVIL_ARG = '\x1b[31mred\x1b[0m\r\x1b[2K\u2066spoof';
/** A file planted in the directory, named to forge rows, with a record of a gone process. */
const PLANTED = 'planted\x1b[2J\nfake-row\u202e';
const AUDIT = {
  version: 1,
  event: 'break',
  at: '2025-03-01T12:00:03.120Z',
  lock: { name: 'forged', file: 'forged' },
  by: { user: 'root\n  2025-01-01 00:00:00Z  other  pid 1', uid: 0, host: 'ops\x1b[1A', pid: 1 },
  reason: 'stuck\x9b2J\u2028next',
  displaced: { pid: 4242, host: 'h', command: 'node /x.js\x1b]0;title\x07', id: 'i', mode: 'exclusive', token: '7\x1b[1A', since: 's' },
  signals: ['SIGTERM\r'],
  outcome: 'freed\x1b[K',
};

before(async () => {
  mkdirSync(dir);
  forged = await new LockDirectory(dir).acquire('forged');
  const fd = openSync(forged.path, 'r+');
  writeSync(fd, encodeRecord({ mode: 'exclusive', token: forged.token, pid: process.pid, since: new Date(), ...RECORD }), 0);
  closeSync(fd);
  await startFixture(['hold', dir, 'evil', 'exclusive', JSON.stringify({ command: '$self' }), EVIL_ARG]);
  writeFileSync(join(dir, PLANTED), encodeRecord({ ...RECORD, name: 'planted', mode: 'exclusive', token: 9n, pid: 999_999_999, since: new Date() }));
  writeFileSync(join(dir, '.deadbolt-audit.log'), `${JSON.stringify(AUDIT)}\n`);
});
after(async () => {
  await forged.release();
  killHolders();
  tmp.remove();
});

/** Nothing raw on either stream. */
function assertClean(r: Result, what: string): void {
  assert.doesNotMatch(r.stdout, UNSAFE, `${what}: stdout`);
  assert.doesNotMatch(r.stderr, UNSAFE, `${what}: stderr`);
}

test('ls: one line per lock file and per break, every field escaped', async () => {
  const r = await cli(['ls', '--lock-path', dir]);
  assert.equal(r.code, 0, r.stderr);
  assertClean(r, 'ls');
  const [tableText, summary, breaks] = r.stdout.split('\n\n');
  const rows = tableText!.split('\n');
  assert.equal(rows.length, 4, `a header and three rows:\n${tableText}`);
  assert.ok(rows.some((l) => l.startsWith(escapeText(RECORD.name).slice(0, 20))), tableText);
  assert.ok(rows.some((l) => l.startsWith(escapeText('planted\x1b[2J\nfake-row'))), tableText);
  assert.ok(rows.some((l) => l.includes(escapeText(EVIL_ARG).slice(0, 10)) || l.includes('lock-holder.js hold')), tableText);
  assert.match(summary!, /^3 lock files in /);
  const breakLines = breaks!.trimEnd().split('\n');
  assert.equal(breakLines.length, 2, `the heading and one break:\n${breaks}`);
  assert.ok(breakLines[1]!.includes(escapeText(AUDIT.by.user)), breakLines[1]);
  assert.ok(breakLines[1]!.includes(escapeText(JSON.stringify(AUDIT.reason))), breakLines[1]);
});

test('ls --json and show --json keep every value exact', async () => {
  const ls = JSON.parse((await cli(['ls', '--lock-path', dir, '--json'])).stdout) as {
    locks: Array<{ file: string; name: string; holder: { host: string; command: string; id: string } | null; lastHolder: { command: string } | null }>;
    breaks: unknown[];
  };
  const lock = ls.locks.find((l) => l.file === 'forged')!;
  assert.equal(lock.name, RECORD.name);
  assert.deepEqual([lock.holder!.host, lock.holder!.command, lock.holder!.id], [RECORD.host, RECORD.command, RECORD.id]);
  assert.equal(ls.locks.find((l) => l.file === PLANTED)!.lastHolder!.command, RECORD.command);
  assert.ok(ls.locks.find((l) => l.file === 'evil')!.holder!.command.endsWith(` ${EVIL_ARG}`));
  assert.deepEqual(ls.breaks, [AUDIT]);
  const show = JSON.parse((await cli(['show', '--lock-path', dir, 'forged', '--json'])).stdout) as { lock: { holder: { command: string } }; breaks: unknown[] };
  assert.equal(show.lock.holder.command, RECORD.command);
  assert.deepEqual(show.breaks, [AUDIT]);
});

test('show: every row one line, the record\'s fields and the audit line escaped', async () => {
  const r = await cli(['show', '--lock-path', dir, 'forged']);
  assert.equal(r.code, 0, r.stderr);
  assertClean(r, 'show');
  const lines = r.stdout.trimEnd().split('\n');
  const labels = lines.map((l) => l.split(/ {2,}/)[0]);
  assert.deepEqual(labels.slice(0, 11), ['lock', 'file', 'state', 'holder', 'command', 'mode', 'token', 'since', 'owner id', 'file age', 'breaks']);
  assert.equal(lines.length, 12, r.stdout);
  assert.equal(lines[4], `command   ${escapeText(RECORD.command)}`);
  assert.equal(lines[8], `owner id  ${escapeText(RECORD.id)}`);
  assert.ok(lines[3]!.includes(escapeText(RECORD.host)));
});

test('break: the refusal naming a forged host, and the description of a proven holder, are escaped', async () => {
  const refused = await cli(['break', '--lock-path', dir, 'forged', '--yes']);
  assert.equal(refused.code, 69, refused.stderr);
  assertClean(refused, 'break forged');
  assert.match(refused.stderr, new RegExp(`its holder is on host ${escapeText(RECORD.host).replaceAll('\\', '\\\\')};`));

  // A real holder, proven by the kernel, whose own command line carries escapes: described, then not confirmed.
  const described = await cli(['break', '--lock-path', dir, 'evil']);
  assert.equal(described.code, 64, described.stderr);
  assertClean(described, 'break evil');
  assert.ok(described.stderr.includes(`  command  `) && described.stderr.includes(escapeText(EVIL_ARG)), described.stderr);
  assert.equal(described.stderr.split('\n').filter((l) => l.startsWith('  command')).length, 1);
});

test('run: the busy and timeout messages name the holder escaped', async () => {
  const busy = await cli(['run', '--lock-path', dir, '--no-wait', 'forged', '--', 'true']);
  assert.equal(busy.code, 75, busy.stderr);
  assertClean(busy, 'run --no-wait');
  assert.equal(busy.stderr.trimEnd().split('\n').length, 1, busy.stderr);
  assert.ok(busy.stderr.includes(escapeText(RECORD.host)), busy.stderr);
  const timeout = await cli(['run', '--lock-path', dir, '--timeout', '100ms', 'evil', '--', 'true']);
  assert.equal(timeout.code, 124, timeout.stderr);
  assertClean(timeout, 'run --timeout');
  assert.equal(timeout.stderr.trimEnd().split('\n').length, 1, timeout.stderr);
});

test('clean: file names and reasons escaped, one line each', async () => {
  const r = await cli(['clean', '--lock-path', dir, '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assertClean(r, 'clean');
  assert.ok(r.stdout.includes(`  ${escapeText(PLANTED)}  unused for `), r.stdout);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 5, `removed: 1 entry, skipped: 2 entries\n${r.stdout}`);
});
