/**
 * Crash safety: 6 worker processes take and release a few named locks (two
 * exclusive-only, one shared or exclusive) on one lock directory, in loops,
 * while the test SIGKILLs random ones at random moments (a seeded PRNG: set
 * DEADBOLT_CRASH_SEED to replay a run) and starts replacements, with clean()
 * running now and then. Afterwards:
 *
 * - tokens never regress: every token handed out is unique in the directory,
 *   each worker slot saw its tokens strictly increase (across incarnations),
 *   and per name the tokens are in the order of the grants (the counter values);
 * - exclusion held: among the completed increments of a name's counter (a
 *   non-atomic read-then-write under the lock), no value was written twice,
 *   and no shared holder saw the counter change under it;
 * - no name is wedged: each can be taken, exclusive and shared, at once;
 * - the token counter is intact: 20 digits and a newline, at least the
 *   highest token seen;
 * - clean() is consistent: it skips exactly the locks held, removes every
 *   other (leftover) file and stale shared record, and leaves only
 *   deadbolt's bookkeeping files behind.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { LockDirectory } from '../../src/index.js';
import { fixture, spawnWorker, tempDir, type Worker } from './helpers.js';
import { HANG_GUARD_MS } from '../harness/bounds.js';

const tmp = tempDir('crash');
const running = new Set<Worker>();
after(() => {
  for (const w of running) w.child.kill('SIGKILL');
  tmp.remove();
});

const WORKERS = 6;
const KILLS = 40;
const NAMES = ['ex-a', 'ex-b', 'rw'];
const SEED = Number(process.env.DEADBOLT_CRASH_SEED ?? 0x5eed_2025);

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Log {
  grants: Array<{ slot: number; name: string; mode: string; token: bigint }>;
  increments: Array<{ name: string; token: bigint; value: number }>;
  reads: Array<{ name: string; token: bigint; v1: number; v2: number }>;
  timeouts: number;
  starts: number;
}

/** Parse every slot's log; a torn last line (a kill in the middle of nothing: writes are whole) would be skipped. */
function readLogs(data: string): Log {
  const log: Log = { grants: [], increments: [], reads: [], timeouts: 0, starts: 0 };
  for (let slot = 0; slot < WORKERS; slot++) {
    const path = join(data, `log-${slot}`);
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f[0] === 'G' && f.length === 4) log.grants.push({ slot, name: f[1]!, mode: f[2]!, token: BigInt(f[3]!) });
      else if (f[0] === 'I' && f.length === 4) log.increments.push({ name: f[1]!, token: BigInt(f[2]!), value: Number(f[3]) });
      else if (f[0] === 'R' && f.length === 5) log.reads.push({ name: f[1]!, token: BigInt(f[2]!), v1: Number(f[3]), v2: Number(f[4]) });
      else if (f[0] === 'T') log.timeouts++;
      else if (f[0] === 'S') log.starts++;
    }
  }
  return log;
}

