/**
 * The ZooKeeper driver: the recipe core (src/core/) over ZooKeeper's
 * primitives (engine.ts). Sessions are ZooKeeper sessions, each on a client of
 * its own; locks are ephemeral sequential claim nodes; waiters are woken by
 * watches. This file opens the clients, checks the server at connect, and
 * keeps the client the first session adopts.
 *
 * @internal
 * @module
 */
import { ConfigurationError, UnsupportedError } from '../../errors.js';
import { RecipeDriver } from '../../core/recipe-driver.js';
import { ZkClient } from './client.js';
import type { ZooKeeperConfig } from './config.js';
import { ZkEngine, type ZkClaim, type ZkRead, type ZkSessions } from './engine.js';
import type { ZkListed } from './listing.js';
import { isConnectionLoss, mapError, ZkCode, zkCode } from './map-error.js';
import { ZkPaths } from './paths.js';
import { ZkSession } from './session.js';

export { MIN_TTL_MS, RECOVERY_BOUND_MS, ZOOKEEPER_CAPABILITIES } from './capabilities.js';

/**
 * The Driver for `zookeeper://` URLs.
 *
 * @example
 * ```ts
 * const driver = await ZooKeeperDriver.connect(config, 'deadbolt', 10_000, signal);
 * const session = await driver.openSession(10_000, owner);
 * ```
 */
export class ZooKeeperDriver extends RecipeDriver<ZkSession, ZkClaim, ZkRead, ZkListed> {
  private constructor(config: ZooKeeperConfig, namespace: string, client: ZkClient, ttlMs: number) {
    const paths = new ZkPaths(config.chroot, namespace, config.layout);
    super(new ZkEngine(paths, new Clients(config, paths, client, ttlMs)));
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
}

/** The clients of one driver: one per session, the first opened by `connect`. */
class Clients implements ZkSessions {
  readonly #config: ZooKeeperConfig;
  readonly #paths: ZkPaths;
  readonly #clients = new Set<ZkClient>();
  /** The client opened (and checked) by connect, until a session adopts it. */
  #spare: { client: ZkClient; ttlMs: number } | undefined;
  /** The client listings and breaks use: the first one opened. */
  #main: ZkClient;

  constructor(config: ZooKeeperConfig, paths: ZkPaths, client: ZkClient, ttlMs: number) {
    this.#config = config;
    this.#paths = paths;
    this.#main = client;
    this.#spare = { client, ttlMs };
    this.#clients.add(client);
  }

  async open(ttlMs: number): Promise<ZkSession> {
    const spare = this.#spare;
    if (spare !== undefined && spare.ttlMs === ttlMs && !spare.client.expired && !spare.client.closed) {
      this.#spare = undefined;
      return ZkSession.start(spare.client, this.#paths);
    }
    const client = await ZkClient.open(this.#config, ttlMs);
    this.#clients.add(client);
    return ZkSession.start(client, this.#paths);
  }

  /** A live client for reads and breaks: the first one, or any other still open. */
  reader(): ZkClient {
    if (!this.#main.expired && !this.#main.closed) return this.#main;
    for (const client of this.#clients) if (!client.expired && !client.closed) return (this.#main = client);
    return this.#main; // every request on it fails with why it ended
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clients].map((client) => client.close()));
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
