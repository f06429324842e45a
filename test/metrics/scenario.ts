/**
 * One fixed sequence of real lock operations, run under a metrics bridge by
 * the Prometheus and the OpenTelemetry tests alike, and the measurements it
 * must produce. Timings are never checked (they depend on the machine), only
 * counts: how many samples each histogram got, each counter's and gauge's value.
 *
 * Operations: an in-process Mutex (publishes nothing, so measures nothing), a
 * LockDirectory (acquire, shared, timeout, abort, a lock file deleted while
 * held), two memory:// coordinators (acquire, timeout, abort, a break, shared)
 * and a third whose session runs on a ManualClock, so that it can be suspended,
 * reconnected and then expired deterministically.
 */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { channels } from '../../src/diagnostics.js';
import { LockTimeoutError } from '../../src/errors.js';
import { connect } from '../../src/distributed/connect.js';
import { Coordinator } from '../../src/distributed/coordinator.js';
import { Session } from '../../src/distributed/session.js';
import { MemoryDriver } from '../../src/drivers/memory/driver.js';
import { ManualClock, memorySpace } from '../../src/drivers/memory/index.js';
import { LockDirectory } from '../../src/file/lock-directory.js';
import { Mutex } from '../../src/local/mutex.js';
import { bounded, whenAborted } from '../conformance/harness.js';
import { tempDir } from '../file/helpers.js';

/**
 * Measurements by series: `instrumentKey{label="value",…}` (labels sorted) →
 * a histogram's sample count, or a counter's or gauge's value.
 */
export type Reading = Map<string, number>;

