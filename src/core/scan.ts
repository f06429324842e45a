/**
 * The one read an engine provides for listings, surveys and breaks: the claims
 * of a name (or of every name with a prefix) as the engine keeps them, and the
 * break records it keeps. The core (listing.ts, break-lock.ts) decides from
 * them who holds, who waits and in what order, once for every engine.
 *
 * What "held" means in a scan. Most engines keep only ordered claims: the core
 * applies the blocker rule (blocker.ts) to their `order`. An engine whose
 * server keeps the holders itself (Redis's `lock:`/`readers:` keys,
 * PostgreSQL's granted rows) says so claim by claim with `held`; the core then
 * trusts that flag and uses `order` only to sort.
 *
 * Everything in a scan comes from the engine and is untrusted: the engine
 * decodes owner records with the shared validation (owner-record.ts), and the
 * core keeps only the names in scope.
 *
 * @internal
 * @module
 */
import type { LockOwner } from '../contracts/lock-info.js';
import type { BreakRecord } from '../distributed/driver.js';
import type { EngineClaim } from './claim.js';

/**
 * What to read: the names starting with `prefix`, or with `exact` only the
 * name `prefix`; with `survey`, also every waiting claim and the kept break
 * records (without, an engine may leave out claims that cannot hold).
 *
 * @example
 * ```ts
 * const scope: ScanScope = { prefix: 'billing/', exact: false, survey: true };
 * ```
 */
export interface ScanScope {
  readonly prefix: string;
  readonly exact: boolean;
  readonly survey: boolean;
}

/**
 * One claim as a scan reports it. Engines extend it with what their break
 * needs to delete exactly this claim (a key and revision, a path and version).
 *
 * @example
 * ```ts
 * const claim: ScannedClaim = { name: 'jobs', mode: 'exclusive', order: 7n, token: 7n, owner, since: new Date(), lease: '694d' };
 * ```
 */
export interface ScannedClaim extends EngineClaim {
  readonly name: string;
  /** Decoded with the shared validation: placeholders for whatever deadbolt did not write. */
  readonly owner: LockOwner;
  /** When it was claimed or granted; absent when the engine does not keep it (Redis's waiters). */
  readonly since?: Date;
  /** The server's own verdict (Redis, PostgreSQL); absent: the core applies blocker.ts to `order`. */
  readonly held?: boolean;
  /** The latest the claim can still hold, when the engine read it with the claim. */
  readonly expiresAt?: Date;
  /** The lease's full TTL, when known. */
  readonly ttlMs?: number;
  /**
   * The recipe data stored with the claim (`ClaimRequest.data`), when it is a
   * string of at most MAX_CLAIM_DATA_BYTES; absent otherwise (untrusted: the
   * engine drops what does not fit, never throws).
   */
  readonly data?: string;
  /** Without `expiresAt`: the lease to ask `Engine.leaseState` about (one request per distinct lease). */
  readonly lease?: string;
}

/**
 * A break record the engine keeps, decoded (`breakFromJson` or the engine's own form).
 *
 * @example
 * ```ts
 * const kept: KeptBreak = { name: 'jobs', record: breakFromJson(text)! };
 * ```
 */
export interface KeptBreak {
  readonly name: string;
  readonly record: BreakRecord;
}

/**
 * A scan's answer: claims of any names in scope, in any order; break records
 * only for a survey.
 *
 * @example
 * ```ts
 * return { claims: rows.map(toClaim), breaks: [] };
 * ```
 */
export interface Scan<P extends ScannedClaim> {
  readonly claims: readonly P[];
  readonly breaks?: readonly KeptBreak[];
}

/**
 * A lease's remaining and granted time, in ms, as the engine reports it.
 *
 * @example
 * ```ts
 * const state: LeaseState = { leftMs: ttl.left * 1000, ttlMs: ttl.granted * 1000 };
 * ```
 */
export interface LeaseState {
  readonly leftMs: number;
  readonly ttlMs: number;
}
