/**
 * The checker: rules over a run's recorded history (worker events, the
 * resource server's log, the nemesis's faults). Pure: it reads records and
 * returns violations and statistics, so it is tested on hand-made histories
 * (checker.test.ts) as well as on real runs.
 *
 * Safety (expected zero with fencing):
 * - `stale-write-accepted`: the resource admitted a write whose token is lower
 *   than one it had already seen for that name.
 * - `lost-update`: an admitted write did not build on the value it replaced
 *   (value ≠ stored + 1): it was computed from a read a later write superseded.
 *   Also: final value ≠ number of admitted writes.
 * - `token-regression`: among admitted writes to a name, in the resource's
 *   order, a token went down.
 * - `duplicate-token`: two grants of one name carried the same token.
 * - `exclusion`: a holder checked `guard.signal` and found it not aborted after
 *   a grant with a higher token had already been acquired (monotonic clock,
 *   both processes). The lease promise: a holder learns of its loss, from its
 *   own local deadline, before the engine can grant the lock to someone else.
 *   Holders displaced by `break` are exempt (they learn by notification, which
 *   takes a moment: fencing covers that window); they are counted apart.
 * - `stale-release`: after a holder whose lock was lost released it, the
 *   current holder's claim was deleted (it lost its lock with reason `deleted`).
 *
 * Liveness and loss signals:
 * - `recovery`: after SIGKILL of a holder, the lock is granted again within
 *   TTL (for drivers with a server lease; 0 otherwise) + the driver's
 *   `recoveryBoundMs` + a stated scheduling slack, counted from the kill, or
 *   from when someone started waiting for it if nobody was.
 * - `loss-signal` (drivers with a server lease): a holder paused past its TTL
 *   has its signal aborted at or before its first write attempt after it
 *   resumes (a `lost` event, and no check after the resume that found it not
 *   aborted); a partitioned holder still holding at its TTL hears the loss
 *   within TTL + slack.
 * - `paused-holder-keeps-lock` (drivers without one, file://): a paused holder
 *   is not told of any loss, nobody is granted its lock while it is paused,
 *   and its first write after resuming is admitted.
 * - `progress`: every lock had an admitted write after the last fault healed.
 * - `worker-error`: a worker failed outside the library's expected errors.
 *
 * @module
 */
import type { EventOf, FaultRecord, ResourceEntry, WorkerEvent } from './events.js';
import type { FaultKind } from './schedule.js';

/** The rules, in the order reports list them. */
export const RULES = [
  'stale-write-accepted',
  'lost-update',
  'token-regression',
  'duplicate-token',
  'exclusion',
  'stale-release',
  'recovery',
  'loss-signal',
  'paused-holder-keeps-lock',
  'progress',
  'worker-error',
] as const;

/** One rule's name. */
export type Rule = (typeof RULES)[number];

/** The rules that only the resource's own fence can keep (what record-only mode must break). */
export const FENCE_RULES: readonly Rule[] = ['stale-write-accepted', 'lost-update', 'token-regression'];

/** One broken rule, with what the history shows. */
export interface Violation {
  rule: Rule;
  message: string;
  /** Monotonic time it happened at, when there is one. */
  at?: number;
}

/** What the checker needs besides the records. */
export interface CheckInput {
  events: readonly WorkerEvent[];
  faults: readonly FaultRecord[];
  entries: readonly ResourceEntry[];
  /** The resource's final value per name. */
  values: Readonly<Record<string, number>>;
  locks: readonly string[];
  /** `capabilities.serverLease`. */
  serverLease: boolean;
  ttlMs: number;
  /** `capabilities.recoveryBoundMs`. */
  recoveryBoundMs: number;
  /** Allowance for scheduling on a loaded machine, added to every time bound. */
  slackMs: number;
  /** When the last fault was healed (progress is required after it). */
  quietFrom: number;
  /** When the workers were asked to stop. */
  runEnd: number;
}

/** How one kill played out. */
export interface Recovery {
  fault: number;
  /** From the kill (or the first waiter after it, if nobody was waiting) to the next grant, ms; null if never granted again. */
  ms: number | null;
  /** The most it was allowed to take, ms, from the same moment. */
  boundMs: number;
}

