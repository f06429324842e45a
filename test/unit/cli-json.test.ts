/** The CLI's one JSON form (src/cli/json.ts): integer milliseconds, tokens as strings, times ISO. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cliJson } from '../../src/cli/json.js';

test('--json: durations in whole ms, bigints as decimal strings, dates ISO, everything else as is', () => {
  const since = new Date('2026-01-02T03:04:05.678Z');
  const parsed = JSON.parse(cliJson({ ageMs: 1203.5, nested: [{ heldMs: 0.4, token: 2n ** 70n, since }], pid: 12.5, ttlMs: null }));
  assert.deepEqual(parsed, { ageMs: 1204, nested: [{ heldMs: 0, token: '1180591620717411303424', since: since.toISOString() }], pid: 12.5, ttlMs: null });
});
