/**
 * Hostile user, part 5: untrusted text (issue 11, attack 9).
 *
 * File names, holder-record fields and audit-log fields are the attacker's
 * words. Whatever they hold, nothing printed for a human carries a raw C0/C1
 * control, DEL, a bidi control or U+2028/U+2029 (so nothing can rewrite the
 * screen), no table row is split into two (each planted file is on exactly one
 * line, no line starts with the forged text), and `--json` keeps the exact values.
 *
 * The directory is the group layout (2775, the attacker's group): the group
 * member's files are accepted there, so they are listed and shown, and the
 * escaping (not a refusal) is what is tested.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CLI,
  NOBODY,
  asNobody,
  attackerLock,
  deadbolt,
  forgedAuditLine,
  forgedRecord,
  killAll,
  makeLockDirectory,
  nobodySh,
  rawControl,
  runBounded,
  sandbox,
  secondAccount,
  victimProcess,
  type Outcome,
} from './helpers.js';
import { LockDirectory } from '../../src/index.js';
import { EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

const skip = secondAccount('hostile-user suite (untrusted text)');
const box = skip ? undefined : sandbox('text');
after(() => {
  killAll();
  box?.remove();
});
const T = { timeout: HANG_GUARD_MS, skip };

/** File names the attacker creates; each starts with a tag so its row can be found. */
const PLANTED = [
  'T01esc\x1b[2J\x1b[Hcleared',
  'T02cr\rFORGED-CR',
  'T03nl\nFORGED-NL  free  -  -',
  'T04bidi\u202etxt.exe',
  'T05c1\u0085\u009b2J',
  'T06del\x7fx',
  'T07tab\tx',
  'T08sep\u2028x\u2029y',
  'T09bell\x07\x08x',
  'T10pct%1B%5B2J', // decodes (deadbolt's file-name encoding) to an escape sequence
  'T11pct%0AFORGED-PCT',
  'T12osc\x1b]0;pwned\x07',
];
const COMMAND = 'evil\x1b]0;pwned\x07\r\nFORGED-REC  exclusive  1 \u202ehs.sys\x1b[2J';
const HOST = 'h\u0085\x1b[2Jost\nFORGED-HOST';

let ready: Promise<{ dir: string }> | undefined;

/** Build the directory once: planted names, two forged holders, a forged audit log. */
function setup(): Promise<{ dir: string }> {
  ready ??= (async () => {
    const dir = await makeLockDirectory(join(box!.path, 'text'), 0o2775, { gid: NOBODY.gid });
    await new LockDirectory(dir, { cleanup: 'never' }).run('plain', () => undefined);
    const write = `const fs=require('fs'),p=require('path');const [d,j]=process.argv.slice(1);for(const [n,c] of JSON.parse(j))fs.writeFileSync(p.join(d,n),c)`;
    const victim = victimProcess(); // a pid the forged records name: never the test runner itself
    const audit = [
      forgedAuditLine({ name: 'forged-cmd', command: 'c\x1b]0;x\x07\rFORGED-AUDIT', reason: 'r\u0085\u2028\x1b[2J', user: 'ev\x1bil\nFORGED-USER', host: 'h\rFORGED', signal: 'SIGTERM\x1b[2J' }),
      forgedAuditLine({ name: 'plain', command: 'x', reason: 'y\u202e', user: 'u', host: 'h\u009b', signal: 'SIGKILL' }),
    ].join('');
    await nobodySh(`rm -f '${dir}/.deadbolt-audit.log'`);
    const files = [...PLANTED.map((n) => [n, '']), ['.deadbolt-audit.log', audit]];
    const r = await asNobody([process.execPath, '-e', write, dir, JSON.stringify(files)]);
    assert.equal(r.code, 0, r.stderr);
    await attackerLock(join(dir, 'forged-cmd'), { create: true, content: forgedRecord({ name: 'forged-cmd', pid: victim.pid, command: COMMAND }) });
    await attackerLock(join(dir, 'forged-host'), {
      create: true,
      content: forgedRecord({ name: 'forged-host\x1b[31m\nFORGED-NAME', pid: victim.pid, command: 'sleep 60', host: HOST }),
    });
    return { dir };
  })();
  return ready;
}

