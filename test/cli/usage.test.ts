/**
 * The CLI's command line: help, version, bad input and its exit codes, and
 * where the lock directory comes from. Plus the small pure helpers.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { LockDirectory } from '../../src/file/lock-directory.js';
import { join } from 'node:path';
import { parseDuration, formatDuration } from '../../src/cli/durations.js';
import { commandMatches } from '../../src/cli/holder-process.js';
import { displayCommand } from '../../src/cli/format.js';
import { table } from '../../src/cli/table.js';
import { useColor } from '../../src/cli/output.js';
import { canSwitchUser, cli, cliAsNobody, tempDir } from './helpers.js';

const tmp = tempDir('usage');
after(() => tmp.remove());

test('--version prints the package version; --help lists every command with examples', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const version = await cli(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), pkg.version);
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  for (const command of ['run', 'ls', 'show', 'clean', 'break']) assert.match(help.stdout, new RegExp(`^  ${command} `, 'm'));
  assert.match(help.stdout, /Examples:/);
});

test('every command has --help with an example, exit 0', async () => {
  for (const command of ['run', 'ls', 'show', 'clean', 'break']) {
    const r = await cli([command, '--help']);
    assert.equal(r.code, 0, `${command} --help: ${r.stderr}`);
    assert.match(r.stdout, /--lock-path <dir>/, command);
    assert.match(r.stdout, /Examples:\n {2}\$ deadbolt /, command);
  }
});

test('no command: help on stderr, exit 64', async () => {
  const r = await cli([]);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /Usage: deadbolt/);
});

test('an unknown command: "did you mean", usage, exit 64', async () => {
  const r = await cli(['lss']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /unknown command 'lss'/);
  assert.match(r.stderr, /Did you mean ls\?/);
  assert.match(r.stderr, /deadbolt --help/);
});

test('an unknown option: "did you mean", the command\'s usage, exit 64', async () => {
  const r = await cli(['ls', '--jsn', '--lock-path', tmp.path]);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /unknown option '--jsn'/);
  assert.match(r.stderr, /Did you mean --json\?/);
  assert.match(r.stderr, /Usage: deadbolt ls \[options\]/);
});

test('run without "--" before the command: a clear usage error, exit 64, nothing run', async () => {
  const marker = join(tmp.path, 'ran');
  const r = await cli(['run', '--lock-path', tmp.next(), 'jobs', 'touch', marker]);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /missing "--" before the command/);
  assert.match(r.stderr, /deadbolt run \[options\] NAME -- CMD/);
  assert.throws(() => readFileSync(marker));
});

test('run with nothing after "--", or two names: exit 64', async () => {
  const dir = tmp.next();
  const empty = await cli(['run', '--lock-path', dir, 'jobs', '--']);
  assert.equal(empty.code, 64);
  assert.match(empty.stderr, /no command after "--"/);
  const two = await cli(['run', '--lock-path', dir, 'a', 'b', '--', 'true']);
  assert.equal(two.code, 64);
  assert.match(two.stderr, /too many arguments/);
});

test('durations: bad ones are usage errors naming the accepted forms; good ones work', async () => {
  const dir = tmp.next();
  for (const bad of ['5x', '', '-1s', '10 s', 'soon', '30d']) {
    const r = await cli(['run', '--lock-path', dir, '--timeout', bad, 'jobs', '--', 'true']);
    assert.equal(r.code, 64, `--timeout ${JSON.stringify(bad)}: ${r.stderr}`);
    assert.match(r.stderr, /--timeout <duration>/);
  }
  const r = await cli(['clean', '--lock-path', tmp.path, '--older-than', 'soon']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /500ms, 10s, 5m, 1h/);
  for (const good of ['500ms', '10s', '5m', '1h', '250', '1h30m']) {
    const ok = await cli(['run', '--lock-path', dir, '--timeout', good, 'jobs', '--', 'true']);
    assert.equal(ok.code, 0, `--timeout ${good}: ${ok.stderr}`);
  }
});

test('--no-wait with --timeout, --lock-path with --backend: usage errors', async () => {
  const dir = tmp.next();
  const a = await cli(['run', '--lock-path', dir, '--no-wait', '--timeout', '1s', 'jobs', '--', 'true']);
  assert.equal(a.code, 64);
  assert.match(a.stderr, /--no-wait and --timeout/);
  const b = await cli(['ls', '--lock-path', dir, '--backend', `file://${dir}`]);
  assert.equal(b.code, 64);
  assert.match(b.stderr, /either --lock-path or --backend/);
});

test('no lock directory configured: exit 78 with the reason there is no default', async () => {
  const r = await cli(['ls']);
  assert.equal(r.code, 78);
  assert.match(r.stderr, /pass --lock-path DIR or set DEADBOLT_LOCK_PATH/);
  assert.match(r.stderr, /every process that shares these locks must use the same directory/i);
});

test('DEADBOLT_LOCK_PATH, --backend file:///DIR and DEADBOLT_BACKEND name the directory; clean refuses engines', async () => {
  const dir = tmp.next();
  new LockDirectory(dir).open().close(); // a lock directory (marked)
  writeFileSync(join(dir, 'marker'), '', { mode: 0o600 });
  for (const [args, env] of [
    [['ls'], { DEADBOLT_LOCK_PATH: dir }],
    [['ls', '--backend', `file://${dir}`], {}],
    [['ls'], { DEADBOLT_BACKEND: `file://${dir}` }],
    [['ls', '--lock-path', dir], { DEADBOLT_LOCK_PATH: '/nonexistent' }],
  ] as const) {
    const r = await cli([...args], { env: { ...env } });
    assert.equal(r.code, 0, `${args.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`);
    assert.match(r.stdout, /^marker +free/m);
  }
  const etcd = await cli(['clean', '--backend', 'etcd://127.0.0.1:2379']);
  assert.equal(etcd.code, 64);
  assert.match(etcd.stderr, /works on lock directories \(file:\/\/\/DIR\) only; got etcd:/);
  const envEtcd = await cli(['clean'], { env: { DEADBOLT_BACKEND: 'redis://127.0.0.1' } });
  assert.equal(envEtcd.code, 64);
  const remote = await cli(['ls', '--backend', 'file://otherhost/run/locks']);
  assert.equal(remote.code, 64);
  assert.match(remote.stderr, /names a directory on this host/);
});

test('a lock directory that does not exist: ls, show, clean and break say so (66); run creates it', async () => {
  const dir = join(tmp.next(), 'nested', 'locks');
  for (const args of [['ls'], ['show', 'jobs'], ['clean'], ['break', 'jobs', '--yes']]) {
    const r = await cli([...args, '--lock-path', dir]);
    assert.equal(r.code, 66, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`no lock directory at ${dir}`));
    assert.match(r.stderr, /`deadbolt run` and LockDirectory create it/);
  }
  const run = await cli(['run', '--lock-path', dir, 'jobs', '--', 'true']);
  assert.equal(run.code, 0, run.stderr);
  const ls = await cli(['ls', '--lock-path', dir]);
  assert.equal(ls.code, 0);
  assert.match(ls.stdout, /no lock files in /);
});

test('run on a lock directory it cannot create: exit 73 with the reason', async () => {
  const file = join(tmp.path, 'a-file');
  writeFileSync(file, '');
  const r = await cli(['run', '--lock-path', join(file, 'locks'), 'jobs', '--', 'true']);
  assert.equal(r.code, 73);
  assert.match(r.stderr, /is not a directory|cannot be created/);
});

test('a bad lock name is a usage error', async () => {
  const r = await cli(['show', '', '--lock-path', tmp.path]);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /name must be a string of 1 to 256 characters/);
});

test('clean on a directory it cannot write: exit 77, nothing removed', { skip: !canSwitchUser && process.getuid?.() === 0 ? 'needs setpriv as root' : false }, async () => {
  const dir = tmp.next();
  new LockDirectory(dir).open().close();
  chmodSync(dir, 0o755); // readable by others, writable only by its owner
  writeFileSync(join(dir, 'unused'), '', { mode: 0o600 });
  const r = canSwitchUser ? await cliAsNobody(['clean', '--lock-path', dir]) : await cli(['clean', '--lock-path', dir]);
  assert.equal(r.code, 77, r.stderr);
  assert.match(r.stderr, /could not be removed: permission denied|cannot read lock directory/);
  assert.equal(readFileSync(join(dir, 'unused'), 'utf8'), '');
});

test('parseDuration and formatDuration', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('250'), 250);
  assert.equal(parseDuration('2d'), 172_800_000);
  for (const bad of ['', 's', '5x', '1 h', '-5', '1h-5m', 'ms10']) assert.throws(() => parseDuration(bad), RangeError, bad);
  assert.throws(() => parseDuration('25d', 2_147_483_647), /too long: at most 24 d 20 h/);
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(12_400), '12 s');
  assert.equal(formatDuration(184_000), '3 min 4 s');
  assert.equal(formatDuration(7_500_000), '2 h 5 min');
  assert.equal(formatDuration(273_600_000), '3 d 4 h');
});

test('commandMatches: exact, Node flags and a relative script, truncated records; not another program', () => {
  assert.ok(commandMatches('sleep 60', ['sleep', '60'], '/'));
  assert.ok(commandMatches('node /srv/app/worker.js -q', ['node', '--max-old-space-size=512', 'worker.js', '-q'], '/srv/app'));
  assert.ok(commandMatches('node /srv/app/worker.js -q', ['node', './worker.js', '-q'], undefined));
  assert.ok(commandMatches(`node /a.js ${'x'.repeat(600)}`.slice(0, 509) + '...', ['node', '/a.js', 'x'.repeat(600)], '/'));
  assert.ok(!commandMatches('node /srv/app/worker.js -q', ['node', '/srv/app/other.js', '-q'], '/'));
  assert.ok(!commandMatches('sleep 60', ['sleep', '61'], '/'));
  assert.ok(!commandMatches('sleep 60', ['bash'], '/'));
});

test('commandMatches: the short form (program and script) and `deadbolt run NAME -- PROGRAM` against the whole argv', () => {
  // Program and script, whatever the arguments and Node's flags.
  assert.ok(commandMatches('node /srv/app/worker.js', ['node', '/srv/app/worker.js', '--password=x', '-q'], '/'));
  assert.ok(commandMatches('node /srv/app/worker.js', ['node', '--max-old-space-size=512', 'worker.js', '--password=x'], '/srv/app'));
  assert.ok(commandMatches('node /srv/app/worker.js', ['node', './worker.js', '-q'], undefined), 'another user\'s process: no cwd');
  assert.ok(commandMatches('/usr/bin/node', ['/usr/bin/node', '-e', 'code'], '/'), 'node -e records the program only');
  assert.ok(!commandMatches('node /srv/app/worker.js', ['node', '/srv/app/other.js'], '/'));
  assert.ok(!commandMatches('node /srv/app/worker.js', ['python3', '/srv/app/worker.js'], '/'));
  // deadbolt run, through its bin script or its main.js, options before or after the name.
  const run = (...rest: string[]) => ['/usr/bin/node', '/usr/lib/node_modules/deadbolt/dist/cli/main.js', 'run', ...rest];
  assert.ok(commandMatches('deadbolt run nightly -- ./report.sh', run('--lock-path', '/run/l', 'nightly', '--', './report.sh', '--full'), '/'));
  assert.ok(commandMatches('deadbolt run nightly -- ./report.sh', run('nightly', '--shared', '--timeout', '5s', '--', './report.sh'), '/'));
  assert.ok(commandMatches('deadbolt run my job -- sh', run('my job', '--', 'sh', '-c', 'x'), '/'), 'a name with a space');
  assert.ok(commandMatches('deadbolt run nightly -- ./report.sh', ['node', '/usr/local/bin/deadbolt', 'run', 'nightly', '--', './report.sh'], '/'));
  assert.ok(!commandMatches('deadbolt run nightly -- ./report.sh', run('other', '--', './report.sh'), '/'), 'another name');
  assert.ok(!commandMatches('deadbolt run nightly -- ./report.sh', run('nightly', '--', './other.sh'), '/'), 'another program');
  assert.ok(!commandMatches('deadbolt run nightly -- ./report.sh', ['node', '/srv/app.js', 'run', 'nightly', '--', './report.sh'], '/'), 'not deadbolt');
  assert.ok(!commandMatches('deadbolt run nightly -- ./report.sh', run('ls', 'nightly'), '/'), 'no command');
  // Whole command lines, as before: a --record-args record of deadbolt run.
  assert.ok(commandMatches('/usr/bin/node /x/dist/cli/main.js run --record-args nightly -- ./report.sh --full', ['/usr/bin/node', '/x/dist/cli/main.js', 'run', '--record-args', 'nightly', '--', './report.sh', '--full'], '/'));
});

test('displayCommand shortens deadbolt\'s own command lines; table aligns without trailing spaces', () => {
  assert.equal(displayCommand('/usr/bin/node /x/dist/cli/main.js run --lock-path /run/l --shared jobs -- ./a.sh --lock-path y', 80), 'deadbolt run --shared jobs -- ./a.sh --lock-path y');
  assert.equal(displayCommand('/usr/bin/python3 -m nova', 80), 'python3 -m nova');
  assert.equal(displayCommand('node /srv/worker.js --queue=emails', 12), 'worker.js -…');
  assert.equal(table([{ header: 'A' }, { header: 'N', align: 'right' }, { header: 'C' }], [['xx', '7', 'c'], ['y', '123', '']]), 'A     N  C\nxx    7  c\ny   123');
});

test('colour only on a terminal and never with NO_COLOR or TERM=dumb', () => {
  assert.equal(useColor({ isTTY: true }, {}), true);
  assert.equal(useColor({ isTTY: false }, {}), false);
  assert.equal(useColor({}, { FORCE_COLOR: '1' }), false);
  assert.equal(useColor({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(useColor({ isTTY: true }, { NO_COLOR: '' }), true);
  assert.equal(useColor({ isTTY: true }, { TERM: 'dumb' }), false);
});
