/**
 * The drivers the chaos suite runs, one table entry each. Adding a driver is
 * one entry: how to start its engine, which harness server it needs, its TTL.
 * Everything else (which faults apply, the liveness bound) follows from the
 * driver's own `capabilities` and from what the engine handle offers.
 *
 * An entry whose driver module (`src/drivers/<name>/index.ts`) does not exist
 * yet is skipped, loudly, everywhere, CI included: that driver is not written
 * yet. Once it exists, a missing server binary is a skip locally and a failure
 * in CI (`requireServer`).
 *
 * @module
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memorySpace, type MemorySpace } from '../../src/drivers/memory/index.js';
import {
  requireServer,
  startEtcd,
  startPostgres,
  startRedis,
  startZooKeeper,
  type Member,
  type ServerHandle,
  type ServerName,
} from '../harness/index.js';

/** A running engine, as the chaos run needs it. */
export interface Engine {
  /** The URL the operator (and, without a proxy, every worker) connects to. */
  readonly url: string;
  /** TCP engines: where each worker's partition proxy forwards to. */
  readonly upstream?: { host: string; port: number };
  /** The URL for a worker whose traffic goes through a proxy on 127.0.0.1:`port`. */
  urlThrough?(port: number): string;
  /** The engine process, for engine-pause and engine-restart. */
  readonly member?: Member;
  /** The memory engine (in-process workers are cut off through it). */
  readonly space?: MemorySpace;
  stop(): Promise<void>;
}

/** One row of the table. */
export interface ChaosDriver {
  /** The driver's directory under `src/drivers/`. */
  readonly name: string;
  /** The harness server it needs, if any. */
  readonly server?: ServerName;
  /**
   * `process`: every worker is its own process. `in-process`: the workers run
   * in the test process (the memory engine exists only in one process).
   */
  readonly hosting: 'process' | 'in-process';
  /** Session TTL for runs, in ms (raised to the driver's `minTtlMs` if below it). */
  readonly ttlMs: number;
  /** Fault window of the bounded test's fenced run, in ms (the run also lasts until every fault kind was applied once). */
  readonly testDurationMs: number;
  /** Start the engine; `dir` is the run's scratch directory. */
  start(dir: string): Promise<Engine>;
}

let spaces = 0;

/** A single-member server from the harness as an Engine, with partitions through proxies. */
function serverEngine(handle: ServerHandle): Engine {
  const member = handle.members[0]!;
  return {
    url: handle.url,
    upstream: { host: '127.0.0.1', port: member.port },
    urlThrough: (port) => handle.url.replace(member.endpoint, `127.0.0.1:${port}`),
    member,
    stop: () => handle.stop(),
  };
}

/**
 * Every driver the suite knows, in the order the suite runs them.
 *
 * @example
 * ```ts
 * const etcd = CHAOS_DRIVERS.find((d) => d.name === 'etcd')!;
 * ```
 */
export const CHAOS_DRIVERS: readonly ChaosDriver[] = [
  {
    name: 'memory',
    hosting: 'in-process',
    ttlMs: 500,
    testDurationMs: 8_000,
    start: async () => {
      const name = `chaos-${process.pid}-${++spaces}`;
      return { url: `memory://${name}`, space: memorySpace(name), stop: async () => {} };
    },
  },
  {
    name: 'file',
    hosting: 'process',
    // No lease: the kernel lock lives as long as the process. The session's local
    // deadline still exists, so it is set far beyond any pause the nemesis makes.
    ttlMs: 60_000,
    testDurationMs: 8_000,
    start: async (dir) => {
      const locks = mkdtempSync(join(dir, 'locks-'));
      return { url: `file://${locks}`, stop: async () => rmSync(locks, { recursive: true, force: true }) };
    },
  },
  {
    name: 'etcd',
    server: 'etcd',
    hosting: 'process',
    ttlMs: 2_000,
    testDurationMs: 10_000,
    start: async () => serverEngine(await startEtcd()),
  },
  {
    name: 'redis',
    server: 'redis',
    hosting: 'process',
    ttlMs: 1_000,
    testDurationMs: 10_000,
    // Durable tokens need every write on disk before the answer (DESIGN §4).
    start: async () => serverEngine(await startRedis({ appendfsync: 'always' })),
  },
  {
    name: 'postgres',
    server: 'postgres',
    hosting: 'process',
    ttlMs: 2_000,
    testDurationMs: 10_000,
    start: async () => serverEngine(await startPostgres()),
  },
  {
    name: 'zookeeper',
    server: 'zookeeper',
    hosting: 'process',
    ttlMs: 2_000,
    testDurationMs: 10_000,
    start: async () => serverEngine(await startZooKeeper()),
  },
];

/** Whether a driver can run here, and if not, why. */
export type Availability = { readonly available: true } | { readonly available: false; readonly reason: string };

/**
 * Whether `driver` can run here: its module exists, and its server is
 * installed (`requireServer`: a skip locally, a thrown error under CI).
 *
 * @example
 * ```ts
 * const a = availability(driver);
 * test(`chaos: ${driver.name}`, { skip: a.available ? false : a.reason }, …);
 * ```
 */
export function availability(driver: ChaosDriver): Availability {
  const source = fileURLToPath(new URL(`../../../src/drivers/${driver.name}/index.ts`, import.meta.url));
  if (!existsSync(source)) {
    const reason = `the ${driver.name} driver is not written yet (${source} is missing)`;
    process.stderr.write(`\nSKIPPED: chaos: ${driver.name} — ${reason}\n\n`);
    return { available: false, reason };
  }
  if (driver.server === undefined) return { available: true };
  return requireServer(driver.server, { suite: `chaos: ${driver.name}` });
}

/** The table entry called `name`, or an error listing the known ones. */
export function chaosDriver(name: string): ChaosDriver {
  const driver = CHAOS_DRIVERS.find((d) => d.name === name);
  if (driver === undefined) throw new Error(`unknown driver "${name}"; known: ${CHAOS_DRIVERS.map((d) => d.name).join(', ')}`);
  return driver;
}

/** A fresh scratch directory for one run. */
export function scratchDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `deadbolt-chaos-${label}-`));
}