/** The safety property for one command's human output. */
function assertEscaped(r: Outcome, what: string): void {
  assert.equal(r.timedOut, false, `${what} hung`);
  for (const [stream, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
    const raw = rawControl(text);
    assert.equal(raw, undefined, `${what}: a raw control character reached ${stream}: ${raw}`);
    const forged = text.split('\n').find((l) => /^\s*FORGED/.test(l));
    assert.equal(forged, undefined, `${what}: a forged line on ${stream}: ${JSON.stringify(forged)}`);
  }
}

test('9: ls: planted file names, record fields and audit fields are escaped; one line per lock', T, async () => {
  const { dir } = await setup();
  const r = await deadbolt(['ls', '--lock-path', dir]);
  assert.equal(r.code, 0, r.stderr);
  assertEscaped(r, 'ls');
  for (const name of PLANTED) {
    const tag = name.slice(0, 3);
    const lines = r.stdout.split('\n').filter((l) => l.includes(tag));
    assert.equal(lines.length, 1, `${JSON.stringify(name)} takes ${lines.length} lines: ${JSON.stringify(lines)}`);
  }
});

test('9: ls --json keeps every value exact', T, async () => {
  const { dir } = await setup();
  const r = await deadbolt(['ls', '--lock-path', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { locks: Array<{ file: string; holder: { command: string; host: string } | null }>; breaks: Array<{ reason: string; displaced: { command: string } }> };
  const files = new Set(out.locks.map((l) => l.file));
  for (const name of PLANTED) assert.ok(files.has(name), `${JSON.stringify(name)} listed exactly`);
  assert.equal(out.locks.find((l) => l.file === 'forged-cmd')?.holder?.command, COMMAND);
  assert.equal(out.locks.find((l) => l.file === 'forged-host')?.holder?.host, HOST);
  assert.ok(out.breaks.some((b) => b.reason === 'r\u0085\u2028\x1b[2J' && b.displaced.command === 'c\x1b]0;x\x07\rFORGED-AUDIT'));
});

test('9: show: the holder\'s fields and the breaks recorded for it are escaped', T, async () => {
  const { dir } = await setup();
  for (const name of ['forged-cmd', 'plain']) {
    const r = await deadbolt(['show', '--lock-path', dir, name]);
    assert.equal(r.code, 0, r.stderr);
    assertEscaped(r, `show ${name}`);
  }
});

test('9: clean (dry run and real): the names it reports are escaped', T, async () => {
  const { dir } = await setup();
  assertEscaped(await deadbolt(['clean', '--lock-path', dir, '--dry-run']), 'clean --dry-run');
  assertEscaped(await deadbolt(['clean', '--lock-path', dir, '--older-than', '1h']), 'clean --older-than 1h');
});

test('9: break: the holder shown before confirmation and every refusal are escaped; nothing is signalled', T, async () => {
  const { dir } = await setup();
  for (const name of ['forged-cmd', 'forged-host']) {
    assertEscaped(await deadbolt(['break', '--lock-path', dir, name]), `break ${name} (no --yes)`);
    assertEscaped(await deadbolt(['break', '--lock-path', dir, name, '--yes', '--grace', '100ms']), `break ${name} --yes`);
  }
});

test('9: run: the busy (--no-wait) and timeout messages describe the holder escaped', T, async () => {
  const { dir } = await setup();
  const busy = await deadbolt(['run', '--lock-path', dir, '--no-wait', 'forged-cmd', '--', 'true']);
  assert.equal(busy.code, 75, busy.stderr);
  assertEscaped(busy, 'run --no-wait');
  const timed = await deadbolt(['run', '--lock-path', dir, '--timeout', '200ms', 'forged-host', '--', 'true']);
  assert.equal(timed.code, 124, timed.stderr);
  assertEscaped(timed, 'run --timeout');
});

test('9: names with control characters are refused by every command (exit 64), and the error does not print them raw', T, async () => {
  const { dir } = await setup();
  for (const name of ['a\x1b[2Jb', 'a\nFORGED', 'a\rb', '\x7f', 'c1\u0085']) {
    for (const args of [['run', name, '--', 'true'], ['show', name], ['break', name, '--yes']]) {
      const r = await deadbolt([args[0]!, '--lock-path', dir, ...args.slice(1)]);
      assert.equal(r.code, 64, `${args[0]} ${JSON.stringify(name)}: ${r.stderr}`);
      assertEscaped(r, `${args[0]} ${JSON.stringify(name)}`);
    }
  }
  // A bidi control is a valid name character, but it is still printed escaped.
  assertEscaped(await deadbolt(['show', '--lock-path', dir, 'x\u202ey']), 'show with U+202E in the name');
});

test('9: run\'s waiting line on a terminal describes the holder escaped (its own \\r and erase-line aside)', { ...T, skip: skip || (existsSync('/usr/bin/script') ? false : 'script(1) (util-linux) is needed for a pseudo-terminal') }, async () => {
  const { dir } = await setup();
  // script(1) gives deadbolt a pseudo-terminal and copies everything written to it, raw.
  const command = `exec ${process.execPath} ${CLI} run --lock-path ${dir} --timeout 1500ms forged-cmd -- true`;
  const r = await runBounded(['script', '-qfec', command, '/dev/null'], { timeoutMs: EVENT_BOUND_MS, env: { ...process.env, NO_COLOR: '1', TERM: 'dumb' } });
  assert.equal(r.timedOut, false);
  assert.match(r.stdout, /waiting for forged-cmd/, 'the waiting line was shown');
  const own = r.stdout.replaceAll('\r\x1b[2K', '\n').replaceAll('\r\n', '\n');
  assertEscaped({ ...r, stdout: own, stderr: r.stderr }, 'the waiting line');
});
