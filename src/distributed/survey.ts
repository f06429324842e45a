/**
 * Putting a survey together: every name with its holders, its waiters and its
 * kept break record, from a driver's holder listing and its queue reading
 * (drivers whose engine gives both in one read build entries themselves).
 *
 * @internal
 * @module
 */
import type { LockInfo } from '../contracts/fenced-guard.js';
import type { BreakRecord, LockSurvey, WaiterInfo } from './driver.js';

/**
 * Merge `holders` (any order) and `queues` (names with waiters or a break record) into one survey, by name.
 *
 * @example
 * ```ts
 * const survey = mergeSurvey(await listHolders(ctx, prefix), await readQueues(ctx, prefix));
 * ```
 */
export function mergeSurvey(holders: readonly LockInfo[], queues: ReadonlyArray<{ name: string; waiters: WaiterInfo[]; lastBreak?: BreakRecord }>): LockSurvey[] {
  const byName = new Map<string, LockSurvey>();
  const entry = (name: string): LockSurvey => {
    let s = byName.get(name);
    if (s === undefined) byName.set(name, (s = { name, holders: [], waiters: [] }));
    return s;
  };
  for (const info of holders) entry(info.name).holders.push(info);
  for (const q of queues) {
    const s = entry(q.name);
    s.waiters.push(...q.waiters);
    if (q.lastBreak !== undefined) s.lastBreak = q.lastBreak;
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
