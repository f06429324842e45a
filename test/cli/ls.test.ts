/**
 * `deadbolt ls` and `deadbolt show`: golden output (table and `--json`, with
 * pids, times, ids and the host replaced by placeholders), and a directory
 * shared with real oslo.concurrency processes.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI, cli, killHolders, normalize, startHolder, tempDir, type Holder } from './helpers.js';

const tmp = tempDir('ls');
after(() => {
  killHolders();
  tmp.remove();
});

/**
 * The directory of the golden tests: a break in the audit log, a held lock, a
 * leftover of a crash, an unused oslo-style file. `held` records its whole
 * command line (`--record-args`); the others the default short form.
 */
const dir = tmp.next();
let victim: Holder;
let held: Holder;
let crashed: Holder;

before(async () => {
  victim = await startHolder(dir, 'victim'); // token 1
  const broke = await cli(['break', '--lock-path', dir, 'victim', '--yes', '--reason', 'golden', '--grace', '5s']);
  assert.equal(broke.code, 0, broke.stderr);
  held = await startHolder(dir, 'held', { args: ['--record-args'] }); // token 2
  crashed = await startHolder(dir, 'crashed', { detached: true }); // token 3
  process.kill(-crashed.child.pid!, 'SIGKILL'); // deadbolt and its command, as a crash would
  await crashed.exited;
  writeFileSync(join(dir, 'nova-unused'), '');
});

/** Text output with run-dependent values replaced. */
function golden(text: string): string {
  let out = normalize(text, dir).replaceAll(`${userInfo().username}@`, '<user>@');
  for (const h of [victim, held, crashed]) out = out.replace(new RegExp(`\\b${h.child.pid}\\b`, 'g'), '<pid>');
  return out.replaceAll(CLI, '<cli>').replaceAll(process.execPath, '<node>');
}

/** Table rows as cells (columns are separated by two spaces or more). */
const cells = (text: string) => text.split('\n').map((line) => line.split(/ {2,}/));

