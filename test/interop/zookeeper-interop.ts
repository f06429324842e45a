/**
 * What the ZooKeeper interop suites (zookeeper-kazoo, zookeeper-tooz) share: a
 * standalone ZooKeeper from the harness, deadbolt coordinators on it, the
 * Python client of test/interop/fixtures/zk_client.py as child processes, and
 * the three checks every pairing runs (hold both ways, the mixed counter, a
 * foreign holder SIGKILLed).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../../src/distributed/connect.js';
import type { Coordinator } from '../../src/distributed/coordinator.js';
import { LockTimeoutError } from '../../src/errors.js';
import { ZkClient, zxid } from '../../src/drivers/zookeeper/client.js';
import { parseZooKeeperUrl } from '../../src/drivers/zookeeper/config.js';
import { ZkCode, zkCode } from '../../src/drivers/zookeeper/map-error.js';
import { bounded, peek } from '../conformance/harness.js';
import { spawnWorker, type Worker } from '../file/helpers.js';
import { python, startZooKeeper, type ZooKeeperHandle } from '../harness/index.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, STEADY_TTL_MS } from '../harness/bounds.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** The Python side (a source file: tsc does not copy it to dist-test). */
export const PY_CLIENT = join(repoRoot, 'test/interop/fixtures/zk_client.py');
const DEADBOLT_WORKER = fileURLToPath(new URL('./fixtures/zk-deadbolt-worker.js', import.meta.url));

/** How long one side tries while the other holds: long enough to be a real wait, short for the suite. */
export const BLOCKED_MS = 1_500;
/** The foreign session timeout of the SIGKILL test (ms; the harness's tickTime of 500 allows 1 to 10 s). */
export const SHORT_SESSION_MS = 2_000;

/** Which Python client, and how a deadbolt name maps onto its lock. */
export interface PythonSide {
  readonly client: 'kazoo' | 'tooz';
  /** The target the Python side names for deadbolt's lock `name` (kazoo: a path; tooz: a lock name). */
  target(name: string): string;
  /** The deadbolt namespace whose lock `name` is that target under `?layout=kazoo`. */
  readonly namespace: string;
  /** The lock node's path, for reading its children. */
  lockDir(name: string): string;
}

/** The environment of one interop suite. */
export class ZkInterop {
  readonly zk: ZooKeeperHandle;
  readonly hosts: string;
  readonly reader: ZkClient;
  readonly #opened: Coordinator[] = [];
  readonly #workers: Worker[] = [];
  readonly #dirs: string[] = [];

  private constructor(zk: ZooKeeperHandle, reader: ZkClient) {
    this.zk = zk;
    this.hosts = zk.endpoints.join(',');
    this.reader = reader;
  }

  static async start(): Promise<ZkInterop> {
    const zk = await startZooKeeper();
    const config = parseZooKeeperUrl(new URL(zk.url), { endpoints: [], connectTimeout: CONNECT_TIMEOUT_MS });
    return new ZkInterop(zk, await ZkClient.open(config, STEADY_TTL_MS));
  }

