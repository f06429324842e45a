/**
 * The read loop under observe() and watchMembers() (src/recipes/name-changes.ts),
 * on a scripted host: the watch is armed before every read, a change that
 * lands between the read and the next arming is not missed, repeated states
 * are not yielded, silent expiries are read again at their deadline, and the
 * loop ends quietly on close and with the loss on session loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClosedError, SessionLostError } from '../../src/errors.js';
import { nameStates } from '../../src/recipes/name-changes.js';
import type { RecipeHost } from '../../src/recipes/host.js';

/** A host whose reads return `state.value` and whose watches the test fires by hand. */
function scriptedHost(options: { silentExpiry?: boolean } = {}) {
  const ending = new AbortController();
  const log: string[] = [];
  const watches: { fire: () => void; cancelled: boolean }[] = [];
  const state = { value: 0 };
  const host = {
    backend: 'scripted',
    ending: ending.signal,
    silentExpiry: options.silentExpiry ?? false,
    watchName: async (_name: string, onEvent: (event: 'changed' | 'uncertain') => void) => {
      const watch = { fire: () => onEvent('changed'), cancelled: false };
      watches.push(watch);
      log.push('arm');
      return { cancel: () => void (watch.cancelled = true) };
    },
  } as unknown as RecipeHost;
  const read = async (): Promise<number> => {
    log.push(`read ${state.value}`);
    return state.value;
  };
  return { host, ending, log, watches, state, read };
}

test('nameStates: arms before it reads, yields the first state and each change once', async () => {
  const { host, log, watches, state, read } = scriptedHost();
  const states = nameStates(host, 'n', read, (a, b) => a === b, () => []);
  assert.deepEqual(await states.next(), { value: 0, done: false });
  assert.deepEqual(log, ['arm', 'read 0']);
  const next = states.next();
  watches.at(-1)!.fire(); // a change the read does not show (a grant-time stamp): read again, yield nothing
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log, ['arm', 'read 0', 'arm', 'read 0']);
  state.value = 1;
  watches.at(-1)!.fire();
  watches.at(-1)!.fire(); // a one-shot watch fired twice: harmless
  assert.deepEqual(await next, { value: 1, done: false });
  assert.ok(watches.slice(0, -1).every((w) => w.cancelled), 'every watch but the current one was cancelled');
  assert.deepEqual(log.filter((l) => l === 'arm').length, log.filter((l) => l.startsWith('read')).length, 'one arming per read');
  await states.return();
  assert.equal(watches.at(-1)!.cancelled, true, 'return() cancels the open watch');
});

test('nameStates: a change made right after a read is seen (the next read is armed first)', async () => {
  const { host, watches, state, read } = scriptedHost();
  const states = nameStates(host, 'n', read, (a, b) => a === b, () => []);
  await states.next();
  state.value = 2; // changed after the read, before anyone looked again
  watches.at(-1)!.fire();
  assert.deepEqual(await states.next(), { value: 2, done: false });
  await states.return();
});

test('nameStates: with silentExpiry it reads again just after the earliest expiry it read', async () => {
  const { host, log, state, read } = scriptedHost({ silentExpiry: true });
  const expiry = new Date(Date.now() + 30);
  const states = nameStates(host, 'n', read, (a, b) => a === b, (value) => (value === 0 ? [undefined, expiry] : []));
  await states.next();
  state.value = 3; // the holder expired silently: no watch event
  assert.deepEqual(await states.next(), { value: 3, done: false });
  assert.deepEqual(log, ['arm', 'read 0', 'arm', 'read 3']);
  await states.return();
});

test('nameStates: ends quietly when the coordinator closes or the signal aborts; throws on session loss', async () => {
  const closed = scriptedHost();
  const a = nameStates(closed.host, 'n', closed.read, (x, y) => x === y, () => []);
  await a.next();
  const pending = a.next();
  closed.ending.abort(new ClosedError('closed'));
  assert.deepEqual(await pending, { value: undefined, done: true });

  const aborted = scriptedHost();
  const stop = new AbortController();
  const b = nameStates(aborted.host, 'n', aborted.read, (x, y) => x === y, () => [], stop.signal);
  await b.next();
  const waiting = b.next();
  stop.abort();
  assert.deepEqual(await waiting, { value: undefined, done: true });

  const lost = scriptedHost();
  const c = nameStates(lost.host, 'n', lost.read, (x, y) => x === y, () => []);
  await c.next();
  const failing = c.next();
  lost.ending.abort(new SessionLostError('lease gone'));
  await assert.rejects(failing, SessionLostError);
});
