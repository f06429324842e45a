/**
 * The chaos suite's own pieces, on hand-made histories (fast, no processes):
 * every checker rule fires on the history it exists to catch and stays quiet
 * on a clean one; the resource server fences reads and writes; the schedule
 * follows from its seed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { check, type CheckInput, type Rule } from './checker.js';
import type { FaultRecord, ResourceEntry, WorkerEvent } from './events.js';
import { ResourceStore } from './resource-server.js';
import { Schedule } from './schedule.js';

/** A history under construction: a resource store logs the writes as the real one does. */
class Story {
  readonly events: WorkerEvent[] = [];
  readonly faults: FaultRecord[] = [];
  readonly entries: ResourceEntry[] = [];
  readonly store: ResourceStore;

  constructor(mode: 'fenced' | 'record' = 'fenced') {
    this.store = new ResourceStore(mode, (entry) => this.entries.push({ ...entry, t: this.#now }));
  }

  #now = 0;

  /** `worker` acquires `name` with `token` at `t`. */
  acquire(t: number, worker: string, name: string, token: number): this {
    this.events.push({ type: 'waiting', t: t - 1, worker, name }, { type: 'acquired', t, worker, name, token: String(token) });
    return this;
  }

  /** A full read-modify-write cycle through the resource, starting at `t`. */
  cycle(t: number, worker: string, name: string, token: number, options: { aborted?: boolean; readAt?: number } = {}): this {
    const readAt = options.readAt ?? t;
    const value = this.read(readAt, worker, name, token);
    return this.write(t + 10, worker, name, token, value + 1, { aborted: options.aborted ?? false, readAt });
  }

  read(t: number, worker: string, name: string, token: number): number {
    this.#now = t;
    const reply = this.store.handle({ id: 0, op: 'read', name, token: String(token), worker });
    this.events.push({ type: 'read', t, worker, name, token: String(token), checkedAt: t, value: reply.value ?? 0, ok: reply.ok });
    return reply.value ?? 0;
  }

  write(t: number, worker: string, name: string, token: number, value: number, options: { aborted: boolean; readAt: number }): this {
    this.#now = t;
    const reply = this.store.handle({ id: 0, op: 'write', name, token: String(token), worker, value });
    this.events.push({ type: 'write', t, worker, name, token: String(token), aborted: options.aborted, readAt: options.readAt, value, ok: reply.ok });
    return this;
  }

  release(t: number, worker: string, name: string, token: number, lost = false): this {
    this.events.push({ type: 'release-start', t, worker, name, token: String(token), lost }, { type: 'released', t: t + 1, worker, name, token: String(token) });
    return this;
  }

  lost(t: number, worker: string, name: string, token: number, reason: string): this {
    this.events.push({ type: 'lost', t, worker, name, token: String(token), reason });
    return this;
  }

  fault(record: Omit<FaultRecord, 'plannedMs'>): this {
    this.faults.push({ plannedMs: record.healedAt - record.startedAt, ...record });
    return this;
  }

  input(overrides: Partial<CheckInput> = {}): CheckInput {
    return {
      events: this.events,
      faults: this.faults,
      entries: this.entries,
      values: this.store.values(),
      locks: ['a'],
      serverLease: true,
      ttlMs: 1_000,
      recoveryBoundMs: 500,
      slackMs: 200,
      quietFrom: 0,
      runEnd: 100_000,
      ...overrides,
    };
  }
}

function rules(input: CheckInput): Rule[] {
  return [...new Set(check(input).violations.map((v) => v.rule))].sort();
}

describe('chaos checker', () => {
  test('a clean history: two holders one after the other, no violation', () => {
    const story = new Story().acquire(0, 'w0.1', 'a', 1).cycle(5, 'w0.1', 'a', 1).release(20, 'w0.1', 'a', 1);
    story.acquire(30, 'w1.1', 'a', 2).cycle(35, 'w1.1', 'a', 2).release(50, 'w1.1', 'a', 2);
    const result = check(story.input());
    assert.deepEqual(result.violations, []);
    assert.equal(result.stats.writesAccepted, 2);
    assert.deepEqual(result.stats.finalValues, { a: 2 });
  });

  test('record-only: a stale holder writing after a newer one is a stale write, a lost update and a token regression', () => {
    const story = new Story('record').acquire(0, 'w0.1', 'a', 1);
    const stale = story.read(5, 'w0.1', 'a', 1); // … then w0.1 is paused past its TTL
    story.acquire(2_000, 'w1.1', 'a', 2).cycle(2_005, 'w1.1', 'a', 2).release(2_020, 'w1.1', 'a', 2);
    story.lost(3_000, 'w0.1', 'a', 1, 'session').write(3_001, 'w0.1', 'a', 1, stale + 1, { aborted: true, readAt: 5 }).release(3_002, 'w0.1', 'a', 1, true);
    assert.deepEqual(rules(story.input()), ['lost-update', 'stale-write-accepted', 'token-regression']);
  });

  test('fenced: the same story is clean, and the stale write is counted as fenced', () => {
    const story = new Story('fenced').acquire(0, 'w0.1', 'a', 1);
    const stale = story.read(5, 'w0.1', 'a', 1);
    story.acquire(2_000, 'w1.1', 'a', 2).cycle(2_005, 'w1.1', 'a', 2).release(2_020, 'w1.1', 'a', 2);
    story.lost(3_000, 'w0.1', 'a', 1, 'session').write(3_001, 'w0.1', 'a', 1, stale + 1, { aborted: true, readAt: 5 }).release(3_002, 'w0.1', 'a', 1, true);
    const result = check(story.input());
    assert.deepEqual(result.violations, []);
    assert.equal(result.stats.writesFenced, 1);
    assert.equal(result.stats.staleAttempts, 1);
    assert.equal(result.stats.staleReleases, 1);
  });

  test('exclusion: a holder that still trusts its lock after a newer grant; exempt when it was broken', () => {
    const story = new Story().acquire(0, 'w0.1', 'a', 1).acquire(100, 'w1.1', 'a', 2).cycle(150, 'w0.1', 'a', 1);
    assert.ok(rules(story.input()).includes('exclusion'));
    story.fault({ seq: 1, kind: 'break', lock: 'a', startedAt: 90, healedAt: 95, displaced: ['1'] });
    const result = check(story.input());
    assert.ok(!result.violations.some((v) => v.rule === 'exclusion'));
    assert.equal(result.stats.breakOverlaps, 2);
  });

  test("stale-release: the current holder's claim deleted after a lost holder's release", () => {
    const story = new Story().acquire(0, 'w0.1', 'a', 1).lost(1_000, 'w0.1', 'a', 1, 'session').acquire(1_500, 'w1.1', 'a', 2);
    story.release(2_000, 'w0.1', 'a', 1, true).cycle(2_005, 'w1.1', 'a', 2).lost(2_020, 'w1.1', 'a', 2, 'deleted');
    assert.deepEqual(rules(story.input()), ['stale-release']);
    const expired = new Story().acquire(0, 'w0.1', 'a', 1).lost(1_000, 'w0.1', 'a', 1, 'session').acquire(1_500, 'w1.1', 'a', 2);
    expired.release(2_000, 'w0.1', 'a', 1, true).cycle(2_005, 'w1.1', 'a', 2).release(2_030, 'w1.1', 'a', 2);
    const result = check(expired.input());
    assert.deepEqual(result.violations, []);
    assert.equal(result.stats.staleReleasesOverHolder, 1);
  });

  test('recovery: a killed holder’s lock passes on within TTL + recoveryBoundMs + slack, or it is a violation', () => {
    const late = new Story().acquire(0, 'w0.1', 'a', 1).acquire(50, 'w1.1', 'b', 9);
    late.events.push({ type: 'waiting', t: 60, worker: 'w2.1', name: 'a' });
    late.fault({ seq: 1, kind: 'kill-holder', lock: 'a', startedAt: 100, healedAt: 100, worker: 'w0.1' }).acquire(1_900, 'w2.1', 'a', 2);
    assert.ok(rules(late.input()).includes('recovery'), '1 800 ms > 1 000 + 500 + 200');
    const onTime = new Story().acquire(0, 'w0.1', 'a', 1);
    onTime.events.push({ type: 'waiting', t: 60, worker: 'w2.1', name: 'a' });
    onTime.fault({ seq: 1, kind: 'kill-holder', lock: 'a', startedAt: 100, healedAt: 100, worker: 'w0.1' }).acquire(1_700, 'w2.1', 'a', 2);
    const result = check(onTime.input());
    assert.ok(!result.violations.some((v) => v.rule === 'recovery'));
    assert.deepEqual(result.stats.recoveries, [{ fault: 1, ms: 1_600, boundMs: 1_700 }]);
  });

  test('recovery without a server lease: TTL does not count (file://)', () => {
    const story = new Story().acquire(0, 'w0.1', 'a', 1);
    story.events.push({ type: 'waiting', t: 60, worker: 'w2.1', name: 'a' });
    story.fault({ seq: 1, kind: 'kill-holder', lock: 'a', startedAt: 100, healedAt: 100, worker: 'w0.1' }).acquire(1_000, 'w2.1', 'a', 2);
    assert.ok(rules(story.input({ serverLease: false })).includes('recovery'), '900 ms > 0 + 500 + 200');
  });

  test('loss-signal: a holder paused past its TTL must see its signal aborted at its next write', () => {
    const unaware = new Story().acquire(0, 'w0.1', 'a', 1);
    unaware.read(5, 'w0.1', 'a', 1);
    unaware.fault({ seq: 1, kind: 'pause-holder', lock: 'a', startedAt: 10, healedAt: 1_600, worker: 'w0.1' });
    unaware.write(1_610, 'w0.1', 'a', 1, 1, { aborted: false, readAt: 5 });
    assert.ok(rules(unaware.input()).includes('loss-signal'));
    const aware = new Story().acquire(0, 'w0.1', 'a', 1);
    aware.read(5, 'w0.1', 'a', 1);
    aware.fault({ seq: 1, kind: 'pause-holder', lock: 'a', startedAt: 10, healedAt: 1_600, worker: 'w0.1' });
    aware.lost(1_601, 'w0.1', 'a', 1, 'session').write(1_610, 'w0.1', 'a', 1, 1, { aborted: true, readAt: 5 });
    const result = check(aware.input());
    assert.deepEqual(result.violations, []);
    assert.equal(result.stats.pausesMidCycle, 1);
  });

  test('paused-holder-keeps-lock (no server lease): nobody else may be granted the lock during the pause', () => {
    const story = new Story().acquire(0, 'w0.1', 'a', 1);
    story.read(5, 'w0.1', 'a', 1);
    story.fault({ seq: 1, kind: 'pause-holder', lock: 'a', startedAt: 10, healedAt: 800, worker: 'w0.1' }).acquire(400, 'w1.1', 'a', 2);
    assert.ok(rules(story.input({ serverLease: false })).includes('paused-holder-keeps-lock'));
  });

  test('duplicate-token, progress and worker-error', () => {
    const story = new Story().acquire(0, 'w0.1', 'a', 1).release(5, 'w0.1', 'a', 1).acquire(10, 'w1.1', 'a', 1);
    story.events.push({ type: 'error', t: 20, worker: 'w1.1', message: 'boom' });
    assert.deepEqual(rules(story.input({ quietFrom: 50 })), ['duplicate-token', 'progress', 'worker-error']);
  });
});

describe('chaos resource server', () => {
  test('fenced: a read with a newer token fences out an older holder’s write (read-modify-write stays exact)', () => {
    const log: ResourceEntry[] = [];
    const store = new ResourceStore('fenced', (entry) => log.push(entry));
    assert.deepEqual(store.handle({ id: 1, op: 'read', name: 'a', token: '5', worker: 'x' }), { id: 1, ok: true, value: 0 });
    assert.deepEqual(store.handle({ id: 2, op: 'read', name: 'a', token: '6', worker: 'y' }), { id: 2, ok: true, value: 0 });
    assert.deepEqual(store.handle({ id: 3, op: 'write', name: 'a', token: '5', worker: 'x', value: 1 }), { id: 3, ok: false, fenced: true, highest: '6' });
    assert.deepEqual(store.handle({ id: 4, op: 'write', name: 'a', token: '6', worker: 'y', value: 1 }), { id: 4, ok: true });
    assert.deepEqual(store.values(), { a: 1 });
    assert.deepEqual(log.map((e) => [e.seq, e.op, e.accepted, e.highest]), [[1, 'read', true, null], [2, 'read', true, '5'], [3, 'write', false, '6'], [4, 'write', true, '6']]);
  });

  test('record-only: everything is admitted, the log still says what a fence would have seen', () => {
    const log: ResourceEntry[] = [];
    const store = new ResourceStore('record', (entry) => log.push(entry));
    store.handle({ id: 1, op: 'read', name: 'a', token: '6', worker: 'y' });
    assert.deepEqual(store.handle({ id: 2, op: 'write', name: 'a', token: '5', worker: 'x', value: 1 }), { id: 2, ok: true });
    assert.equal(log[1]!.highest, '6');
  });
});

describe('chaos schedule', () => {
  const timing = { durationMs: { 'pause-holder': [100, 200] as const }, gapMs: [10, 20] as const };

  test('the same seed gives the same faults; every kind comes once before any repeats', () => {
    const kinds = ['pause-holder', 'kill-holder', 'break'] as const;
    const a = new Schedule(42, kinds, 2, timing);
    const b = new Schedule(42, kinds, 2, timing);
    const first = Array.from({ length: 10 }, () => a.next());
    assert.deepEqual(first, Array.from({ length: 10 }, () => b.next()));
    assert.deepEqual(new Set(first.slice(0, 3).map((p) => p.kind)), new Set(kinds));
    assert.ok(a.covered);
    const other = new Schedule(43, kinds, 2, timing);
    assert.notDeepEqual(first, Array.from({ length: 10 }, () => other.next()));
  });
});
