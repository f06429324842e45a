#!/usr/bin/env node
/**
 * Where (c), LockDirectory.acquire + release, spends its time: runs the cycle in a
 * tight loop under `node --cpu-prof` (50 µs sampling) and summarizes the profile
 * by self time and by inclusive time of deadbolt's functions. Also times the
 * pieces of (c) in isolation (the bare named cycle, the token counter, encoding a
 * holder record, and the native grant + release that (c) calls: open, lock,
 * re-check, token, record, then check, unlink, close) so the profile's shares can
 * be checked against wall-clock figures.
 *
 *   node file/profile.mjs [--dir=/dev/shm] [--seconds=4] [--cleanup=on-release|never] [--dist=PATH]
 *
 * The .cpuprofile is kept (path printed) for a closer look in Chrome DevTools.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { percentile } from '../lib/stats.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? true];
  }),
);
const seconds = Number(args.seconds ?? 4);
const cleanup = String(args.cleanup ?? 'on-release');
const DIST = args.dist ? pathToFileURL(`${resolve(String(args.dist))}/`) : new URL('../../dist/', import.meta.url);

if (args.child) {
  await child(String(args.child));
} else {
  const parent = String(args.dir ?? '/dev/shm');
  const dir = mkdtempSync(join(parent, 'deadbolt-profile-'));
  const profDir = mkdtempSync(join(tmpdir(), 'deadbolt-cpuprof-'));
  const run = spawnSync(
    process.execPath,
    ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=50', fileURLToPath(import.meta.url), `--child=${dir}`, ...process.argv.slice(2)],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  rmSync(dir, { recursive: true, force: true });
  if (run.status !== 0) {
    rmSync(profDir, { recursive: true, force: true });
    process.exit(run.status ?? 1);
  }
  const file = join(profDir, readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')));
  summarize(JSON.parse(readFileSync(file, 'utf8')));
  console.log(`\nprofile: ${file}`);
}

async function child(dir) {
  const { LockDirectory } = await import(new URL('index.js', DIST).href);
  const { addon } = await import(new URL('file/addon.js', DIST).href);
  const { DirectoryHandle } = await import(new URL('file/directory-handle.js', DIST).href);
  const { encodeRecord, recordParts } = await import(new URL('file/holder-record.js', DIST).href);
  const locks = new LockDirectory(dir, { cleanup }).open();
  const names = Array.from({ length: 64 }, (_, i) => `bench-${i}`);

  // Pieces first (untimed by the profile's summary, but they warm up the same code).
  const time = async (label, n, fn) => {
    const s = new Float64Array(n);
    for (let i = -500; i < n; i++) {
      const t = performance.now();
      await fn(i & 63);
      if (i >= 0) s[i] = (performance.now() - t) * 1000;
    }
    console.log(`  ${label.padEnd(62)} median ${percentile(s, 50).toFixed(2).padStart(6)} µs   p99 ${percentile(s, 99).toFixed(1).padStart(6)} µs`);
  };
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'pieces'), { recursive: true });
  const pieces = DirectoryHandle.open(join(dir, 'pieces'), { fileMode: 0o600, cleanup: true });
  pieces.raw.openCounter();
  const held = pieces.raw.acquireNow({ name: 'record-target', exclusive: true, token: false, head: null, tail: null })[0];
  const record = { name: 'bench-1', mode: 'exclusive', token: 1n, id: 'x', host: 'h', pid: process.pid, command: process.argv.join(' '), since: new Date() };
  const parts = recordParts(record.name, record.mode, record); // what LockDirectory hands the addon
  const bare = names.map((n) => ({ name: `piece-${n}`, exclusive: true, token: false, head: null, tail: null }));
  const granted = names.map((n) => ({ name: `grant-${n}`, exclusive: true, token: true, ...parts }));
  console.log(`pieces of (c), in isolation (${dir}):`);
  for (let rep = 0; rep < 2; rep++) {
    await time('bare named cycle via the binding ((b))', 5000, (i) => {
      const g = pieces.raw.acquireNow(bare[i]);
      pieces.raw.release(g[0], bare[i].name, true);
    });
    await time('token: tokenNow (native lock, pread, pwrite, unlock)', 5000, () => pieces.raw.tokenNow(-1, null, null));
    await time('holder record: encodeRecord (JS: JSON + FNV-1a + Buffer)', 5000, () => encodeRecord(record));
    await time('native grant+release: acquireNow (token, record), release', 5000, (i) => {
      const g = pieces.raw.acquireNow(granted[i]);
      if (g === undefined) throw new Error('native grant: lock refused');
      if (g[1] === null) throw new Error('native grant: counter busy');
      pieces.raw.release(g[0], granted[i].name, true);
    });
    await time('identity (fstatat + fstat)', 5000, () => pieces.raw.identity(held, 'record-target'));
    await time(`(c) LockDirectory acquire + release (cleanup: ${cleanup})`, 5000, async (i) => {
      const g = await locks.acquire(names[i]);
      await g.release();
    });
  }
  addon().closeFd(held);
  pieces.close();

  // The profiled part.
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    for (let k = 0; k < 1000; k++, n++) {
      const g = await locks.acquire(names[n & 63]);
      await g.release();
    }
  }
  console.log(`\nprofiled ${n} cycles of (c) in ${seconds} s: ${((seconds * 1e6) / n).toFixed(1)} µs per cycle, wall clock`);
}

/** Self time by function, and inclusive time of deadbolt's functions. */
function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const label = (n) => {
    const f = n.callFrame;
    const file = f.url ? f.url.replace(/^.*\/(dist|node_modules|bench)\//, '$1/').replace(/^node:/, 'node:') : '';
    return `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`;
  };
  const self = new Map();
  for (const [id, c] of counts) {
    const key = label(byId.get(id));
    self.set(key, (self.get(key) ?? 0) + c);
  }
  // Inclusive: each sample counts once for every distinct function on its stack.
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map();
  for (const [id, c] of counts) {
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const key = label(byId.get(at));
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + c);
    }
  }
  const pct = (c) => `${((100 * c) / total).toFixed(1).padStart(5)} %`;
  console.log(`\nself time, top 30 of ${total} samples (50 µs):`);
  for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${pct(c)}  ${k}`);
  console.log("\ninclusive time of deadbolt's functions (dist/), top 30:");
  for (const [k, c] of [...inclusive].filter(([k]) => k.includes('dist/')).sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${pct(c)}  ${k}`);
}
