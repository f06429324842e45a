/**
 * etcd's side of the core's listings and breaks (src/core/listing.ts,
 * break-lock.ts): one range read of the claim keys in scope (with their holder
 * records), for a survey one more of `<ns>/broken/`; and the break's one
 * transaction.
 *
 * The break transaction is guarded by every holder's `create_revision`: it
 * writes the break record to `<ns>/broken/<name>` and deletes the holders'
 * claim keys, or changes nothing. Their leases are left alone. Because record
 * and deletion share one revision, a displaced holder that sees its key's
 * DELETE finds its token in the record ("broken"), and so does the next holder
 * when it reports on its predecessor. The record is not attached to a lease:
 * it stays until a later break replaces it or someone deletes it by hand.
 *
 * @internal
 * @module
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import type { KeptBreak, Scan, ScannedClaim, ScanScope } from '../../core/scan.js';
import { breakFromJson, breakToJson } from '../../distributed/break-record.js';
import type { BreakRecord } from '../../distributed/driver.js';
import { encodeName, rangeEnd, type ClaimKeys } from './keys.js';
import { mapError } from './map-error.js';
import { decodeHolder } from './record.js';

/**
 * A claim key as a scan reads it: the key is what a break deletes, `order`
 * and `token` its `create_revision`, `lease` the owning lease in decimal.
 *
 * @example
 * ```ts
 * const { claims } = await scanClaims(etcd, keys, { prefix: 'jobs', exact: true, survey: false });
 * claims[0]?.key; // Buffer of '<ns>/locks/jobs/694d-1-x'
 * ```
 */
export interface EtcdListed extends ScannedClaim {
  readonly key: Buffer;
}

/**
 * The claims (and, for a survey, the break records) in `scope`.
 *
 * @example
 * ```ts
 * const scan = await scanClaims(etcd, keys, { prefix: 'billing/', exact: false, survey: true });
 * ```
 */
export async function scanClaims(etcd: Etcd3, keys: ClaimKeys, scope: ScanScope): Promise<Scan<EtcdListed>> {
  const claimKeys = scope.exact ? keys.queue(scope.prefix) : keys.listPrefix(scope.prefix);
  const brokenKeys = (): string => (scope.prefix === '' ? keys.brokenRoot : `${keys.brokenRoot}${encodeName(scope.prefix, true)}`);
  const [claims, broken] = await Promise.all([
    range(etcd, claimKeys, 'listing locks'),
    scope.survey ? range(etcd, brokenKeys(), 'reading break records') : [],
  ]);
  const name = scope.exact ? scope.prefix : undefined;
  return { claims: claims.flatMap((kv) => listed(keys, kv, name)), breaks: broken.flatMap((kv) => kept(keys, kv)) };
}

async function range(etcd: Etcd3, prefix: string, doing: string): Promise<IKeyValue[]> {
  // "" (the concurrency layout's list of every name): etcd's "\0" to "\0", every key
  const key = prefix === '' ? Buffer.from([0]) : Buffer.from(prefix);
  try {
    return (await etcd.kv.range({ key, range_end: prefix === '' ? Buffer.from([0]) : rangeEnd(key) })).kvs;
  } catch (error) {
    throw mapError(error, doing);
  }
}

/**
 * A claim key-value as a scanned claim (of `name` for an exact scan); none for
 * a key that is no claim of any name. A key deadbolt did not write is listed
 * as an exclusive claim with placeholder owner fields: its value is never read.
 */
function listed(keys: ClaimKeys, kv: IKeyValue, name: string | undefined): EtcdListed[] {
  const lease = BigInt(kv.lease);
  const classified = keys.classify(kv.key.toString('utf8'), lease, name);
  if (classified === undefined) return [];
  const revision = BigInt(kv.create_revision);
  const base = { key: kv.key, name: classified.name, mode: classified.mode, order: revision, token: revision };
  // lease 0: a key on no lease, which never expires (nothing to look up)
  const leased = lease === 0n ? base : { ...base, lease: lease.toString() };
  if (!classified.own) return [{ ...leased, owner: FOREIGN_OWNER }];
  const { owner, since, data } = decodeHolder(kv.value);
  const claim = { ...leased, owner, since };
  return [data === undefined ? claim : { ...claim, data }];
}

/** The owner fields of a claim deadbolt did not write (the placeholders of owner-record.ts). */
const FOREIGN_OWNER = Object.freeze({ id: '?', host: '?', pid: 0 });

/** A break record key-value; none for keys or values deadbolt did not write. */
function kept(keys: ClaimKeys, kv: IKeyValue): KeptBreak[] {
  let name: string;
  try {
    name = decodeURIComponent(kv.key.toString('utf8').slice(keys.brokenRoot.length));
  } catch {
    return [];
  }
  const record = breakFromJson(kv.value.toString('utf8'));
  return record === undefined ? [] : [{ name, record }];
}

/**
 * The break's transaction: `false` when a holder's key changed since the scan.
 *
 * @example
 * ```ts
 * await breakHolders(etcd, keys, 'jobs', holders, { reason: 'stuck', by: 'ops', at: new Date(), displaced });
 * ```
 */
export async function breakHolders(etcd: Etcd3, keys: ClaimKeys, name: string, holders: readonly EtcdListed[], record: BreakRecord): Promise<boolean> {
  try {
    const { succeeded } = await etcd.kv.txn({
      compare: holders.map((h) => ({ key: h.key, target: 'Create' as const, result: 'Equal' as const, create_revision: h.token.toString() })),
      success: [
        { request_put: { key: Buffer.from(keys.broken(name)), value: Buffer.from(breakToJson(record, record.displaced ?? [])) } },
        ...holders.map((h) => ({ request_delete_range: { key: h.key } })),
      ],
      failure: [],
    });
    return succeeded;
  } catch (error) {
    throw mapError(error, `breaking "${name}"`);
  }
}