/** Counts for the report. */
export interface CheckStats {
  acquisitions: number;
  reads: number;
  readsFenced: number;
  writesAccepted: number;
  writesFenced: number;
  /** Write attempts made with the signal already aborted (each one a test of the fence). */
  staleAttempts: number;
  /** Releases by holders whose lock was already lost, and how many happened while someone else held it. */
  staleReleases: number;
  staleReleasesOverHolder: number;
  /** Checks by holders displaced by `break` that came after the next grant (exempt from `exclusion`). */
  breakOverlaps: number;
  losses: Record<string, number>;
  sessionsLost: number;
  acquireFailures: number;
  /** Pause faults by what the victim was doing: holding (and whether it was stopped between read and write) or not. */
  pausesOnHolder: number;
  pausesMidCycle: number;
  recoveries: Recovery[];
  worstRecoveryMs: number | null;
  /** The bound that applied to the worst recovery. */
  worstRecoveryBoundMs: number | null;
  finalValues: Record<string, number>;
}

/** The checker's verdict. */
export interface CheckResult {
  violations: Violation[];
  stats: CheckStats;
}

/** One grant of a lock, assembled from a worker's events. */
interface Grant {
  name: string;
  token: bigint;
  worker: string;
  acquiredAt: number;
  releaseStartAt?: number;
  releasedAt?: number;
  lostAt?: number;
  lostReason?: string;
  /** Checks of the signal that found it not aborted: cycle-start checks before reads, write attempts. */
  trusted: number[];
  writes: EventOf<'write'>[];
}

const key = (name: string, token: string | bigint): string => `${name}#${token}`;

/**
 * Check a run's history against every rule.
 *
 * @example
 * ```ts
 * const { violations, stats } = check({ events, faults, entries, values, locks, serverLease: true, ttlMs: 2_000, recoveryBoundMs: 1_000, slackMs: 1_500, quietFrom, runEnd });
 * assert.deepEqual(violations, []);
 * ```
 */
export function check(input: CheckInput): CheckResult {
  const violations: Violation[] = [];
  const report = (rule: Rule, message: string, at?: number): void => void violations.push(at === undefined ? { rule, message } : { rule, message, at });
  const grants = assembleGrants(input.events, report);
  const byName = grantsByName(grants);
  const stats = emptyStats(input);

  checkResource(input, report, stats);
  checkExclusion(byName, brokenTokens(input.faults), report, stats);
  checkStaleReleases(input, grants, byName, report, stats);
  checkKills(input, byName, report, stats);
  checkPauses(input, byName, report, stats);
  checkPartitions(input, byName, report);
  checkProgress(input, report);
  countEvents(input.events, stats, report);
  return { violations, stats };
}

function emptyStats(input: CheckInput): CheckStats {
  return {
    acquisitions: 0,
    reads: 0,
    readsFenced: 0,
    writesAccepted: 0,
    writesFenced: 0,
    staleAttempts: 0,
    staleReleases: 0,
    staleReleasesOverHolder: 0,
    breakOverlaps: 0,
    losses: {},
    sessionsLost: 0,
    acquireFailures: 0,
    pausesOnHolder: 0,
    pausesMidCycle: 0,
    recoveries: [],
    worstRecoveryMs: null,
    worstRecoveryBoundMs: null,
    finalValues: { ...input.values },
  };
}

type Report = (rule: Rule, message: string, at?: number) => void;

/** Every grant, keyed by name and token; a second grant with the same key is a duplicate token. */
function assembleGrants(events: readonly WorkerEvent[], report: Report): Map<string, Grant> {
  const grants = new Map<string, Grant>();
  const get = (name: string, token: string): Grant | undefined => grants.get(key(name, token));
  for (const e of [...events].sort((a, b) => a.t - b.t)) {
    switch (e.type) {
      case 'acquired': {
        const existing = get(e.name, e.token);
        if (existing !== undefined) {
          report('duplicate-token', `token ${e.token} of "${e.name}" granted to ${existing.worker} at ${fmt(existing.acquiredAt)} and again to ${e.worker} at ${fmt(e.t)}`, e.t);
          continue;
        }
        grants.set(key(e.name, e.token), { name: e.name, token: BigInt(e.token), worker: e.worker, acquiredAt: e.t, trusted: [], writes: [] });
        break;
      }
      case 'read': {
        get(e.name, e.token)?.trusted.push(e.checkedAt);
        break;
      }
      case 'write': {
        const grant = get(e.name, e.token);
        grant?.writes.push(e);
        if (!e.aborted) grant?.trusted.push(e.t);
        break;
      }
      case 'lost': {
        const grant = get(e.name, e.token);
        if (grant !== undefined && grant.lostAt === undefined) {
          grant.lostAt = e.t;
          grant.lostReason = e.reason;
        }
        break;
      }
      case 'release-start': {
        const grant = get(e.name, e.token);
        if (grant !== undefined) grant.releaseStartAt ??= e.t;
        break;
      }
      case 'released': {
        const grant = get(e.name, e.token);
        if (grant !== undefined) grant.releasedAt ??= e.t;
        break;
      }
      default:
        break;
    }
  }
  return grants;
}

