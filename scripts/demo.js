#!/usr/bin/env node
// The main job on the embedded default (a lock directory, no server): four
// processes increment one counter file 500 times each under a deadbolt lock,
// then the demo shows the count (exactly 2000), the fencing tokens, and that the
// lock directory cleaned up after itself.
//
//   npm run demo [-- --lock-path DIR]
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LockDirectory } from '../dist/index.js';

const { values } = parseArgs({ options: { 'lock-path': { type: 'string' }, worker: { type: 'string' } } });

if (values.worker) {
  // Worker: increment the counter file under the lock, non-atomically on purpose.
  const locks = new LockDirectory(values['lock-path']);
  let first, last;
  for (let i = 0; i < 500; i++) {
    await locks.run('demo-counter', (guard) => {
      first ??= guard.token;
      last = guard.token;
      const n = Number(readFileSync(values.worker, 'utf8'));
      writeFileSync(values.worker, String(n + 1));
    });
  }
  process.send({ pid: process.pid, first: String(first), last: String(last) });
} else {
  const work = mkdtempSync(join(tmpdir(), 'deadbolt-demo-'));
  const lockPath = values['lock-path'] ?? join(work, 'locks');
  const counter = join(work, 'counter');
  writeFileSync(counter, '0');
  console.log(`lock directory: ${lockPath}\n4 processes x 500 read-increment-write cycles on one counter file...`);
  const started = performance.now();
  const reports = await Promise.all(
    [1, 2, 3, 4].map(
      () =>
        new Promise((resolve, reject) => {
          const child = fork(new URL(import.meta.url).pathname, ['--lock-path', lockPath, '--worker', counter]);
          child.on('message', resolve);
          child.on('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
        }),
    ),
  );
  const ms = performance.now() - started;
  for (const r of reports) console.log(`  pid ${r.pid}: fencing tokens ${r.first} … ${r.last}`);
  const count = Number(readFileSync(counter, 'utf8'));
  const left = readdirSync(lockPath).filter((f) => !f.startsWith('.deadbolt'));
  console.log(`counter: ${count} (expected 2000) in ${ms.toFixed(0)} ms`);
  console.log(`lock files left behind: ${left.length}`);
  if (!values['lock-path']) rmSync(work, { recursive: true, force: true });
  process.exit(count === 2000 && left.length === 0 ? 0 : 1);
}