  async stop(): Promise<void> {
    for (const w of this.#workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.allSettled(this.#workers.map((w) => w.exited));
    await Promise.allSettled(this.#opened.map((c) => c.close()));
    await this.reader.close().catch(() => {});
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
    await this.zk.stop();
  }

  /** A deadbolt coordinator on this ZooKeeper; `layout` goes through driverOptions. */
  async deadbolt(namespace: string, layout?: 'deadbolt' | 'kazoo'): Promise<Coordinator> {
    const c = await connect(this.zk.url, {
      namespace,
      ttl: STEADY_TTL_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      ...(layout === undefined ? {} : { driverOptions: { layout } }),
    });
    this.#opened.push(c);
    return c;
  }

  /** `zk_client.py CLIENT HOSTS TARGET KIND SESSION_S MODE ...args`. */
  python(client: 'kazoo' | 'tooz', target: string, kind: 'lock' | 'read' | 'write', mode: string, args: string[] = [], sessionMs = STEADY_TTL_MS): Worker {
    const w = spawnWorker(PY_CLIENT, [PY_CLIENT, client, this.hosts, target, kind, String(sessionMs / 1_000), mode, ...args], python());
    this.#workers.push(w);
    return w;
  }

  /** A deadbolt counter process (fixtures/zk-deadbolt-worker.ts). */
  deadboltWorker(namespace: string, name: string, n: number, countFile: string, tokenFile: string): Worker {
    const w = spawnWorker(DEADBOLT_WORKER, [this.zk.url, namespace, name, 'kazoo', String(n), countFile, tokenFile]);
    this.#workers.push(w);
    return w;
  }

  /** A temporary directory removed by stop(). */
  tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'deadbolt-interop-zk-'));
    this.#dirs.push(dir);
    return dir;
  }

  /** Resolves with the children of `path` once `ok` holds for them; event-driven (children watches). */
  async untilChildren(path: string, ok: (children: string[]) => boolean, what: string): Promise<string[]> {
    return bounded(
      (async () => {
        for (;;) {
          let fired!: () => void;
          const changed = new Promise<void>((resolve) => (fired = resolve));
          let children: string[];
          try {
            children = await this.reader.getChildren(path, () => fired());
          } catch (error) {
            if (zkCode(error) !== ZkCode.NO_NODE) throw error;
            if ((await this.reader.exists(path, () => fired())) !== null) continue;
            children = [];
          }
          if (ok(children)) return children;
          await changed;
        }
      })(),
      EVENT_BOUND_MS,
      what,
    );
  }
}

/** A Python hold process that printed HELD: its node, and how to release it. */
export async function pythonHold(env: ZkInterop, side: PythonSide, name: string, kind: 'lock' | 'read' | 'write' = 'lock', sessionMs?: number): Promise<{ worker: Worker; node: string; release(): Promise<void> }> {
  const worker = env.python(side.client, side.target(name), kind, 'hold', [], sessionMs);
  const held = await bounded(worker.line(/^HELD /), EVENT_BOUND_MS, `${side.client} holding ${name}`);
  return {
    worker,
    node: held.slice('HELD '.length),
    release: async () => {
      worker.child.stdin!.write('release\n');
      await bounded(worker.line(/^RELEASED$/), EVENT_BOUND_MS, `${side.client} releasing ${name}`);
      worker.child.stdin!.end();
      await worker.exited;
    },
  };
}

/** What a Python `try` printed: `ACQUIRED` or `TIMEOUT`. */
export async function pythonTry(env: ZkInterop, side: PythonSide, name: string, kind: 'lock' | 'read' | 'write' = 'lock'): Promise<string> {
  const worker = env.python(side.client, side.target(name), kind, 'try', [String(BLOCKED_MS / 1_000)]);
  const line = await bounded(worker.line(/^(ACQUIRED|TIMEOUT)$/), EVENT_BOUND_MS, `${side.client} trying ${name}`);
  assert.equal(await worker.exited, 0, worker.stderr());
  return line;
}