function grantsByName(grants: Map<string, Grant>): Map<string, Grant[]> {
  const byName = new Map<string, Grant[]>();
  for (const grant of grants.values()) {
    const list = byName.get(grant.name) ?? [];
    list.push(grant);
    byName.set(grant.name, list);
  }
  for (const list of byName.values()) list.sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
  return byName;
}

/** The resource's log: stale tokens, lost updates, token order, and the final tally. */
function checkResource(input: CheckInput, report: Report, stats: CheckStats): void {
  const admittedWrites = new Map<string, number>();
  const highestWritten = new Map<string, bigint>();
  for (const entry of [...input.entries].sort((a, b) => a.seq - b.seq)) {
    const token = BigInt(entry.token);
    if (entry.op === 'read') {
      stats.reads++;
      if (!entry.accepted) stats.readsFenced++;
      continue;
    }
    if (!entry.accepted) {
      stats.writesFenced++;
      continue;
    }
    stats.writesAccepted++;
    admittedWrites.set(entry.name, (admittedWrites.get(entry.name) ?? 0) + 1);
    const where = `write #${entry.seq} to "${entry.name}" by ${entry.worker} (token ${entry.token})`;
    if (entry.highest !== null && token < BigInt(entry.highest)) {
      report('stale-write-accepted', `${where} admitted after token ${entry.highest} had been seen`, entry.t);
    }
    if (entry.value !== entry.prev + 1) {
      report('lost-update', `${where} stored ${entry.value}, computed from a read of ${entry.value - 1}, over ${entry.prev}`, entry.t);
    }
    const highest = highestWritten.get(entry.name);
    if (highest !== undefined && token < highest) report('token-regression', `${where} came after a write with token ${highest}`, entry.t);
    if (highest === undefined || token > highest) highestWritten.set(entry.name, token);
  }
  for (const [name, value] of Object.entries(input.values)) {
    const count = admittedWrites.get(name) ?? 0;
    if (value !== count) report('lost-update', `"${name}" ends at ${value} after ${count} admitted increments`);
  }
}

/** Tokens displaced by `break` faults. */
function brokenTokens(faults: readonly FaultRecord[]): Set<string> {
  const broken = new Set<string>();
  for (const fault of faults) for (const token of fault.displaced ?? []) broken.add(key(fault.lock, token));
  return broken;
}

/** No holder trusts its lock after a later grant of the same name was acquired. */
function checkExclusion(byName: Map<string, Grant[]>, broken: Set<string>, report: Report, stats: CheckStats): void {
  for (const list of byName.values()) {
    // laterFirst[i]: the grant with a token above list[i]'s that was acquired first.
    const laterFirst: (Grant | undefined)[] = new Array(list.length);
    for (let i = list.length - 2; i >= 0; i--) {
      const next = list[i + 1]!;
      const after = laterFirst[i + 1];
      laterFirst[i] = after === undefined || next.acquiredAt < after.acquiredAt ? next : after;
    }
    list.forEach((grant, i) => {
      const later = laterFirst[i];
      if (later === undefined) return;
      const overlapping = grant.trusted.filter((t) => t > later.acquiredAt);
      if (overlapping.length === 0) return;
      if (broken.has(key(grant.name, grant.token))) {
        stats.breakOverlaps += overlapping.length;
        return;
      }
      report(
        'exclusion',
        `${grant.worker} (token ${grant.token} of "${grant.name}") found its signal not aborted at ${fmt(overlapping[0]!)}, ` +
          `after ${later.worker} had acquired token ${later.token} at ${fmt(later.acquiredAt)}`,
        overlapping[0],
      );
    });
  }
}

