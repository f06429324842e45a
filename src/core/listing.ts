/**
 * Who holds, who waits and in what order, for `list()`, `holders()`,
 * `survey()` and `break()` on every engine: one `scan` of the engine's claims
 * (scan.ts), then the queue rule (blocker.ts, or the server's own `held`
 * verdict), then LockInfo with the holder's expiry. A listing costs the
 * engine's scan plus, for engines that name leases instead of expiries, one
 * lease lookup per distinct lease among the holders (not the waiters).
 *
 * @internal
 * @module
 */
import type { LockInfo } from '../contracts/lock-info.js';
import type { DriverSession, LockSurvey, WaiterInfo } from '../distributed/driver.js';
import { mergeSurvey } from '../distributed/survey.js';
import { byOrder, holdersOf } from './blocker.js';
import type { ClaimsRead, EngineClaim, Engine } from './engine.js';
import type { LeaseState, ScannedClaim, ScanScope } from './scan.js';

/** An engine as the listings see it: only its scan, lease lookup and backend name matter. */
type Scanner<P extends ScannedClaim> = Pick<Engine<DriverSession, EngineClaim, ClaimsRead<EngineClaim>, P>, 'backend' | 'scan' | 'leaseState'>;

/**
 * One name's claims, split: holders and waiters, each oldest first.
 *
 * @example
 * ```ts
 * for (const { name, holders, waiters } of queues(scan.claims, scope)) console.log(name, holders.length, waiters.length);
 * ```
 */
export interface NameQueue<P extends ScannedClaim> {
  readonly name: string;
  readonly holders: P[];
  readonly waiters: P[];
}

/**
 * The claims in `scope`, by name (sorted), each split into holders and waiters.
 * Names out of scope are dropped: an engine's range read may return more (an
 * encoded prefix is not a decoded one), and what the engine returns is untrusted.
 *
 * @example
 * ```ts
 * const [jobs] = queues(scan.claims, { prefix: 'jobs', exact: true, survey: false });
 * ```
 */
export function queues<P extends ScannedClaim>(claims: readonly P[], scope: ScanScope): NameQueue<P>[] {
  const byName = new Map<string, P[]>();
  for (const claim of claims) {
    if (scope.exact ? claim.name !== scope.prefix : !claim.name.startsWith(scope.prefix)) continue;
    const queue = byName.get(claim.name);
    if (queue === undefined) byName.set(claim.name, [claim]);
    else queue.push(claim);
  }
  return [...byName.keys()].sort(compareNames).map((name) => split(name, byName.get(name)!.sort(byOrder)));
}

/** The server's verdict where the engine gives one, else the blocker rule on `order` (`queue` is sorted, so the holders are its head). */
function split<P extends ScannedClaim>(name: string, queue: P[]): NameQueue<P> {
  if (queue.some((claim) => claim.held !== undefined)) {
    return { name, holders: queue.filter((claim) => claim.held === true), waiters: queue.filter((claim) => claim.held !== true) };
  }
  const holders = holdersOf(queue);
  return { name, holders, waiters: queue.slice(holders.length) };
}

/**
 * Holders as LockInfo, with `expiresAt` and `ttlMs` from the scan or, for a
 * claim that names a lease, from one `leaseState` per distinct lease (a failed
 * lookup leaves the expiry out rather than failing the listing).
 *
 * @example
 * ```ts
 * const infos = await describe(engine, holders);
 * ```
 */
export async function describe<P extends ScannedClaim>(engine: Scanner<P>, holders: readonly P[]): Promise<LockInfo[]> {
  const now = Date.now();
  const leases = new Map<string, LeaseState | undefined>();
  const lookup = engine.leaseState?.bind(engine);
  if (lookup !== undefined) {
    const wanted = [...new Set(holders.filter((h) => h.expiresAt === undefined && h.lease !== undefined).map((h) => h.lease!))];
    await Promise.all(wanted.map(async (lease) => leases.set(lease, await lookup(lease).catch(() => undefined))));
  }
  return holders.map((claim) => {
    const info: LockInfo = { name: claim.name, mode: claim.mode, token: claim.token, owner: claim.owner, since: claim.since ?? new Date(0), backend: engine.backend };
    const lease = claim.lease === undefined ? undefined : leases.get(claim.lease);
    const expiresAt = claim.expiresAt ?? (lease === undefined ? undefined : new Date(now + lease.leftMs));
    const ttlMs = claim.ttlMs ?? lease?.ttlMs;
    if (expiresAt !== undefined) info.expiresAt = expiresAt;
    if (ttlMs !== undefined) info.ttlMs = ttlMs;
    if (claim.data !== undefined) info.data = claim.data;
    return info;
  });
}

/**
 * The holders of every name starting with `prefix`, by name then queue order.
 *
 * @example
 * ```ts
 * for (const info of await listHolders(engine, 'billing/')) console.log(info.name, info.owner.pid);
 * ```
 */
export async function listHolders<P extends ScannedClaim>(engine: Scanner<P>, prefix: string): Promise<LockInfo[]> {
  const scope: ScanScope = { prefix, exact: false, survey: false };
  return describe(engine, queues((await engine.scan(scope)).claims, scope).flatMap((q) => q.holders));
}

/**
 * The claims holding `name` now, oldest first (what `break` displaces).
 *
 * @example
 * ```ts
 * const held = await heldClaims(engine, 'jobs');
 * ```
 */
export async function heldClaims<P extends ScannedClaim>(engine: Scanner<P>, name: string): Promise<P[]> {
  const scope: ScanScope = { prefix: name, exact: true, survey: false };
  return queues((await engine.scan(scope)).claims, scope)[0]?.holders ?? [];
}

/**
 * The current holders of `name`.
 *
 * @example
 * ```ts
 * const [holder] = await nameHolders(engine, 'jobs');
 * ```
 */
export async function nameHolders<P extends ScannedClaim>(engine: Scanner<P>, name: string): Promise<LockInfo[]> {
  return describe(engine, await heldClaims(engine, name));
}

/**
 * The holders, waiters (queue order) and kept break records of every name
 * starting with `prefix`, from one scan.
 *
 * @example
 * ```ts
 * for (const s of await surveyLocks(engine, '')) console.log(s.name, s.holders.length, s.waiters.length, s.lastBreak?.reason);
 * ```
 */
export async function surveyLocks<P extends ScannedClaim>(engine: Scanner<P>, prefix: string): Promise<LockSurvey[]> {
  const scope: ScanScope = { prefix, exact: false, survey: true };
  const scan = await engine.scan(scope);
  const named = queues(scan.claims, scope);
  const found: Array<{ name: string; waiters: WaiterInfo[]; lastBreak?: LockSurvey['lastBreak'] }> = named
    .filter((q) => q.waiters.length > 0)
    .map((q) => ({ name: q.name, waiters: q.waiters.map(waiterInfo) }));
  for (const kept of scan.breaks ?? []) if (kept.name.startsWith(prefix)) found.push({ name: kept.name, waiters: [], lastBreak: kept.record });
  return mergeSurvey(await describe(engine, named.flatMap((q) => q.holders)), found);
}

function waiterInfo(claim: ScannedClaim): WaiterInfo {
  return claim.since === undefined ? { mode: claim.mode, owner: claim.owner } : { mode: claim.mode, owner: claim.owner, since: claim.since };
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
