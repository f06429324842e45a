// An ESM application using the packed tarball (scripts/check-package.js installs it next to this file).
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Mutex, LockDirectory, connect } from 'deadbolt';
import { createDriver } from 'deadbolt/drivers/memory';

const mutex = new Mutex();
assert(await mutex.run(async () => 42) === 42, 'Mutex.run');
assert(typeof createDriver === 'function', 'the memory driver subpath');

const dir = mkdtempSync(join(tmpdir(), 'deadbolt-consumer-'));
try {
  const locks = new LockDirectory(join(dir, 'locks'));
  const guard = await locks.acquire('job');
  assert(typeof guard.token === 'bigint', 'a fencing token');
  JSON.parse(JSON.stringify(await locks.list()));
  await guard.release();
  await locks.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const coordinator = await connect('memory://consumer');
const held = await coordinator.acquire('invoices');
const listed = JSON.parse(JSON.stringify(await coordinator.list()));
assert(listed[0].token === String(held.token), 'tokens serialise as decimal strings');
await held.release();
await coordinator.close();

const addon = readFileSync('/proc/self/maps', 'utf8').match(/\S*deadbolt[^\s]*\.node/)?.[0];
console.log(`esm ok on node ${process.version} ${process.arch}: addon ${addon}`);

function assert(ok, what) {
  if (!ok) throw new Error(`consumer check failed: ${what}`);
}