/** A release by a holder whose lock was lost never deletes the current holder's claim. */
function checkStaleReleases(input: CheckInput, grants: Map<string, Grant>, byName: Map<string, Grant[]>, report: Report, stats: CheckStats): void {
  const window = Math.max(1_000, input.ttlMs);
  for (const e of input.events) {
    if (e.type !== 'release-start' || !e.lost) continue;
    stats.staleReleases++;
    const stale = grants.get(key(e.name, e.token));
    const holder = (byName.get(e.name) ?? [])
      .filter((g) => g.token > BigInt(e.token) && g.acquiredAt < e.t && (g.releaseStartAt === undefined || g.releaseStartAt > e.t))
      .at(-1);
    if (holder === undefined) continue;
    stats.staleReleasesOverHolder++;
    const until = (stale?.releasedAt ?? e.t) + window;
    if (holder.lostReason === 'deleted' && holder.lostAt! >= e.t && holder.lostAt! <= until) {
      report(
        'stale-release',
        `${e.worker} released lost token ${e.token} of "${e.name}" at ${fmt(e.t)}; the current holder ${holder.worker} (token ${holder.token}) then lost its lock as "deleted" at ${fmt(holder.lostAt!)}`,
        holder.lostAt,
      );
    }
  }
}

/** The grant `worker` held at `at`, if any. */
function heldAt(byName: Map<string, Grant[]>, worker: string | undefined, at: number): Grant | undefined {
  if (worker === undefined) return undefined;
  for (const list of byName.values()) {
    for (const grant of list) {
      if (grant.worker === worker && grant.acquiredAt <= at && (grant.releaseStartAt === undefined || grant.releaseStartAt > at)) return grant;
    }
  }
  return undefined;
}

/** When someone was first waiting for `name` at or after `from`. */
function waitingSince(events: readonly WorkerEvent[], name: string, from: number, except: string): number | undefined {
  const waitingNow = new Map<string, number>();
  for (const e of events) {
    if (e.worker === except || !('name' in e) || e.name !== name) continue;
    if (e.type === 'waiting') {
      if (e.t >= from) return waitingNow.size > 0 ? from : e.t;
      waitingNow.set(e.worker, e.t);
    } else if ((e.type === 'acquired' || e.type === 'acquire-failed') && e.t < from) {
      waitingNow.delete(e.worker);
    }
  }
  return waitingNow.size > 0 ? from : undefined;
}

function faultsOf(input: CheckInput, kind: FaultKind): FaultRecord[] {
  return input.faults.filter((f) => f.kind === kind && f.skipped === undefined);
}

/** After a holder is killed, its lock passes on within the bound. */
function checkKills(input: CheckInput, byName: Map<string, Grant[]>, report: Report, stats: CheckStats): void {
  const ttlPart = input.serverLease ? input.ttlMs : 0;
  const events = [...input.events].sort((a, b) => a.t - b.t);
  for (const fault of faultsOf(input, 'kill-holder')) {
    const killed = heldAt(byName, fault.worker, fault.startedAt);
    if (killed === undefined) continue;
    const next = (byName.get(killed.name) ?? []).filter((g) => g.token > killed.token).sort((a, b) => a.acquiredAt - b.acquiredAt)[0];
    const waitStart = waitingSince(events, killed.name, fault.startedAt, killed.worker) ?? input.runEnd;
    // Counted from the kill, or from when someone first wanted the lock if nobody was waiting.
    const from = Math.max(fault.startedAt, waitStart);
    const deadline = Math.max(fault.startedAt + ttlPart, waitStart) + input.recoveryBoundMs + input.slackMs;
    const boundMs = Math.round(deadline - from);
    const ms = next === undefined ? null : Math.round(next.acquiredAt - from);
    stats.recoveries.push({ fault: fault.seq, ms, boundMs });
    if (ms !== null && ms >= (stats.worstRecoveryMs ?? -1)) {
      stats.worstRecoveryMs = ms;
      stats.worstRecoveryBoundMs = boundMs;
    }
    if (next === undefined ? input.runEnd > deadline : next.acquiredAt > deadline) {
      report(
        'recovery',
        `fault #${fault.seq}: ${killed.worker} killed holding "${killed.name}" (token ${killed.token}); ` +
          `${ms === null ? 'never granted again' : `granted again after ${ms} ms`}, bound ${boundMs} ms ` +
          `(TTL part ${ttlPart} + recoveryBoundMs ${input.recoveryBoundMs} + slack ${input.slackMs}, counted from the kill or the first waiter after it)`,
        fault.startedAt,
      );
    }
  }
}

