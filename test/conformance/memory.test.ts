/**
 * The conformance suite on memory://, plus what only the memory engine can
 * show deterministically: a ManualClock drives lease expiry on the engine side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LockLostError, SessionLostError } from '../../src/errors.js';
import { connect } from '../../src/distributed/connect.js';
import { ManualClock, memorySpace } from '../../src/drivers/memory/index.js';
import { peek } from './harness.js';
import { conformance } from './suite.js';
import { STEADY_TTL_MS } from '../harness/bounds.js';

const SPACE = 'conformance';

conformance('memory', {
  connectUrl: () => `memory://${SPACE}`,
  ttl: STEADY_TTL_MS,
  pause: (coordinator) => memorySpace(SPACE).pause(coordinator.session.id),
  resume: (coordinator) => memorySpace(SPACE).resume(coordinator.session.id),
  handoffMs: 20,
  claimSettleMs: 50, // a claim reaching the engine on a starved machine
});

test('memory: a lease expires on the engine clock exactly ttl after its last renewal', async (t) => {
  const clock = new ManualClock();
  const space = memorySpace('manual-expiry', { clock });
  // A long TTL keeps the coordinators' own (real-time) sessions out of the way.
  const a = await connect('memory://manual-expiry', { ttl: 60_000 });
  const held = await a.acquire('x'); // a's lease was granted (last renewed) at 0
  await clock.advance(30_000);
  const b = await connect('memory://manual-expiry', { ttl: 60_000 }); // b's lease runs to 90 000
  t.after(() => Promise.all([a.close(), b.close()]));
  const [info] = await b.holders('x');
  assert.equal(info!.expiresAt!.getTime() - clock.epoch, 60_000);
  const waiting = b.acquire('x');
  space.pause(a.session.id);
  await clock.advance(29_999);
  assert.equal(await peek(waiting), 'pending');
  await clock.advance(1);
  const next = await waiting;
  assert.equal(next.predecessor?.outcome, 'expired');
  assert.equal(held.signal.aborted, false, 'a cut-off holder hears nothing from the engine');
  space.resume(a.session.id);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal((held.signal.reason as LockLostError).reason, 'expired', 'what it missed arrives on resume');
  assert.ok(a.signal.reason instanceof SessionLostError);
  await held.release();
  assert.deepEqual((await b.holders('x')).map((h) => h.token), [next.token]);
  await next.release();
});

test('memory: expire() is seen at once by a connected session (like a ZooKeeper expiry event)', async (t) => {
  const a = await connect('memory://expire-hook', { ttl: 5_000 });
  t.after(() => a.close());
  const held = await a.acquire('x');
  memorySpace('expire-hook').expire(a.session.id);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(a.session.state, 'lost');
  assert.ok(held.signal.aborted);
  await held.release();
});

test('memory: spaces and namespaces are isolated; memory:name and memory:// work', async (t) => {
  const a = await connect('memory://iso-1', { namespace: 'one' });
  const b = await connect('memory://iso-1', { namespace: 'two' });
  const c = await connect('memory:iso-2', { namespace: 'one' });
  const d = await connect('memory://');
  t.after(() => Promise.all([a, b, c, d].map((x) => x.close())));
  const guards = await Promise.all([a, b, c, d].map((x) => x.acquire('same-name')));
  assert.deepEqual((await a.list()).map((i) => i.token), [guards[0]!.token]);
  assert.deepEqual((await b.list()).map((i) => i.token), [guards[1]!.token]);
  await Promise.all(guards.map((g) => g.release()));
  assert.throws(() => memorySpace('iso-1', { clock: new ManualClock() }), /already exists with another clock/);
});