/** deadbolt's acquire for BLOCKED_MS must time out. */
export async function deadboltTimesOut(c: Coordinator, name: string, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<void> {
  await assert.rejects(c.acquire(name, { timeout: BLOCKED_MS, mode }), LockTimeoutError);
}

/** Hold on either side, the other times out; after the release the waiter gets it. */
export async function holdBothWays(env: ZkInterop, side: PythonSide, name: string): Promise<void> {
  const c = await env.deadbolt(side.namespace, 'kazoo');
  // the Python side holds: deadbolt times out, then a pending acquire is granted by the release
  const python = await pythonHold(env, side, name);
  await deadboltTimesOut(c, name);
  await env.untilChildren(side.lockDir(name), (children) => children.length === 1, 'the timed-out claim withdrawn');
  const pending = c.acquire(name);
  await env.untilChildren(side.lockDir(name), (children) => children.length === 2, 'deadbolt queued behind the Python holder');
  assert.equal(await peek(pending), 'pending');
  await python.release();
  const guard = await bounded(pending, EVENT_BOUND_MS, 'deadbolt granted after the Python release');
  // deadbolt's node is kazoo's name, and its token is still the node's czxid
  const [node] = await env.reader.getChildren(side.lockDir(name));
  assert.match(node!, /^[0-9a-f]{32}__lock__\d{10}$/);
  assert.equal(zxid((await env.reader.exists(`${side.lockDir(name)}/${node}`))!.czxid), guard.token);
  // deadbolt holds: the Python side times out
  assert.equal(await pythonTry(env, side, name), 'TIMEOUT');
  await guard.release();
  assert.equal(await pythonTry(env, side, name), 'ACQUIRED');
}

/** 3 deadbolt processes and 3 Python processes × `n` increments of one file, started together. */
export async function mixedCounter(env: ZkInterop, side: PythonSide, name: string, n = 20): Promise<void> {
  const dir = env.tempDir();
  const countFile = join(dir, 'count');
  const tokenFile = join(dir, 'tokens');
  writeFileSync(countFile, '0');
  writeFileSync(tokenFile, '');
  const workers = [
    ...[0, 1, 2].map(() => env.deadboltWorker(side.namespace, name, n, countFile, tokenFile)),
    ...[0, 1, 2].map(() => env.python(side.client, side.target(name), 'lock', 'counter', [String(n), countFile])),
  ];
  await bounded(Promise.all(workers.map((w) => w.line(/^READY$/))), EVENT_BOUND_MS, 'every counter process ready');
  for (const w of workers) w.child.stdin!.write('go\n'); // the shared start: every process is connected and waiting
  await bounded(Promise.all(workers.map((w) => w.line(/^DONE /))), EVENT_BOUND_MS, 'every counter process done');
  for (const w of workers) {
    w.child.stdin!.end();
    assert.equal(await w.exited, 0, w.stderr());
  }
  assert.equal(Number(readFileSync(countFile, 'utf8')), 6 * n, 'no increment lost: never two holders at once');
  const tokens = readFileSync(tokenFile, 'utf8').trim().split('\n').map(BigInt);
  assert.equal(tokens.length, 3 * n);
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `token ${tokens[i]} after ${tokens[i - 1]}`);
}

/** A Python holder SIGKILLed: deadbolt is granted once its session expired, never before. */
export async function killedHolder(env: ZkInterop, side: PythonSide, name: string): Promise<void> {
  const c = await env.deadbolt(side.namespace, 'kazoo');
  const python = await pythonHold(env, side, name, 'lock', SHORT_SESSION_MS);
  const foreign = `${side.lockDir(name)}/${python.node}`;
  const foreignToken = zxid((await env.reader.exists(foreign))!.czxid);
  const pending = c.acquire(name);
  await env.untilChildren(side.lockDir(name), (children) => children.length === 2, 'deadbolt queued behind the Python holder');
  python.worker.child.kill('SIGKILL');
  await python.worker.exited;
  const killedAt = Date.now();
  // the process is gone but its session is not: its node stays, and deadbolt keeps waiting
  assert.notEqual(await env.reader.exists(foreign), null, 'the node outlives the process until the session expires');
  assert.equal(await peek(pending), 'pending');
  const guard = await bounded(pending, EVENT_BOUND_MS, 'deadbolt granted after the Python session expired');
  const waited = Date.now() - killedAt;
  assert.equal(await env.reader.exists(foreign), null);
  // ZooKeeper expires a session a full timeout after it last heard from it; the client pinged at
  // most a third of a timeout before the kill, so anything under two thirds would be too early
  assert.ok(waited >= (SHORT_SESSION_MS * 2) / 3 - 100, `granted ${waited} ms after the kill: before the session could have expired`);
  assert.ok(guard.token > foreignToken);
  await guard.release();
}
