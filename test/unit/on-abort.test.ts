/**
 * onAbort, and the trap it exists for: a signal getter that checks a deadline
 * when read (Session#signal, a distributed guard's) aborts during the read, so
 * a listener added through a second read is added to an aborted signal and
 * never runs. A `deadbolt run` stopped between two reads missed its lock's loss
 * that way (test/cli/backends.test.ts, SIGSTOP). The pause is ManualClock#skip:
 * time moves, no timer fires.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DriverSession } from '../../src/distributed/driver.js';
import { Session } from '../../src/distributed/session.js';
import { ManualClock } from '../../src/drivers/memory/manual-clock.js';
import { onAbort } from '../../src/internal/on-abort.js';

const TTL = 3_000;

/** A lease whose keepalives never answer: only the local deadline decides. */
function pausedSession(): { clock: ManualClock; session: Session } {
  const clock = new ManualClock(1_000);
  const driverSession: DriverSession = { id: 'fake', ttlMs: TTL, keepAlive: () => new Promise(() => {}), revoke: async () => {} };
  return { clock, session: new Session(driverSession, { backend: 'fake', sentAt: clock.now(), clock }) };
}

test('onAbort runs the function once on abort; the returned function removes it', () => {
  const a = new AbortController();
  let runs = 0;
  onAbort(a.signal, () => runs++);
  a.abort();
  a.abort();
  assert.equal(runs, 1);
  const b = new AbortController();
  const stop = onAbort(b.signal, () => runs++);
  stop();
  b.abort();
  assert.equal(runs, 1, 'removed before the abort');
});

test('onAbort on an aborted signal runs the function at once', () => {
  let runs = 0;
  const stop = onAbort(AbortSignal.abort(new Error('gone')), () => runs++);
  assert.equal(runs, 1);
  stop(); // a no-op
});

test('a pause between reading a session signal and listening: the loss still reaches the listener', async () => {
  const { clock, session } = pausedSession();
  const signal = session.signal; // read once, before the pause
  clock.skip(TTL); // stopped past the deadline: no timer has fired yet
  let lost: unknown;
  onAbort(signal, () => (lost = signal.reason));
  assert.equal(lost, undefined, 'nothing has looked at the deadline yet');
  assert.equal(session.state, 'lost'); // the first look after the pause declares the loss
  assert.match(String(lost), /was lost/);
  await session.close();
});

test('the trap: a listener added through a second read of the getter, after the pause, never runs', async () => {
  const { clock, session } = pausedSession();
  assert.equal(session.signal.aborted, false); // first read: still connected
  clock.skip(TTL);
  let runs = 0;
  session.signal.addEventListener('abort', () => runs++, { once: true }); // second read aborts, then listens
  await clock.advance(TTL); // every timer fires: nothing more will abort
  assert.equal(session.signal.aborted, true);
  assert.equal(runs, 0, 'the old pattern misses the loss: why onAbort reads the signal once');
  await session.close();
});
