/**
 * The ZooKeeper driver: sessions are ZooKeeper sessions, locks are ephemeral
 * sequential claim nodes (lock.ts), waiters are woken by watches. This file
 * wires the pieces to the Driver contract, checks the server at connect, and
 * states what the driver guarantees.
 *
 * @internal
 * @module
 */
import { ConfigurationError, UnsupportedError } from '../../errors.js';
import type { BreakRecord, Capabilities, Driver, DriverLock, DriverSession, LockRequest, LockSurvey } from '../../distributed/driver.js';
import type { LockInfo, LockOwner } from '../../contracts/fenced-guard.js';
import { breakLock } from './break.js';
import { ZkClient } from './client.js';
import type { ZooKeeperConfig } from './config.js';
import { listHolders, readHolders, surveyLocks } from './holders.js';
import { acquireLock } from './lock.js';
import { isConnectionLoss, mapError, ZkCode, zkCode } from './map-error.js';
import { ZkPaths } from './paths.js';
import { ZkSession } from './session.js';

/**
 * The smallest TTL deadbolt asks ZooKeeper for. A server grants session
 * timeouts between 2× and 20× its `tickTime` (2 s by default, so 4 s); it
 * raises a smaller request to its minimum, and `session.ttlMs` reports that.
 *
 * @example
 * ```ts
 * await connect('zookeeper://10.0.0.1:2181', { ttl: MIN_TTL_MS }); // the server may raise it
 * ```
 */
export const MIN_TTL_MS = 1_000;

/**
 * Beyond the session timeout, the most it takes for a dead holder's lock to
 * pass on: ZooKeeper expires sessions in buckets of one `tickTime` (2 s by
 * default), then deletes the session's nodes in one transaction, and the
 * waiter's watch fires at once. Measured with tickTime 500: 0.3–0.6 s.
 *
 * @example
 * ```ts
 * const worstCase = coordinator.session.ttlMs + RECOVERY_BOUND_MS;
 * ```
 */
export const RECOVERY_BOUND_MS = 2_500;

/**
 * What the ZooKeeper driver guarantees.
 *
 * @example
 * ```ts
 * ZOOKEEPER_CAPABILITIES.durableTokens; // true: tokens are zxids from the transaction log
 * ```
 */
export const ZOOKEEPER_CAPABILITIES: Capabilities = Object.freeze({
  shared: true,
  durableTokens: true,
  serverLease: true,
  waitNotifications: true,
  breakable: true,
  minTtlMs: MIN_TTL_MS,
  recoveryBoundMs: RECOVERY_BOUND_MS,
  notes: Object.freeze([
    "Fencing tokens are the claim nodes' czxid: strictly increasing per name, with gaps, shared by the whole ensemble; " +
      'they survive restarts as long as the members keep their data directories.',
    "The TTL is the session timeout the server negotiates: it clamps the request into [2, 20] × its tickTime " +
      '(4–40 s by default); coordinator.session.ttlMs is the value granted.',
    'A dead holder loses its lock up to one server tickTime after the session timeout; after a leader change the new ' +
      'leader restarts every session timeout, so it may then take up to twice the TTL.',
    'One empty persistent node per distinct lock name stays behind (<namespace>/locks/<name>); deleting idle ones is safe.',
    'Predecessor reports: "released" means the predecessor let go while its session lived; "expired" that its session ' +
      'had ended (which is also what a holder that released and closed its session at once looks like).',
  ]) as string[],
});

/**
 * The Driver for `zookeeper://` URLs.
 *
 * @example
 * ```ts
 * const driver = await ZooKeeperDriver.connect(config, 'deadbolt', 10_000);
 * const session = await driver.openSession(10_000, owner);
 * const lock = await driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, signal);
 * ```
 */
export class ZooKeeperDriver implements Driver {
  readonly backend = 'zookeeper';
  readonly capabilities = ZOOKEEPER_CAPABILITIES;
  readonly #config: ZooKeeperConfig;
  readonly #paths: ZkPaths;
  readonly #clients = new Set<ZkClient>();
  /** The client opened (and checked) by connect, until a session adopts it. */
  #spare: { client: ZkClient; ttlMs: number } | undefined;
  /** The client listings and breaks use: the first one opened. */
  #main: ZkClient;