test(`${WORKERS} processes, ${KILLS} random SIGKILLs during acquire/release: no token regression, no lost update, no wedged name, counter intact, clean() consistent`, { timeout: HANG_GUARD_MS }, async (t) => {
  const dir = join(tmp.path, 'locks');
  const data = join(tmp.path, 'data');
  mkdirSync(data);
  for (const name of NAMES) writeFileSync(join(data, `counter-${name}`), `${'0'.repeat(20)}\n`);
  // Created once up front: what is tested here is crashes, not six processes creating one directory
  // at once (test/hostile/names.test.ts covers that).
  new LockDirectory(dir).open();
  t.diagnostic(`seed ${SEED} (DEADBOLT_CRASH_SEED to replay)`);
  const random = prng(SEED);
  const unexpected: string[] = [];
  const incarnations = new Array<number>(WORKERS).fill(0);

  const start = (slot: number): Worker => {
    const inc = incarnations[slot]!++;
    const w = spawnWorker(fixture('crash-worker'), [dir, data, String(slot), String(SEED + slot * 7919 + inc * 104_729), String(inc)]);
    running.add(w);
    void w.exited.then((how) => {
      running.delete(w);
      if (how !== 'SIGKILL') unexpected.push(`worker ${slot}/${inc} exited with ${how}: ${w.stderr()}`);
    });
    return w;
  };
  const workers = Array.from({ length: WORKERS }, (_, slot) => start(slot));
  // A worker is a candidate for a kill once it takes locks (killing Node while it starts proves nothing).
  const ready = (w: Worker) => w.line(/^ready/).then(() => true, () => false);
  await Promise.all(workers.map(ready));

  const cleaner = new LockDirectory(dir);
  let cleaned = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    await new Promise((r) => setTimeout(r, 5 + Math.floor(random() * 60)));
    const slot = Math.floor(random() * WORKERS);
    await ready(workers[slot]!);
    await new Promise((r) => setTimeout(r, Math.floor(random() * 30))); // a random moment of its loop
    const victim = workers[slot]!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    workers[slot] = start(slot);
    if (kill % 7 === 6 && existsSync(dir)) cleaned += (await cleaner.clean()).removed.length;
    assert.deepEqual(unexpected, []);
  }
  // A last stretch without kills, then every worker dies the same way.
  await new Promise((r) => setTimeout(r, 100));
  for (const w of workers) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  assert.deepEqual(unexpected, [], 'a worker failed on its own');

  const log = readLogs(data);
  t.diagnostic(`${log.starts} incarnations, ${log.grants.length} grants, ${log.increments.length} increments, ${log.reads.length} shared reads, ${log.timeouts} timeouts, clean() removed ${cleaned} files meanwhile`);
  assert.ok(log.grants.length >= 100, `only ${log.grants.length} grants: the run proves little`);
  assert.ok(log.grants.some((g) => g.mode === 'shared'), 'some grants were shared');

  // Tokens: unique in the directory; per slot strictly increasing (a replacement starts after its predecessor died).
  const tokens = log.grants.map((g) => g.token);
  assert.equal(new Set(tokens).size, tokens.length, 'a token was handed out twice');
  for (let slot = 0; slot < WORKERS; slot++) {
    const mine = log.grants.filter((g) => g.slot === slot).map((g) => g.token);
    for (let i = 1; i < mine.length; i++) assert.ok(mine[i]! > mine[i - 1]!, `slot ${slot}: token ${mine[i]} after ${mine[i - 1]}`);
  }
  // Exclusion, and tokens in grant order per name: sorted by token, each name's completed increments wrote strictly increasing values.
  for (const name of NAMES) {
    const incs = log.increments.filter((i) => i.name === name).sort((a, b) => (a.token < b.token ? -1 : 1));
    for (let i = 1; i < incs.length; i++) {
      assert.ok(incs[i]!.value > incs[i - 1]!.value, `${name}: token ${incs[i]!.token} wrote ${incs[i]!.value} after token ${incs[i - 1]!.token} wrote ${incs[i - 1]!.value} (lost update or token out of grant order)`);
    }
    const final = Number(readFileSync(join(data, `counter-${name}`), 'utf8'));
    assert.ok(final >= (incs.at(-1)?.value ?? 0) && final >= incs.length, `${name}: counter ${final} after ${incs.length} completed increments`);
  }
  for (const r of log.reads) assert.equal(r.v2, r.v1, `${r.name}: the counter changed under shared holder ${r.token}`);

  // The token counter.
  const counterText = readFileSync(join(dir, '.deadbolt-tokens'), 'latin1');
  assert.match(counterText, /^\d{20}\n$/, 'the counter file is 20 digits and a newline');
  const maxToken = tokens.reduce((m, x) => (x > m ? x : m), 0n);
  assert.ok(BigInt(counterText.trim()) >= maxToken, `counter ${counterText.trim()} < highest token ${maxToken}`);

  // No wedged name: each can be taken at once, exclusive and shared, by a new instance.
  const locks = new LockDirectory(dir);
  for (const name of NAMES) {
    for (const mode of ['exclusive', 'shared'] as const) {
      const g = await locks.acquire(name, { mode, timeout: 2000 });
      assert.ok(g.token > maxToken, `${name} ${mode}: token ${g.token} not above every earlier one (${maxToken})`);
      await g.release();
    }
  }

  // clean(): leftovers of the dead (files and shared records) go; held locks stay, and are the only ones skipped.
  const heldEx = await locks.acquire('ex-a', { timeout: 2000 });
  const heldSh = await locks.acquire('rw', { mode: 'shared', timeout: 2000 });
  const listed = await locks.list();
  for (const info of listed) {
    const expected = info.file === 'ex-a' ? 'exclusive' : info.file === 'rw' ? 'shared' : 'free';
    assert.equal(info.state, expected, `${info.file} is ${info.state}`);
  }
  const report = await locks.clean();
  assert.deepEqual(report.skipped.map((e) => e.file).sort(), ['ex-a', 'rw'], `skipped: ${JSON.stringify(report.skipped)}`);
  const lockFiles = () => readdirSync(dir).filter((f) => !f.startsWith('.deadbolt'));
  assert.deepEqual(lockFiles().sort(), ['ex-a', 'rw'], 'every unused file was removed');
  const sharedDir = join(dir, '.deadbolt-shared');
  const sharedRecords = () => (existsSync(sharedDir) && lstatSync(sharedDir).isDirectory() ? readdirSync(sharedDir) : []);
  // A writer killed between creating its record file and writing it leaves an empty one; the
  // writer's pid in the record file's name tells clean() it is stale (the test below).
  const mine = `rw@${heldSh.token}.${process.pid}`;
  assert.deepEqual(sharedRecords().filter((f) => f !== mine), [], 'a dead shared holder\'s record is removed while the lock is held shared');
  assert.ok(sharedRecords().includes(mine), 'the live shared holder\'s record stays');
  await heldEx.release();
  await heldSh.release();
  const again = await locks.clean();
  assert.deepEqual(again.skipped, []);
  assert.deepEqual(lockFiles(), [], 'only bookkeeping files remain');
  assert.deepEqual(sharedRecords(), []);
  for (const f of readdirSync(dir)) assert.match(f, /^\.deadbolt/, `${f} left behind`);
});

test('a shared holder killed between creating its record file and writing it: clean() removes the empty record even while the lock is held shared', async () => {
  const dir = join(tmp.path, 'empty-record');
  const locks = new LockDirectory(dir);
  const held = await locks.acquire('rw', { mode: 'shared' });
  try {
    const sharedDir = join(dir, '.deadbolt-shared');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout; // a pid that has exited
    writeFileSync(join(sharedDir, `rw@${held.token + 1000n}.${dead}`), '', { mode: 0o600 }); // what the SIGKILLed writer left
    writeFileSync(join(sharedDir, `rw@${held.token + 1001n}.${process.pid}`), '', { mode: 0o600 }); // one still being written
    await locks.clean();
    assert.deepEqual(readdirSync(sharedDir).sort(), [`rw@${held.token + 1001n}.${process.pid}`, `rw@${held.token}.${process.pid}`].sort());
  } finally {
    await held.release();
  }
});
