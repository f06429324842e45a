import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FencedOutError, isInvalidArgument } from '../../src/errors.js';
import { Fence } from '../../src/distributed/fence.js';

test('admits a token at least the highest admitted for that name, rejects a lower one', () => {
  const fence = new Fence();
  assert.equal(fence.highest('jobs'), undefined);
  fence.check('jobs', 5n);
  fence.check('jobs', 5n); // the same holder writing twice
  fence.check('jobs', 9n);
  assert.equal(fence.highest('jobs'), 9n);
  const err = (() => {
    try {
      fence.check('jobs', 7n);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof FencedOutError);
  assert.equal(err.code, 'DEADBOLT_FENCED_OUT');
  assert.equal(err.lockName, 'jobs');
  assert.equal(err.token, 7n);
  assert.equal(err.highest, 9n);
  assert.equal(fence.highest('jobs'), 9n, 'a rejected token is not recorded');
});

test('names are independent', () => {
  const fence = new Fence();
  fence.check('a', 100n);
  fence.check('b', 1n);
  assert.equal(fence.highest('a'), 100n);
  assert.equal(fence.highest('b'), 1n);
});

test('a stale holder is fenced out after a newer one wrote', () => {
  const fence = new Fence();
  const store = new Map<string, string>();
  const write = (value: string, token: bigint): void => {
    fence.check('config', token);
    store.set('config', value);
  };
  write('from old holder', 3n);
  write('from new holder', 4n);
  assert.throws(() => write('late write of old holder', 3n), FencedOutError);
  assert.equal(store.get('config'), 'from new holder');
});

test('bad arguments throw TypeError naming them', () => {
  const fence = new Fence();
  assert.throws(() => fence.check('x', 1 as never), (e) => isInvalidArgument(e) && /token/.test((e as Error).message));
  assert.throws(() => fence.check(1 as never, 1n), (e) => isInvalidArgument(e) && /name/.test((e as Error).message));
  assert.throws(() => fence.highest(undefined as never), (e) => isInvalidArgument(e));
});
