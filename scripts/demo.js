#!/usr/bin/env node
// The main job, through the `deadbolt` CLI, on a lock directory (no server):
//
//  1. four shell loops increment one counter file, 10 times each, with a gap
//     between read and write: first without a lock (updates get lost), then
//     each increment under `deadbolt run` (exactly 40, fencing tokens 1..40);
//  2. a job holds a lock and another job crashes (SIGKILL) holding one:
//     `deadbolt ls` shows the holder and the leftover file;
//  3. `deadbolt clean` removes the leftover and skips the held file;
//  4. `deadbolt break` stops the holder, with an audit record `ls` shows.
//
//   npm run demo [-- --lock-path DIR]
//
// Exits 0 when every step did what it should (the count is exact, the crash
// left one file, clean removed it, break freed the lock).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const LOOPS = 4;
const TIMES = 10;
const INCREMENT = 'n=$(cat counter); sleep 0.01; echo $((n+1)) > counter';

const { values } = parseArgs({ options: { 'lock-path': { type: 'string' } } });
const work = mkdtempSync(join(tmpdir(), 'deadbolt-demo-'));
const lockPath = values['lock-path'] ?? './locks';
const problems = [];
const bold = (s) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[22m` : s);

/** Run a command in the work directory; resolves with its exit code. `show` prints it first, like a shell transcript. */
function sh(command, args, { show = false, stdio = 'ignore' } = {}) {
  if (show) console.log(`\n${bold(`$ ${command === process.execPath ? 'deadbolt' : command} ${args.slice(command === process.execPath ? 1 : 0).map(quote).join(' ')}`)}`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: work, stdio });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? signal));
  });
}
const deadbolt = (args, options) => sh(process.execPath, [CLI, ...args], options);
const quote = (a) => (/^[\w./=:@-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);

/** Start `deadbolt run NAME -- sh -c 'echo started; exec sleep 60'` and resolve once the command runs. */
function startHolder(name, options = {}) {
  const child = spawn(process.execPath, [CLI, 'run', '--lock-path', lockPath, name, '--', 'sh', '-c', 'echo started; exec sleep 60'], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'inherit'],
    ...options,
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const started = new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    exited.then((status) => reject(new Error(`holder of ${name} exited (${status}) before starting`)));
  });
  return { child, exited, started };
}

async function counterRace(locked) {
  writeFileSync(join(work, 'counter'), '0');
  writeFileSync(join(work, 'tokens'), '');
  const script = locked ? `${INCREMENT}; echo $DEADBOLT_TOKEN >> tokens` : INCREMENT;
  const loop = async () => {
    for (let i = 0; i < TIMES; i++) {
      const status = locked ? await deadbolt(['run', '--lock-path', lockPath, 'counter', '--', 'sh', '-c', script]) : await sh('sh', ['-c', script]);
      if (status !== 0) problems.push(`an increment exited with ${status}`);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: LOOPS }, loop));
  return { count: Number(readFileSync(join(work, 'counter'), 'utf8')), ms: performance.now() - started };
}

try {
  console.log(`work directory: ${work} (lock directory ${lockPath})`);
  console.log(`\n${bold(`1. ${LOOPS} loops x ${TIMES} increments of one counter file:`)} ${INCREMENT}`);
  const unlocked = await counterRace(false);
  console.log(`   without a lock:     counter = ${unlocked.count} of ${LOOPS * TIMES} (${LOOPS * TIMES - unlocked.count} updates lost)`);
  const locked = await counterRace(true);
  const tokens = readFileSync(join(work, 'tokens'), 'utf8').trim().split('\n').map(Number);
  const increasing = tokens.every((t, i) => i === 0 || t > tokens[i - 1]);
  console.log(`   with deadbolt run:  counter = ${locked.count} of ${LOOPS * TIMES} in ${(locked.ms / 1000).toFixed(1)} s, each increment as`);
  console.log(`     deadbolt run --lock-path ${lockPath} counter -- sh -c '${INCREMENT}'`);
  console.log(`   fencing tokens seen by the commands ($DEADBOLT_TOKEN): ${tokens[0]} … ${tokens.at(-1)}, ${increasing ? 'strictly increasing' : 'NOT increasing'}`);
  if (locked.count !== LOOPS * TIMES) problems.push(`locked counter is ${locked.count}, expected ${LOOPS * TIMES}`);
  if (!increasing || tokens.length !== LOOPS * TIMES) problems.push('tokens are not one strictly increasing token per increment');

  console.log(`\n${bold('2. a job holds "nightly-report"; a job holding "import-job" crashes (SIGKILL):')}`);
  const holder = startHolder('nightly-report');
  await holder.started;
  // Its own process group, so the crash takes the job's command down with it.
  const crash = startHolder('import-job', { detached: true });
  await crash.started;
  process.kill(-crash.child.pid, 'SIGKILL');
  await crash.exited;
  if ((await deadbolt(['ls', '--lock-path', lockPath], { show: true, stdio: 'inherit' })) !== 0) problems.push('ls failed');

  console.log(`\n${bold('3. clean removes the leftover, never a held file:')}`);
  if ((await deadbolt(['clean', '--lock-path', lockPath], { show: true, stdio: 'inherit' })) !== 0) problems.push('clean failed');

  console.log(`\n${bold('4. break stops the holder (SIGTERM, then SIGKILL after --grace), with an audit record:')}`);
  const broke = await deadbolt(['break', '--lock-path', lockPath, 'nightly-report', '--yes', '--grace', '3s', '--reason', 'demo: stuck job'], { show: true, stdio: 'inherit' });
  if (broke !== 0) problems.push(`break exited with ${broke}`);
  await holder.exited;
  await deadbolt(['ls', '--lock-path', lockPath], { show: true, stdio: 'inherit' });
} catch (err) {
  problems.push(err.message);
} finally {
  if (values['lock-path'] === undefined || !values['lock-path'].startsWith('/')) rmSync(work, { recursive: true, force: true });
}
console.log(problems.length === 0 ? '\ndemo OK' : `\ndemo FAILED:\n  ${problems.join('\n  ')}`);
process.exit(problems.length === 0 ? 0 : 1);