/** A paused holder: with a server lease it hears of its loss on resuming; without one it keeps its lock. */
function checkPauses(input: CheckInput, byName: Map<string, Grant[]>, report: Report, stats: CheckStats): void {
  for (const fault of faultsOf(input, 'pause-holder')) {
    const grant = heldAt(byName, fault.worker, fault.startedAt);
    if (grant === undefined) continue;
    stats.pausesOnHolder++;
    const firstWrite = grant.writes.filter((w) => w.t >= fault.healedAt).sort((a, b) => a.t - b.t)[0];
    if (firstWrite !== undefined && firstWrite.readAt < fault.startedAt) stats.pausesMidCycle++;
    const where = `fault #${fault.seq}: ${grant.worker} paused ${Math.round(fault.healedAt - fault.startedAt)} ms holding "${grant.name}" (token ${grant.token})`;
    if (input.serverLease) {
      if (fault.healedAt - fault.startedAt < input.ttlMs) continue;
      const trustedAfter = grant.trusted.find((t) => t >= fault.healedAt);
      if (trustedAfter !== undefined) report('loss-signal', `${where}: found its signal not aborted at ${fmt(trustedAfter)}, after resuming`, trustedAfter);
      else if (grant.lostAt === undefined) report('loss-signal', `${where}: its signal never fired`, fault.healedAt);
      else if (firstWrite !== undefined && grant.lostAt > firstWrite.t) {
        report('loss-signal', `${where}: its signal fired at ${fmt(grant.lostAt)}, after its write attempt at ${fmt(firstWrite.t)}`, firstWrite.t);
      }
      continue;
    }
    if (grant.lostAt !== undefined) report('paused-holder-keeps-lock', `${where}: was told its lock was lost (${grant.lostReason})`, grant.lostAt);
    const taken = (byName.get(grant.name) ?? []).find((g) => g.token > grant.token && g.acquiredAt >= fault.startedAt && g.acquiredAt <= fault.healedAt);
    if (taken !== undefined) report('paused-holder-keeps-lock', `${where}: ${taken.worker} was granted token ${taken.token} meanwhile`, taken.acquiredAt);
    if (firstWrite !== undefined && (firstWrite.aborted || !firstWrite.ok)) {
      report('paused-holder-keeps-lock', `${where}: its first write after resuming was ${firstWrite.aborted ? 'made with an aborted signal' : 'refused'}`, firstWrite.t);
    }
  }
}

/** A partitioned holder still holding when its TTL runs out hears of the loss by then (plus slack). */
function checkPartitions(input: CheckInput, byName: Map<string, Grant[]>, report: Report): void {
  if (!input.serverLease) return;
  for (const fault of faultsOf(input, 'partition')) {
    if (fault.healedAt - fault.startedAt < input.ttlMs) continue;
    const grant = heldAt(byName, fault.worker, fault.startedAt);
    const due = fault.startedAt + input.ttlMs;
    if (grant === undefined || (grant.releaseStartAt !== undefined && grant.releaseStartAt < due)) continue;
    if (grant.lostAt === undefined || grant.lostAt > due + input.slackMs) {
      report(
        'loss-signal',
        `fault #${fault.seq}: ${grant.worker} partitioned holding "${grant.name}" (token ${grant.token}) ` +
          `${grant.lostAt === undefined ? 'never heard of the loss' : `heard of the loss ${Math.round(grant.lostAt - fault.startedAt)} ms in`}; TTL ${input.ttlMs} + slack ${input.slackMs}`,
        due,
      );
    }
  }
}

/** Every lock was written again after the last fault healed. */
function checkProgress(input: CheckInput, report: Report): void {
  for (const name of input.locks) {
    const progressed = input.entries.some((e) => e.op === 'write' && e.accepted && e.name === name && e.t > input.quietFrom);
    if (!progressed) report('progress', `"${name}" had no admitted write between the last fault's heal (${fmt(input.quietFrom)}) and the end (${fmt(input.runEnd)})`);
  }
}

function countEvents(events: readonly WorkerEvent[], stats: CheckStats, report: Report): void {
  for (const e of events) {
    if (e.type === 'acquired') stats.acquisitions++;
    else if (e.type === 'acquire-failed') stats.acquireFailures++;
    else if (e.type === 'session-lost') stats.sessionsLost++;
    else if (e.type === 'lost') stats.losses[e.reason] = (stats.losses[e.reason] ?? 0) + 1;
    else if (e.type === 'write' && e.aborted) stats.staleAttempts++;
    else if (e.type === 'error') report('worker-error', `${e.worker}: ${e.message}`, e.t);
  }
}

/** A monotonic time as the messages show it: seconds, ms precision. */
function fmt(t: number): string {
  return `${(t / 1_000).toFixed(3)} s`;
}