/** The key of one series in a Reading. */
export function seriesKey(instrument: string, labels: Record<string, string>): string {
  const pairs = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${instrument}{${pairs.join(',')}}`;
}

const exclusiveFile = { backend: 'file', mode: 'exclusive' };
const sharedFile = { backend: 'file', mode: 'shared' };
const exclusiveMemory = { backend: 'memory', mode: 'exclusive' };
const sharedMemory = { backend: 'memory', mode: 'shared' };

/** What {@link runScenario} must leave in the metrics. */
export const expected: Reading = new Map([
  // Lock directory: 'report', 'busy', 'victim' exclusive; 'config' shared twice.
  [seriesKey('acquisitions', exclusiveFile), 3],
  [seriesKey('waitSeconds', exclusiveFile), 3],
  [seriesKey('holdSeconds', exclusiveFile), 3],
  [seriesKey('acquisitions', sharedFile), 2],
  [seriesKey('waitSeconds', sharedFile), 2],
  [seriesKey('holdSeconds', sharedFile), 2],
  [seriesKey('acquireFailures', { ...exclusiveFile, reason: 'timeout' }), 1],
  [seriesKey('acquireFailures', { ...exclusiveFile, reason: 'aborted' }), 1],
  [seriesKey('losses', { ...exclusiveFile, reason: 'deleted' }), 1],
  // memory://: 'job' (then broken) and 'lease' (then expired) exclusive; 'cache' shared.
  [seriesKey('acquisitions', exclusiveMemory), 2],
  [seriesKey('waitSeconds', exclusiveMemory), 2],
  [seriesKey('holdSeconds', exclusiveMemory), 2],
  [seriesKey('acquisitions', sharedMemory), 1],
  [seriesKey('waitSeconds', sharedMemory), 1],
  [seriesKey('holdSeconds', sharedMemory), 1],
  [seriesKey('acquireFailures', { ...exclusiveMemory, reason: 'timeout' }), 1],
  [seriesKey('acquireFailures', { ...exclusiveMemory, reason: 'aborted' }), 1],
  [seriesKey('acquireFailures', { ...exclusiveMemory, reason: 'session' }), 1],
  [seriesKey('losses', { ...exclusiveMemory, reason: 'broken' }), 1],
  [seriesKey('losses', { ...exclusiveMemory, reason: 'expired' }), 1],
  [seriesKey('breaks', { backend: 'memory' }), 1],
  [seriesKey('sessionLosses', { backend: 'memory' }), 1],
  // Every session has ended by the end: the gauge is back to 0 in both states it went through.
  [seriesKey('sessions', { backend: 'memory', state: 'connected' }), 0],
  [seriesKey('sessions', { backend: 'memory', state: 'suspended' }), 0],
]);

/** The sessions gauge while the manual coordinator's session is suspended (a and b stay connected). */
export const whileSuspended: Reading = new Map([
  [seriesKey('sessions', { backend: 'memory', state: 'connected' }), 2],
  [seriesKey('sessions', { backend: 'memory', state: 'suspended' }), 1],
]);

let runs = 0;

/**
 * Run the operations. `read` is called while one session is suspended; the
 * caller compares what it returns with {@link whileSuspended}.
 */
export async function runScenario(read: () => Promise<Reading>): Promise<{ suspended: Reading }> {
  const run = `${process.pid}-${runs++}`;
  await inProcess();
  await lockDirectory();
  return memory(run, read);
}

async function inProcess(): Promise<void> {
  const mutex = new Mutex();
  const held = await mutex.acquire();
  await assert.rejects(mutex.acquire({ timeout: 5 }), LockTimeoutError);
  await held.release();
}

async function lockDirectory(): Promise<void> {
  const dir = tempDir('metrics');
  const locks = new LockDirectory(dir.path);
  try {
    await (await locks.acquire('report')).release();
    const readers = [await locks.acquire('config', { mode: 'shared' }), await locks.acquire('config', { mode: 'shared' })];
    await Promise.all(readers.map((guard) => guard.release()));

    const busy = await locks.acquire('busy');
    await assert.rejects(locks.acquire('busy', { timeout: 20 }), LockTimeoutError);
    const reason = new Error('caller gave up');
    await assert.rejects(locks.acquire('busy', { signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await busy.release();

    const victim = await locks.acquire('victim');
    unlinkSync(victim.path); // someone deleted the lock file: the release finds out and reports the loss
    await victim.release();
    assert.equal(victim.signal.aborted, true);
  } finally {
    locks.close();
    dir.remove();
  }
}

async function memory(run: string, read: () => Promise<Reading>): Promise<{ suspended: Reading }> {
  const spaceName = `metrics-${run}`;
  const clock = new ManualClock();
  const space = memorySpace(spaceName, { clock });
  // a and b: real sessions whose 60 s TTL never comes into play.
  const a = await connect(`memory://${spaceName}`, { ttl: 60_000 });
  const b = await connect(`memory://${spaceName}`, { ttl: 60_000 });
  const manual = await manualCoordinator(space, clock);
  try {
    const job = await a.acquire('job');
    await assert.rejects(b.acquire('job', { timeout: 20 }), LockTimeoutError);
    await assert.rejects(b.acquire('job', { signal: AbortSignal.abort() }));
    await b.break('job', { reason: 'metrics test' });
    await whenAborted(job.signal, 2_000, 'the broken holder is told');
    await job.release();
    await (await b.acquire('cache', { mode: 'shared' })).release();

    // Suspended: the engine stops answering the manual session's keepalives.
    const suspendedSeen = next(channels.sessionSuspended);
    space.pause(manual.session.id);
    await clock.advance(2_000); // beats at 1000 (unanswered) and 2000: suspended, deadline still ahead
    await bounded(suspendedSeen, 2_000, 'suspended');
    const suspended = await read();
    const reconnected = next(channels.sessionReconnected);
    space.resume(manual.session.id);
    await bounded(reconnected, 2_000, 'reconnected');

    // Lost: the engine expires its lease; the lock is lost with it.
    const lease = await manual.acquire('lease');
    space.expire(manual.session.id);
    await whenAborted(lease.signal, 2_000, 'the expired holder is told');
    await lease.release();
    await assert.rejects(manual.acquire('after-loss'));
    return { suspended };
  } finally {
    await Promise.all([a.close(), b.close(), manual.close()]);
  }
}

/** A memory:// coordinator whose session keeps time on `clock`, as connect() would make it otherwise. */
async function manualCoordinator(space: ReturnType<typeof memorySpace>, clock: ManualClock): Promise<Coordinator> {
  const driver = new MemoryDriver(space, '');
  const owner = { id: `metrics-${process.pid}`, host: hostname(), pid: process.pid };
  const session = await Session.open(driver, 3_000, owner, clock);
  return new Coordinator(driver, session, owner);
}

/** The next message published on `channel`. */
function next(channel: string): Promise<unknown> {
  return new Promise((resolve) => {
    const listener = (message: unknown): void => {
      diagnosticsChannel.unsubscribe(channel, listener);
      resolve(message);
    };
    diagnosticsChannel.subscribe(channel, listener);
  });
}
