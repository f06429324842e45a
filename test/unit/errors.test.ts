import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as deadbolt from '../../src/index.js';

test('every error class has its stable code, its name and keeps the cause', () => {
  const cause = new Error('root');
  const cases: Array<[deadbolt.DeadboltError, string]> = [
    [new deadbolt.LockTimeoutError('t', 5, { cause }), 'DEADBOLT_TIMEOUT'],
    [new deadbolt.ClosedError('c', { cause }), 'DEADBOLT_CLOSED'],
    [new deadbolt.LockLostError('l', { lockName: 'n', token: 1n, reason: 'expired' }, { cause }), 'DEADBOLT_LOCK_LOST'],
    [new deadbolt.SessionLostError('s', { cause }), 'DEADBOLT_SESSION_LOST'],
    [new deadbolt.FencedOutError('n', 1n, 2n), 'DEADBOLT_FENCED_OUT'],
    [new deadbolt.ConfigurationError('c', { cause }), 'DEADBOLT_CONFIG'],
    [new deadbolt.BackendUnavailableError('b', { cause }), 'DEADBOLT_BACKEND_UNAVAILABLE'],
    [new deadbolt.BackendError('b', { cause }), 'DEADBOLT_BACKEND'],
    [new deadbolt.NativeError('n', { errno: 'EMFILE' }, { cause }), 'DEADBOLT_NATIVE'],
    [new deadbolt.UnsupportedError('u', { cause }), 'DEADBOLT_UNSUPPORTED'],
    [new deadbolt.HolderChangedError('n', [1n], [2n], { cause }), 'DEADBOLT_HOLDER_CHANGED'],
  ];
  for (const [err, code] of cases) {
    assert.ok(err instanceof deadbolt.DeadboltError);
    assert.ok(err instanceof Error);
    assert.equal(err.code, code);
    assert.equal(err.name, err.constructor.name);
    if (!(err instanceof deadbolt.FencedOutError)) assert.equal(err.cause, cause);
  }
  const codes = new Set(Object.values(deadbolt.ErrorCodes));
  assert.equal(codes.size, Object.keys(deadbolt.ErrorCodes).length, 'codes are unique');
  for (const [, code] of cases) assert.ok(codes.has(code as deadbolt.ErrorCode));
});

test('argument errors are TypeError/RangeError with the invalid-argument code', () => {
  const t = deadbolt.invalidType('options.x', 'a number', 'abc');
  assert.ok(t instanceof TypeError);
  assert.equal(t.code, 'DEADBOLT_INVALID_ARGUMENT');
  assert.equal(t.message, 'options.x must be a number; got "abc"');
  const r = deadbolt.invalidRange('weight', 'at most 3', 9);
  assert.ok(r instanceof RangeError && deadbolt.isInvalidArgument(r));
  assert.equal(deadbolt.isInvalidArgument(new TypeError('plain')), false);
});

test('FencedOutError explains what the writer must do', () => {
  const err = new deadbolt.FencedOutError('jobs', 3n, 7n);
  assert.match(err.message, /token 3 rejected: token 7 was already admitted.*re-acquire/);
  assert.equal(err.highest, 7n);
});
