// A CommonJS application using the packed tarball (scripts/check-package.js installs it next to this file).
// require() of deadbolt (an ES module without top-level await) needs Node 20.19+ or 22.12+.
'use strict';
const { readFileSync, mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { Mutex, LockDirectory, connect } = require('deadbolt');
const { createDriver } = require('deadbolt/drivers/memory');

async function main() {
  const mutex = new Mutex();
  assert((await mutex.run(async () => 42)) === 42, 'Mutex.run');
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
  console.log(`cjs ok on node ${process.version} ${process.arch}: addon ${addon}`);
}

function assert(ok, what) {
  if (!ok) throw new Error(`consumer check failed: ${what}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