test('ls: the golden table, summary and recent breaks', async () => {
  const r = await cli(['ls', '--lock-path', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const [tableText, ...rest] = r.stdout.split('\n\n');
  assert.deepEqual(cells(golden(tableText!)), [
    ['NAME', 'STATE', 'PID', 'COMMAND', 'HOST', 'HELD FOR', 'TOKEN', 'AGE'],
    ['crashed', 'leftover', '<pid>', 'deadbolt run crashed -- sh', '<host>', '-', '3', '<dur>'],
    ['held', 'exclusive', '<pid>', 'deadbolt run --record-args held -- sh -…', '<host>', '<dur>', '2', '<dur>'],
    ['nova-unused', 'free', '-', '-', '-', '-', '-', '<dur>'],
  ]);
  const widths = new Set(tableText!.split('\n').map((l) => l.length));
  assert.equal(widths.size, 1, 'columns are aligned (the last one is right-aligned)');
  assert.equal(
    golden(rest.join('\n\n')),
    [
      '3 lock files in <dir>: 1 held, 2 unused (1 left over by a process that is gone)',
      '`deadbolt clean` removes unused files safely, even while services run.',
      '',
      'Recent breaks (.deadbolt-audit.log):',
      '  <time>  victim  pid <pid> (deadbolt run victim -- sh) token 1, by <user>@<host>: "golden" (SIGTERM, freed)',
      '',
    ].join('\n'),
  );
});

/** JSON with run-dependent values replaced. */
function goldenJson(text: string): unknown {
  let json = text
    .replaceAll(dir, '<dir>')
    .replaceAll(CLI, '<cli>')
    .replaceAll(process.execPath, '<node>')
    .replaceAll(`"${hostname()}"`, '"<host>"')
    .replaceAll(`"user": "${userInfo().username}"`, '"user": "<user>"')
    .replace(/"(uid|heldMs|ageMs)": \d+/g, '"$1": "<n>"')
    .replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z"/g, '"<time>"')
    .replace(/"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"/g, '"<id>"');
  for (const h of [victim, held, crashed]) json = json.replaceAll(`"pid": ${h.child.pid},`, '"pid": "<pid>",');
  // What is left is the pid of the `deadbolt break` that wrote the audit record.
  return JSON.parse(json.replace(/"pid": \d+/g, '"pid": "<self>"'));
}

/** `held` records its whole command line (--record-args), the others `deadbolt run NAME -- sh`. */
const commandOf = (name: string) => (name === 'held' ? '<node> <cli> run --lock-path <dir> --record-args held -- sh -c echo held $$; exec sleep 60' : `deadbolt run ${name} -- sh`);

const holderJson = (name: string, token: string, process: string) => ({
  pid: '<pid>',
  host: '<host>',
  command: commandOf(name),
  id: '<id>',
  mode: 'exclusive',
  token,
  since: '<time>',
  heldMs: '<n>',
  process,
});

test('ls --json: the golden document (schema in docs/cli.md)', async () => {
  const r = await cli(['ls', '--lock-path', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(goldenJson(r.stdout), {
    version: 1,
    directory: '<dir>',
    locks: [
      {
        name: 'crashed',
        file: 'crashed',
        path: '<dir>/crashed',
        state: 'free',
        leftover: true,
        holder: null,
        holders: [],
        lastHolder: holderJson('crashed', '3', 'gone'),
        modifiedAt: '<time>',
        ageMs: '<n>',
      },
      {
        name: 'held',
        file: 'held',
        path: '<dir>/held',
        state: 'exclusive',
        leftover: false,
        holder: holderJson('held', '2', 'running'),
        holders: [holderJson('held', '2', 'running')],
        lastHolder: null,
        modifiedAt: '<time>',
        ageMs: '<n>',
      },
      { name: 'nova-unused', file: 'nova-unused', path: '<dir>/nova-unused', state: 'free', leftover: false, holder: null, holders: [], lastHolder: null, modifiedAt: '<time>', ageMs: '<n>' },
    ],
    summary: { files: 3, held: 1, unused: 2, leftover: 1 },
    breaks: [
      {
        version: 1,
        event: 'break',
        at: '<time>',
        lock: { name: 'victim', file: 'victim' },
        by: { user: '<user>', uid: '<n>', host: '<host>', pid: '<self>' },
        reason: 'golden',
        displaced: {
          pid: '<pid>',
          host: '<host>',
          command: 'deadbolt run victim -- sh',
          id: '<id>',
          mode: 'exclusive',
          token: '1',
          since: '<time>',
        },
        signals: ['SIGTERM'],
        outcome: 'freed',
      },
    ],
  });
});

test('show: a held lock, a leftover, a free name, in golden text', async () => {
  const h = await cli(['show', '--lock-path', dir, 'held']);
  assert.equal(h.code, 0, h.stderr);
  assert.equal(
    golden(h.stdout),
    [
      'lock      held',
      'file      <dir>/held',
      'state     exclusive, held for <dur>',
      'holder    pid <pid> on <host>: running',
      'command   <node> <cli> run --lock-path <dir> --record-args held -- sh -c echo held $$; exec sleep 60',
      'mode      exclusive',
      'token     2',
      'since     <time>',
      'owner id  <id>',
      'file age  <dur> (modified <time>)',
      'breaks    none recorded',
      '',
    ].join('\n'),
  );
  const c = await cli(['show', '--lock-path', dir, 'crashed']);
  assert.equal(
    golden(c.stdout),
    [
      'lock         crashed',
      'file         <dir>/crashed',
      'state        free — a leftover of a process that is gone (`deadbolt clean` removes it)',
      'last holder  pid <pid> on <host>: gone (no such process)',
      'command      deadbolt run crashed -- sh',
      'mode         exclusive',
      'token        3',
      'since        <time>',
      'owner id     <id>',
      'file age     <dur> (modified <time>)',
      'breaks       none recorded',
      '',
    ].join('\n'),
  );
  const v = await cli(['show', '--lock-path', dir, 'victim']);
  assert.equal(
    golden(v.stdout),
    [
      'lock    victim',
      'file    <dir>/victim',
      'state   free (no lock file)',
      'breaks',
      '  <time>  victim  pid <pid> (deadbolt run victim -- sh) token 1, by <user>@<host>: "golden" (SIGTERM, freed)',
      '',
    ].join('\n'),
  );
});

test('show --json: the golden document; a name without a file has lock null', async () => {
  const r = await cli(['show', '--lock-path', dir, 'held', '--json']);
  assert.deepEqual(goldenJson(r.stdout), {
    version: 1,
    directory: '<dir>',
    name: 'held',
    file: 'held',
    lock: {
      name: 'held',
      file: 'held',
      path: '<dir>/held',
      state: 'exclusive',
      leftover: false,
      holder: holderJson('held', '2', 'running'),
      holders: [holderJson('held', '2', 'running')],
      lastHolder: null,
      modifiedAt: '<time>',
      ageMs: '<n>',
    },
    breaks: [],
  });
  const none = await cli(['show', '--lock-path', dir, 'never-used', '--json']);
  assert.deepEqual(goldenJson(none.stdout), { version: 1, directory: '<dir>', name: 'never-used', file: 'never-used', lock: null, breaks: [] });
});

test('an empty directory: "no lock files"; --json has an empty list', async () => {
  const empty = tmp.next();
  await cli(['run', '--lock-path', empty, 'x', '--', 'true']);
  const r = await cli(['ls', '--lock-path', empty]);
  assert.equal(r.stdout, `no lock files in ${empty}\n`);
  const j = JSON.parse((await cli(['ls', '--lock-path', empty, '--json'])).stdout) as { locks: unknown[]; summary: unknown; breaks: unknown[] };
  assert.deepEqual([j.locks, j.summary, j.breaks], [[], { files: 0, held: 0, unused: 0, leftover: 0 }, []]);
});

const python = '/usr/bin/python3';
const osloAvailable = existsSync(python) && spawnSync(python, ['-c', 'import oslo_concurrency.lockutils']).status === 0;
const underCi = process.env.CI !== undefined && !['0', 'false'].includes(process.env.CI);
if (!osloAvailable && underCi) throw new Error("oslo interop tests cannot run under CI: Debian's python3-oslo.concurrency is not installed");

test('a directory shared with oslo.concurrency: ls, run --prefix, break and clean', { skip: osloAvailable ? false : 'python3-oslo.concurrency missing' }, async () => {
  const shared = tmp.next();
  // A real oslo external lock, held until our stdin closes.
  const oslo = spawn(
    python,
    ['-c', 'import sys\nfrom oslo_concurrency import lockutils\nwith lockutils.lock("job", external=True, lock_path=sys.argv[1], lock_file_prefix="nova"):\n  print("held", flush=True)\n  sys.stdin.read()', shared],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const osloExited = new Promise((resolve) => oslo.on('exit', resolve));
  await new Promise((resolve) => createInterface({ input: oslo.stdout! }).once('line', resolve));

  const ls = await cli(['ls', '--lock-path', shared, '--prefix', 'nova']);
  assert.deepEqual(cells(normalize(ls.stdout.split('\n\n')[0]!, shared)), [
    ['NAME', 'STATE', 'PID', 'COMMAND', 'HOST', 'HELD FOR', 'TOKEN', 'AGE'],
    ['job', 'exclusive', '?', '(no holder record)', '-', '-', '-', '<dur>'],
  ]);
  const busy = await cli(['run', '--lock-path', shared, '--prefix', 'nova', '--no-wait', 'job', '--', 'true']);
  assert.equal(busy.code, 75, 'deadbolt and oslo exclude each other');
  assert.match(busy.stderr, /held by a process that wrote no holder record \(oslo\.concurrency or another tool\)/);
  const broke = await cli(['break', '--lock-path', shared, '--prefix', 'nova', 'job', '--yes']);
  assert.equal(broke.code, 69);
  assert.match(broke.stderr, /refusing to break "job": its holder wrote no holder record/);
  assert.match(broke.stderr, new RegExp(`POSIX lock on this file by pid ${oslo.pid}`));
  const clean = await cli(['clean', '--lock-path', shared, '--prefix', 'nova', '--json']);
  assert.deepEqual((JSON.parse(clean.stdout) as { skipped: Array<{ file: string; reason: string }> }).skipped.map((e) => [e.file, e.reason]), [['nova-job', 'held exclusive']]);

  oslo.stdin!.end();
  await osloExited;
  assert.ok(existsSync(join(shared, 'nova-job')), 'oslo leaves its file behind');
  const kept = await cli(['run', '--lock-path', shared, '--prefix', 'nova', 'job', '--', 'true']);
  assert.equal(kept.code, 0);
  assert.ok(existsSync(join(shared, 'nova-job')), 'run --prefix keeps the file too (oslo interop)');
  const removed = await cli(['clean', '--lock-path', shared, '--prefix', 'nova']);
  assert.equal(removed.code, 0);
  assert.match(removed.stdout, /removed 1 unused lock file from .*:\n {2}nova-job {2}unused for \d+ m?s/);
  assert.equal(existsSync(join(shared, 'nova-job')), false);
});

test('a lock held shared by several: ls counts them, show and --json list each, a busy run names them', async () => {
  const shared = tmp.next();
  const a = await startHolder(shared, 'reads', { args: ['--shared'] });
  const b = await startHolder(shared, 'reads', { args: ['--shared'] });
  const ls = await cli(['ls', '--lock-path', shared]);
  assert.match(ls.stdout, new RegExp(`^reads {2}shared \\(2\\) +(${a.child.pid}|${b.child.pid}) {2}deadbolt run reads -- sh {2}`, 'm'));
  const json = JSON.parse((await cli(['ls', '--lock-path', shared, '--json'])).stdout) as { locks: Array<{ state: string; holders: Array<{ pid: number; mode: string }> }> };
  assert.equal(json.locks[0]!.state, 'shared');
  assert.deepEqual(json.locks[0]!.holders.map((h) => h.pid).sort(), [a.child.pid, b.child.pid].sort());
  assert.deepEqual(json.locks[0]!.holders.map((h) => h.mode), ['shared', 'shared']);
  const show = await cli(['show', '--lock-path', shared, 'reads']);
  assert.match(show.stdout, /^state +shared by 2 processes, held for /m);
  assert.match(show.stdout, /^holder 1 +pid \d+ on .*: running$/m);
  assert.match(show.stdout, /^holder 2 +pid \d+ on .*: running$/m);
  const busy = await cli(['run', '--lock-path', shared, '--no-wait', 'reads', '--', 'true']);
  assert.equal(busy.code, 75);
  assert.match(busy.stderr, /lock "reads" is held shared by pid \d+ \(deadbolt run reads -- sh\) for \d+ m?s and 1 more; not waiting/);
});
