/**
 * The conformance suite on file:// (a Coordinator over a LockDirectory), plus
 * what is particular to it: the directory is shared with LockDirectory and
 * survives as a namespace of its own, and breaking is refused with directions.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError, UnsupportedError } from '../../src/errors.js';
import { connect } from '../../src/distributed/connect.js';
import { LockDirectory } from '../../src/file/lock-directory.js';
import { namespaceDirectory } from '../../src/drivers/file/index.js';
import { conformance } from './suite.js';
import { STEADY_TTL_MS } from '../harness/bounds.js';

const root = mkdtempSync(join(tmpdir(), 'deadbolt-conformance-file-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

conformance('file', {
  connectUrl: () => `file://${join(root, `t${n++}`)}`,
  ttl: STEADY_TTL_MS,
  handoffMs: 20,
  claimSettleMs: 50, // a claim reaching the engine on a starved machine
  observesBreak: false,
  reportsPredecessor: false,
});

test('file: a coordinator and a LockDirectory on the same directory exclude each other; files are cleaned up', async () => {
  const dir = join(root, 'shared');
  const coordinator = await connect(`file://${dir}`);
  const locks = new LockDirectory(dir);
  const guard = await coordinator.acquire('report');
  assert.equal(await locks.tryAcquire('report'), undefined);
  const [holder] = await coordinator.holders('report');
  assert.equal(holder?.owner.pid, process.pid);
  assert.equal(holder?.token, guard.token);
  await guard.release();
  const mine = await locks.acquire('report');
  assert.ok(mine.token > guard.token);
  await mine.release();
  await coordinator.close();
  assert.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('.deadbolt')), []);
});

test('file: break is refused with directions to the CLI; capabilities say a paused holder keeps its locks', async () => {
  const coordinator = await connect(`file://${join(root, 'break')}`);
  assert.equal(coordinator.capabilities.serverLease, false);
  assert.equal(coordinator.capabilities.breakable, false);
  await assert.rejects(coordinator.break('x', { reason: 'test' }), (e: unknown) => e instanceof UnsupportedError || /deadbolt break/.test(String(e)));
  await coordinator.close();
  await assert.rejects(connect('file://otherhost/dir'), ConfigurationError);
  await assert.rejects(connect('file:///'), ConfigurationError);
});

test('file: a holder paused far past its TTL still holds (the process is the lease) and is not told otherwise', async () => {
  const coordinator = await connect(`file://${join(root, 'paused')}`, { ttl: 50 });
  const guard = await coordinator.acquire('long');
  const until = performance.now() + 300;
  while (performance.now() < until); // a pause: the event loop does not run, no keepalive could
  assert.equal(guard.signal.aborted, false);
  assert.equal(coordinator.session.state, 'connected');
  assert.equal(await new LockDirectory(join(root, 'paused')).tryAcquire('long'), undefined, 'the kernel lock is still held');
  await guard.release();
  await coordinator.close();
});

test('file: a namespace other than the default is a lock directory of its own, shared with a LockDirectory there', async () => {
  const dir = join(root, 'namespaced');
  const billing = await connect(`file://${dir}`, { namespace: 'billing/prod' });
  const plain = await connect(`file://${dir}`);
  const guard = await billing.acquire('report');
  const own = namespaceDirectory(dir, 'billing/prod');
  assert.equal(own, join(dir, '.deadbolt-namespaces', 'billing%2Fprod'));
  assert.equal(await new LockDirectory(own).tryAcquire('report'), undefined, 'a LockDirectory on the namespace directory sees the lock');
  const other = await plain.tryAcquire('report');
  assert.ok(other, 'the default namespace (the directory itself) does not');
  assert.deepEqual((await plain.list()).map((i) => i.token), [other.token]);
  await other.release();
  await guard.release();
  await Promise.all([billing.close(), plain.close()]);
});
