/**
 * A deadbolt session on etcd is one lease. Every claim key is attached to it,
 * so when etcd expires or revokes the lease, every lock of the session goes
 * with it, on etcd's clock.
 *
 * The timing of keepalives is the Session's (src/distributed/session.ts): this
 * file only grants, renews once when asked, and revokes. `etcd3`'s own
 * automatic keepalive is not used.
 *
 * etcd leases have whole-second TTLs: a TTL in ms is rounded up, and etcd may
 * raise it further to its own minimum (1.5 × the election timeout, rounded up).
 * etcd's lessor looks for expired leases every 500 ms, so a lease is revoked
 * up to ~0.5 s after its TTL ran out.
 *
 * @internal
 * @module
 */
import { SessionLostError, invalidRange } from '../../errors.js';
import type { DriverSession } from '../../distributed/driver.js';
import type { EtcdClient } from './client.js';
import { isLeaseGone, mapError } from './map-error.js';

/** The smallest TTL deadbolt asks etcd for: etcd's minimum with default raft timing. */
export const MIN_TTL_MS = 2_000;

/**
 * One etcd lease.
 *
 * @example
 * ```ts
 * const session = await EtcdSession.grant(client, 10_000);
 * await session.keepAlive();
 * await session.revoke();
 * ```
 */
export class EtcdSession implements DriverSession {
  /** The lease id in hex, as `etcdctl lease list` shows it. */
  readonly id: string;
  /** The lease id. */
  readonly lease: bigint;
  readonly ttlMs: number;
  onLost?: (cause: unknown) => void;
  readonly #client: EtcdClient;
  #claims = 0;
  #revoked = false;

  private constructor(client: EtcdClient, lease: bigint, ttlMs: number) {
    this.#client = client;
    this.lease = lease;
    this.id = lease.toString(16);
    this.ttlMs = ttlMs;
  }

  /** Grant a lease of at least `ttlMs` (rounded up to whole seconds). */
  static async grant(client: EtcdClient, ttlMs: number): Promise<EtcdSession> {
    if (!(ttlMs >= MIN_TTL_MS)) {
      throw invalidRange('ttl', `at least ${MIN_TTL_MS} ms on etcd (its minimum lease TTL)`, ttlMs);
    }
    try {
      const res = await client.etcd.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000) });
      if (res.error) throw new Error(res.error);
      return new EtcdSession(client, BigInt(res.ID), Number(res.TTL) * 1000);
    } catch (error) {
      throw mapError(error, 'granting the session lease');
    }
  }

  /** Whether the lease was revoked by us. */
  get revoked(): boolean {
    return this.#revoked;
  }

  /** A number unique among this session's claims (so that no claim key is ever reused). */
  nextClaim(): number {
    return ++this.#claims;
  }

  /**
   * One LeaseKeepAlive round trip on a stream of its own, bounded by a third of
   * the TTL (the Session renews more often than that, so an answer later than
   * this is no use). Rejects with SessionLostError when etcd says the lease is gone.
   */
  async keepAlive(): Promise<void> {
    const bound = Math.min(this.#client.requestTimeout, Math.max(this.ttlMs / 3, 500));
    let stream;
    try {
      stream = await this.#client.etcd.leaseClient.leaseKeepAlive(this.#client.deadline(bound));
    } catch (error) {
      throw mapError(error, 'renewing the session lease');
    }
    let ttl: string;
    try {
      ttl = await new Promise<string>((resolve, reject) => {
        stream.on('data', (res) => resolve(res.TTL));
        stream.on('error', reject); // stays attached: a late error must not be unhandled
        stream.write({ ID: this.lease.toString() });
      });
    } catch (error) {
      throw mapError(error, 'renewing the session lease');
    } finally {
      stream.end();
    }
    if (Number(ttl) <= 0) {
      throw new SessionLostError(`etcd: session lease ${this.id} is gone (expired or revoked)`);
    }
  }

  /** Revoke the lease (etcd deletes every key attached to it). A lease already gone is not an error. */
  async revoke(): Promise<void> {
    this.#revoked = true;
    try {
      await this.#client.etcd.leaseClient.leaseRevoke({ ID: this.lease.toString() });
    } catch (error) {
      if (isLeaseGone(error)) return;
      throw mapError(error, `revoking session lease ${this.id}`);
    }
  }

  /**
   * Seconds the lease has left on etcd's clock, or `undefined` when it is gone.
   * Used for `expiresAt` in listings and to tell "expired" from "released".
   */
  static async timeToLive(client: EtcdClient, lease: bigint): Promise<number | undefined> {
    return (await EtcdSession.leaseState(client, lease))?.left;
  }

  /** Seconds left on `lease` and the TTL it was granted with; `undefined` when it is gone. */
  static async leaseState(client: EtcdClient, lease: bigint): Promise<{ left: number; granted: number } | undefined> {
    try {
      const res = await client.etcd.leaseClient.leaseTimeToLive({ ID: lease.toString() });
      const ttl = Number(res.TTL);
      return ttl < 0 ? undefined : { left: ttl, granted: Number(res.grantedTTL) };
    } catch (error) {
      if (isLeaseGone(error)) return undefined;
      throw mapError(error, `reading the TTL of lease ${lease.toString(16)}`);
    }
  }
}
