/**
 * The monitor's change rule (src/serve/lock-row.ts `sameRows`, used by
 * src/serve/monitor.ts): a poll that shows the same locks bumps no version
 * (every open page would fetch and redraw its rows), a lease's expiry counts
 * to the whole second (Redis gives the time left, which drifts by a few ms per
 * poll), and every real change does bump it. The monitor is driven by a fake
 * LockSource (this is the monitor's own logic, no backend involved).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HolderRow, LockRow } from '../../src/serve/lock-row.js';
import { sameRows } from '../../src/serve/lock-row.js';
import type { LockSource } from '../../src/serve/lock-source.js';
import { Monitor } from '../../src/serve/monitor.js';

const T0 = 1_700_000_000_000;

function row(name: string, holder: Partial<HolderRow> = {}, more: Partial<LockRow> = {}): LockRow {
  const h: HolderRow = { id: 'i', host: 'h', pid: 7, command: 'node w.js', token: '42', since: T0, expiresAt: T0 + 30_000, state: 'running', data: null, ...holder };
  return { backend: 'redis', name, mode: 'exclusive', holders: [h], waiters: 0, ...more };
}

test('sameRows: equal snapshots, and an expiry that drifts within its second, are the same', () => {
  assert.equal(sameRows([row('a'), row('b')], [row('a'), row('b')]), true);
  assert.equal(sameRows([], []), true);
  assert.equal(sameRows([row('a', { expiresAt: T0 + 30_000 })], [row('a', { expiresAt: T0 + 30_004 })]), true);
  assert.equal(sameRows([row('a', { expiresAt: null })], [row('a', { expiresAt: null })]), true);
});

test('sameRows: every field that the page shows counts', () => {
  const base = [row('a')];
  const changes: LockRow[][] = [
    [],
    [row('a'), row('b')],
    [row('b')],
    [row('a', {}, { mode: 'shared' })],
    [row('a', {}, { waiters: 1 })],
    [row('a', {}, { waiters: null })],
    [row('a', {}, { backend: 'etcd' })],
    [{ ...row('a'), holders: [] }],
    [{ ...row('a'), holders: [...row('a').holders, ...row('a', { token: '43' }).holders] }],
    [row('a', { token: '43' })],
    [row('a', { id: 'j' })],
    [row('a', { host: 'g' })],
    [row('a', { pid: 8 })],
    [row('a', { data: 'a proclaimed value' })],
    [row('a', { command: 'other' })],
    [row('a', { since: T0 + 1 })],
    [row('a', { state: 'expiring' })],
    [row('a', { expiresAt: T0 + 40_000 })],
    [row('a', { expiresAt: null })],
  ];
  for (const changed of changes) {
    assert.equal(sameRows(base, changed), false, JSON.stringify(changed));
    assert.equal(sameRows(changed, base), false, JSON.stringify(changed));
  }
});

/** A backend whose next list the test sets; each poll is awaited through the monitor's change listener or its poll count. */
function fakeSource(): LockSource & { next: LockRow[] } {
  return {
    id: 'redis',
    kind: 'engine',
    url: 'redis://127.0.0.1:1',
    next: [],
    async list() {
      return this.next.map((r) => ({ ...r, holders: r.holders.map((h) => ({ ...h })) }));
    },
    show: async () => undefined,
    break: async () => {
      throw new Error('not used');
    },
    history: async () => [],
    close: async () => {},
  };
}

/** Wake the loop and resolve once it has polled again. */
async function pollOnce(monitor: Monitor, source: LockSource): Promise<void> {
  const polls = monitor.backends[0]!.polls;
  monitor.pollSoon(source.id);
  while (monitor.backends[0]!.polls === polls) await new Promise((resolve) => setImmediate(resolve));
}

test('the monitor bumps its version on the first list and on changes only', async (t) => {
  const source = fakeSource();
  const monitor = new Monitor([source], { intervalMs: 60_000 });
  t.after(() => monitor.stop());
  await monitor.start();
  const afterFirst = monitor.version;
  assert.ok(afterFirst > 0, 'the first list, even an empty one, is a change');

  await pollOnce(monitor, source);
  assert.equal(monitor.version, afterFirst, 'nothing new: no change');

  source.next = [row('a')];
  await pollOnce(monitor, source);
  assert.equal(monitor.version, afterFirst + 1);
  assert.deepEqual(monitor.rows.map((r) => r.name), ['a']);

  source.next = [row('a', { expiresAt: T0 + 30_003 })];
  await pollOnce(monitor, source);
  assert.equal(monitor.version, afterFirst + 1, 'an expiry that moved by 3 ms is no change');

  source.next = [row('a', { expiresAt: T0 + 40_000 })];
  await pollOnce(monitor, source);
  assert.equal(monitor.version, afterFirst + 2, 'a renewal is');
  assert.equal(monitor.rows[0]!.holders[0]!.expiresAt, T0 + 40_000);
});