  private constructor(config: ZooKeeperConfig, namespace: string, client: ZkClient, ttlMs: number) {
    this.#config = config;
    this.#paths = new ZkPaths(config.chroot, namespace);
    this.#main = client;
    this.#spare = { client, ttlMs };
    this.#clients.add(client);
  }

  /**
   * Open a session asking for `ttlMs`, and check the ensemble: the chroot must
   * exist (ConfigurationError), the server must know `multi` (ZooKeeper 3.4+;
   * UnsupportedError). The session is kept for the first `openSession`.
   */
  static async connect(config: ZooKeeperConfig, namespace: string, ttlMs: number, signal?: AbortSignal): Promise<ZooKeeperDriver> {
    const client = await ZkClient.open(config, ttlMs, signal);
    try {
      await checkServer(client, config);
    } catch (error) {
      await client.close();
      throw error;
    }
    return new ZooKeeperDriver(config, namespace, client, ttlMs);
  }

  async openSession(ttlMs: number, _owner: LockOwner): Promise<DriverSession> {
    const spare = this.#spare;
    if (spare !== undefined && spare.ttlMs === ttlMs && !spare.client.expired && !spare.client.closed) {
      this.#spare = undefined;
      return ZkSession.start(spare.client, this.#paths);
    }
    const client = await ZkClient.open(this.#config, ttlMs);
    this.#clients.add(client);
    return ZkSession.start(client, this.#paths);
  }

  async acquire(request: LockRequest, signal: AbortSignal): Promise<DriverLock> {
    return (await acquireLock(this.#paths, request, signal, true))!; // waiting never ends without a lock
  }

  tryAcquire(request: LockRequest): Promise<DriverLock | undefined> {
    return acquireLock(this.#paths, request, undefined, false);
  }

  list(prefix: string): Promise<LockInfo[]> {
    return listHolders(this.#client(), this.#paths, prefix);
  }

  async holders(name: string): Promise<LockInfo[]> {
    return (await readHolders(this.#client(), this.#paths, name)).map((holder) => holder.info);
  }

  survey(prefix: string): Promise<LockSurvey[]> {
    return surveyLocks(this.#client(), this.#paths, prefix);
  }

  break(name: string, record: BreakRecord): Promise<LockInfo[]> {
    return breakLock(this.#client(), this.#paths, name, record);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clients].map((client) => client.close()));
  }

  /** A live client for reads and breaks: the first one, or any other still open. */
  #client(): ZkClient {
    if (!this.#main.expired && !this.#main.closed) return this.#main;
    for (const client of this.#clients) if (!client.expired && !client.closed) return (this.#main = client);
    return this.#main; // every request on it fails with why it ended
  }
}

/** The checks of `connect`: the chroot exists, and the server knows `multi`. */
async function checkServer(client: ZkClient, config: ZooKeeperConfig): Promise<void> {
  const where = config.endpoints.join(',');
  if (config.chroot !== '') {
    const stat = await client.exists(config.chroot).catch((error: unknown) => {
      throw mapError(error, `checking the chroot ${config.chroot}`);
    });
    if (stat === null) {
      throw new ConfigurationError(
        `the chroot ${config.chroot} of zookeeper://${where}${config.chroot} does not exist on that ensemble; ` +
          `create it first (zkCli.sh create ${config.chroot}) or remove it from the URL`,
      );
    }
  }
  try {
    await client.multi([]);
  } catch (error) {
    if (zkCode(error) === ZkCode.UNIMPLEMENTED || isConnectionLoss(error)) {
      throw new UnsupportedError(
        `the ZooKeeper server at ${where} does not support multi-operation transactions: deadbolt needs ZooKeeper 3.4 or later (3.8 is tested)`,
        { cause: error },
      );
    }
    throw mapError(error, 'checking the server');
  }
}
