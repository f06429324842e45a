/**
 * The session state machine, driven by a ManualClock and a fake DriverSession
 * whose keepalives the test answers one by one.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { channels } from '../../src/diagnostics.js';
import { BackendUnavailableError, ClosedError, SessionLostError } from '../../src/errors.js';
import type { DriverSession } from '../../src/distributed/driver.js';
import { safetyMargin, Session } from '../../src/distributed/session.js';
import { ManualClock } from '../../src/drivers/memory/manual-clock.js';

const TTL = 3_000; // beats every 1000 ms, margin 300 ms

/** A DriverSession whose keepalives wait for the test to answer them. */
class FakeDriverSession implements DriverSession {
  readonly id = 'fake-1';
  readonly ttlMs = TTL;
  onLost?: (cause: unknown) => void;
  readonly sent: { at: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  revoked = 0;

  constructor(readonly clock: ManualClock) {}

  keepAlive(): Promise<void> {
    return new Promise((resolve, reject) => this.sent.push({ at: this.clock.now(), resolve, reject }));
  }

  async revoke(): Promise<void> {
    this.revoked++;
  }
}

function setup(t: TestContext) {
  const clock = new ManualClock(1_000);
  const fake = new FakeDriverSession(clock);
  const session = new Session(fake, { backend: 'fake', sentAt: clock.now(), clock });
  t.after(() => session.close());
  return { clock, fake, session };
}

function listen(t: TestContext, channel: string): object[] {
  const seen: object[] = [];
  const fn = (m: unknown): void => void seen.push(m as object);
  diagnosticsChannel.subscribe(channel, fn);
  t.after(() => diagnosticsChannel.unsubscribe(channel, fn));
  return seen;
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

test('the margin: a tenth of the TTL, at least 50 ms, at most a quarter', () => {
  assert.equal(safetyMargin(15_000), 1_500);
  assert.equal(safetyMargin(2_000), 200);
  assert.equal(safetyMargin(300), 50);
  assert.equal(safetyMargin(100), 25);
});

test('keepalives every ttl/3; each acknowledgement moves the deadline to its send time + ttl − margin', async (t) => {
  const { clock, fake, session } = setup(t);
  assert.equal(session.state, 'connected');
  assert.equal(session.remainingMs, TTL - 300);
  await clock.advance(999);
  assert.equal(fake.sent.length, 0);
  await clock.advance(1);
  assert.equal(fake.sent.length, 1);
  assert.equal(fake.sent[0]!.at, 2_000);
  await clock.advance(500); // the answer takes 500 ms: the deadline counts from the send
  fake.sent[0]!.resolve();
  await flush();
  assert.equal(session.remainingMs, 2_000 + TTL - 300 - clock.now());
  await clock.advance(500);
  assert.equal(fake.sent.length, 2);
  assert.equal(session.state, 'connected');
});

test('an unanswered keepalive suspends at the next beat; a late answer reconnects', async (t) => {
  const { clock, fake, session } = setup(t);
  const suspended = listen(t, channels.sessionSuspended);
  const reconnected = listen(t, channels.sessionReconnected);
  await clock.advance(1_000);
  await clock.advance(1_000); // second beat: the first is still unanswered
  assert.equal(session.state, 'suspended');
  assert.equal(suspended.length, 1);
  assert.ok((suspended[0] as { error?: unknown }).error instanceof BackendUnavailableError);
  fake.sent[1]!.resolve();
  await flush();
  assert.equal(session.state, 'connected');
  assert.equal(reconnected.length, 1);
  assert.deepEqual(Object.keys(reconnected[0]!).sort(), ['backend', 'sessionId', 'ttlMs']);
  assert.equal(session.signal.aborted, false);
});

test('a failed keepalive suspends and retries before the next regular beat', async (t) => {
  const { clock, fake, session } = setup(t);
  await clock.advance(1_000);
  fake.sent[0]!.reject(new Error('ECONNRESET'));
  await flush();
  assert.equal(session.state, 'suspended');
  // Deadline at 3700; left 1700 at 2000: retry after 425 ms, not 1000.
  await clock.advance(424);
  assert.equal(fake.sent.length, 1);
  await clock.advance(1);
  assert.equal(fake.sent.length, 2);
  fake.sent[1]!.resolve();
  await flush();
  assert.equal(session.state, 'connected');
});

test('no acknowledgement: lost exactly at the deadline, by the local timer alone', async (t) => {
  const { clock, fake, session } = setup(t);
  const lost = listen(t, channels.sessionLost);
  await clock.advance(TTL - 300 - 1);
  assert.equal(session.signal.aborted, false);
  assert.equal(session.state, 'suspended');
  await clock.advance(1);
  assert.equal(session.signal.aborted, true);
  assert.ok(session.signal.reason instanceof SessionLostError);
  assert.equal(session.state, 'lost');
  assert.equal(lost.length, 1);
  assert.equal(clock.pending, 0, 'no timer left behind');
  await flush();
  assert.equal(fake.revoked, 1, 'revoked in the background to free the locks sooner');
  fake.sent[0]!.resolve(); // a late answer changes nothing
  await flush();
  assert.equal(session.state, 'lost');
});

test('an old answer after a newer one does not move the deadline back', async (t) => {
  const { clock, fake, session } = setup(t);
  await clock.advance(2_000);
  fake.sent[1]!.resolve();
  await flush();
  const after = session.remainingMs;
  fake.sent[0]!.resolve();
  await flush();
  assert.equal(session.remainingMs, after);
});

test('reading signal or state after a pause sees the loss before any timer fires', (t) => {
  const { clock, session } = setup(t);
  clock.skip(TTL); // like SIGSTOP: time passed, nothing ran
  assert.equal(session.signal.aborted, true);
  assert.ok(session.signal.reason instanceof SessionLostError);
});

test('the engine saying the lease is gone loses the session at once', async (t) => {
  const { clock, fake, session } = setup(t);
  await clock.advance(1_000);
  const cause = new SessionLostError('lease not found');
  fake.sent[0]!.reject(cause);
  await flush();
  assert.equal(session.state, 'lost');
  assert.equal((session.signal.reason as Error).cause, cause);
});

test('driver onLost loses the session with the cause', (t) => {
  const { fake, session } = setup(t);
  const cause = new Error('zookeeper session expired');
  fake.onLost!(cause);
  assert.equal(session.state, 'lost');
  assert.equal((session.signal.reason as Error).cause, cause);
});

test('close: final, aborts with ClosedError, revokes once, stops every timer', async (t) => {
  const { clock, fake, session } = setup(t);
  const lost = listen(t, channels.sessionLost);
  await clock.advance(1_000);
  await Promise.all([session.close(), session.close()]);
  assert.equal(session.state, 'closed');
  assert.ok(session.signal.reason instanceof ClosedError);
  assert.equal(fake.revoked, 1);
  assert.equal(clock.pending, 0);
  fake.sent[0]!.reject(new SessionLostError('gone'));
  fake.onLost!(new Error('late'));
  await clock.advance(TTL);
  assert.equal(session.state, 'closed');
  assert.equal(lost.length, 0);
});

test('published: opened when made, closed once on close(), and a lost session is never "closed"', async (t) => {
  const opened = listen(t, channels.sessionOpened);
  const closed = listen(t, channels.sessionClosed);
  const { session } = setup(t);
  assert.deepEqual(opened, [{ backend: 'fake', sessionId: 'fake-1', ttlMs: TTL }]);
  await Promise.all([session.close(), session.close()]);
  assert.deepEqual(closed, [{ backend: 'fake', sessionId: 'fake-1', ttlMs: TTL }]);

  const { fake, session: other } = setup(t);
  fake.onLost!(new Error('gone'));
  assert.equal(other.state, 'lost');
  await other.close();
  assert.equal(closed.length, 1);
});

test('open: a grant that arrives after the TTL ran out is refused and revoked', async () => {
  const clock = new ManualClock();
  const fake = new FakeDriverSession(clock);
  const driver = {
    backend: 'fake',
    openSession: async () => {
      clock.skip(TTL);
      return fake;
    },
  };
  await assert.rejects(Session.open(driver, TTL, { id: 'x', host: 'h', pid: 1 }, clock), BackendUnavailableError);
  await flush();
  assert.equal(fake.revoked, 1);
});
