/**
 * Redis for tests: a single server, or a Sentinel deployment (a master, replicas, three
 * sentinels), on loopback, without any Redis client package (a tiny RESP client lives here).
 *
 * Single server: `save ""` and `appendonly no` by default; `appendfsync: 'always'` gives
 * `appendonly yes` + `appendfsync always` (what a fencing counter needs to stay monotonic across a
 * crash). Ready when PING answers PONG (after AUTH when a password is set).
 *
 * Sentinel (`sentinel: true`): master `redis-1`, replicas `redis-2`.. (default two), sentinels
 * `sentinel-1..3` monitoring master name `mymaster` with quorum 2, `down-after-milliseconds` 1000
 * and `failover-timeout` 5000 (overridable). Each node has a config file in its directory, so a
 * sentinel's CONFIG REWRITE after a failover sticks across a restart. Sentinel configs start with
 * their ids and the known replicas and sentinels filled in (what sentinels persist after discovery,
 * which otherwise takes 2–10 s). Ready when every replica's link to the master is up and every
 * sentinel sees the master up, the replicas and the two other sentinels.
 * URL: `redis+sentinel://[:password@]127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/mymaster` — the hosts
 * are the sentinels, the path is the master name, the password is the data nodes' (sentinels
 * themselves have none).
 *
 * Members stop with SIGTERM (SIGKILL after 5 s).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HOST, freePorts } from './ports.js';
import { makeTempDir, removeTempDir, sleep } from './process.js';
import { serverBinaries } from './require-server.js';
import {
  DEFAULT_READY_TIMEOUT_MS,
  ManagedMember,
  makeHandle,
  retryOnPortClash,
  startMembers,
  type Member,
  type ServerHandle,
} from './server.js';

/** Options for {@link startRedis}. */
export interface RedisOptions {
  /** 'always': `appendonly yes` + `appendfsync always`; 'no' (default): no persistence at all. */
  appendfsync?: 'always' | 'no';
  /** Start a Sentinel deployment instead of a single server. */
  sentinel?: boolean;
  /** Number of replicas in the Sentinel deployment (default 2). */
  replicas?: 1 | 2;
  /** `requirepass` (and `masterauth`/`sentinel auth-pass` in the Sentinel deployment); a plain token, no spaces or quotes. */
  password?: string;
  /** Sentinel `down-after-milliseconds` (default 1000). */
  downAfterMs?: number;
  /** Sentinel `failover-timeout` (default 5000). */
  failoverTimeoutMs?: number;
}

/** Master name monitored by the harness's sentinels. */
export const SENTINEL_MASTER_NAME = 'mymaster';

/** A Redis {@link ServerHandle}. `url` is `redis://[:password@]127.0.0.1:p` or `redis+sentinel://...` (see module doc). */
export interface RedisHandle extends ServerHandle {
  readonly name: 'redis';
  readonly password: string | undefined;
  /** Data nodes: the (initial) master first, then replicas. Just the server when not Sentinel. */
  readonly dataNodes: Member[];
  /** The sentinels (empty when not Sentinel). */
  readonly sentinels: Member[];
  /** Runs one command on a member (default: the current master), authenticating data nodes. */
  command(args: readonly (string | number)[], member?: Member): Promise<RespValue>;
  /** The current master: the one sentinels name (Sentinel), or the single server. */
  master(): Promise<Member>;
}

/** A decoded RESP2 reply; error replies become {@link RespError} values (not thrown). */
export type RespValue = string | number | null | RespError | RespValue[];

/** An error reply (`-ERR ...`). */
export class RespError extends Error {
  override name = 'RespError';
}

/** Parses one RESP reply at `offset`; returns undefined if `buf` does not hold a whole one yet. */
function parseResp(buf: Buffer, offset: number): { value: RespValue; next: number } | undefined {
  const eol = buf.indexOf('\r\n', offset);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[offset]!);
  const line = buf.toString('utf8', offset + 1, eol);
  switch (type) {
    case '+':
      return { value: line, next: eol + 2 };
    case '-':
      return { value: new RespError(line), next: eol + 2 };
    case ':':
      return { value: Number(line), next: eol + 2 };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + len + 2) return undefined;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + len), next: eol + 2 + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: eol + 2 };
      const items: RespValue[] = [];
      let next = eol + 2;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buf, next);
        if (item === undefined) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`bad RESP reply type ${JSON.stringify(type)}`);
  }
}

function encodeCommand(args: readonly (string | number)[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const arg of args) {
    const s = String(arg);
    parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
  }
  return Buffer.from(parts.join(''), 'utf8');
}

/**
 * Sends commands over one fresh connection to 127.0.0.1:`port` and resolves with their replies
 * in order (error replies are {@link RespError} values). Rejects on connection errors or after
 * `timeoutMs`.
 */
export function respCommands(port: number, commands: readonly (readonly (string | number)[])[], timeoutMs = 2_000): Promise<RespValue[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    const replies: RespValue[] = [];
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`redis :${port}: no answer within ${timeoutMs} ms`)));
    socket.on('error', fail);
    socket.on('connect', () => socket.write(Buffer.concat(commands.map(encodeCommand))));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        for (;;) {
          const parsed = parseResp(buf, 0);
          if (parsed === undefined) break;
          replies.push(parsed.value);
          buf = buf.subarray(parsed.next);
          if (replies.length === commands.length) {
            socket.destroy();
            resolve(replies);
            return;
          }
        }
      } catch (error) {
        fail(error as Error);
      }
    });
    socket.on('close', () => {
      if (replies.length < commands.length) reject(new Error(`redis :${port}: connection closed after ${replies.length} replies`));
    });
  });
}

/** One command (after AUTH when `password` is given); resolves with its reply. */
export async function respCommand(port: number, args: readonly (string | number)[], password?: string, timeoutMs?: number): Promise<RespValue> {
  const commands = password === undefined ? [args] : [['AUTH', password], args];
  const replies = await respCommands(port, commands, timeoutMs);
  if (password !== undefined && replies[0] instanceof RespError) throw replies[0];
  return replies[replies.length - 1]!;
}

/** `SENTINEL master <name>` (a flat field/value array) as an object. */
function pairs(reply: RespValue): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

function configLines(settings: Record<string, string | number | undefined>, extra: string[] = []): string {
  const lines = Object.entries(settings)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${v === '' ? '""' : v}`);
  return [...lines, ...extra, ''].join('\n');
}

/**
 * Starts Redis: a single server (default) or a Sentinel deployment (`sentinel: true`), on free
 * loopback ports. Rejects with the log tail if not ready within 20 s (Sentinel: plus the time
 * sentinels need to find each other), after killing what it started.
 */
export function startRedis(options: RedisOptions = {}): Promise<RedisHandle> {
  return retryOnPortClash(() => startRedisOnce(options));
}

async function startRedisOnce(options: RedisOptions): Promise<RedisHandle> {
  const started = Date.now();
  const { redisServer } = serverBinaries('redis');
  const password = options.password;
  const durable = options.appendfsync === 'always';
  const replicaCount = options.sentinel ? (options.replicas ?? 2) : 0;
  const sentinelCount = options.sentinel ? 3 : 0;
  const ports = await freePorts(1 + replicaCount + sentinelCount);
  const dir = makeTempDir(options.sentinel ? 'redis-sentinel' : 'redis');

  const ping = (port: number) => async (): Promise<boolean> => (await respCommand(port, ['PING'], password, 1_000)) === 'PONG';

  const dataNodes: ManagedMember[] = [];
  for (let i = 0; i <= replicaCount; i++) {
    const name = `redis-${i + 1}`;
    const port = ports[i]!;
    const dataDir = path.join(dir, name);
    fs.mkdirSync(dataDir);
    const conf = path.join(dataDir, 'redis.conf');
    fs.writeFileSync(
      conf,
      configLines(
        {
          port,
          bind: HOST,
          daemonize: 'no',
          logfile: '',
          dir: dataDir,
          save: '',
          appendonly: durable ? 'yes' : 'no',
          appendfsync: durable ? 'always' : undefined,
          requirepass: password,
          masterauth: password,
          replicaof: i > 0 ? `${HOST} ${ports[0]}` : undefined,
          // Redis 7 waits 5 s before a diskless full sync, to batch replicas: not here.
          'repl-diskless-sync-delay': options.sentinel ? 0 : undefined,
        },
      ),
    );
    dataNodes.push(
      new ManagedMember({
        name,
        ports: [port],
        dataDir,
        logFile: path.join(dir, `${name}.log`),
        command: redisServer,
        args: [conf],
        stopSignal: 'SIGTERM',
        probe: ping(port),
      }),
    );
  }

  // Sentinels learn about replicas (INFO every 10 s) and each other (hello messages every 2 s)
  // slowly; the harness writes what they would persist once they had — their ids, the known
  // replicas and the known sentinels — into their config files, so they are complete at start.
  const sentinelIds = Array.from({ length: sentinelCount }, () => randomBytes(20).toString('hex'));
  const sentinelPorts = ports.slice(1 + replicaCount);
  const sentinels: ManagedMember[] = [];
  for (let i = 0; i < sentinelCount; i++) {
    const name = `sentinel-${i + 1}`;
    const port = sentinelPorts[i]!;
    const dataDir = path.join(dir, name);
    fs.mkdirSync(dataDir);
    const conf = path.join(dataDir, 'sentinel.conf');
    const m = SENTINEL_MASTER_NAME;
    fs.writeFileSync(
      conf,
      configLines({ port, bind: HOST, daemonize: 'no', logfile: '', dir: dataDir }, [
        `sentinel myid ${sentinelIds[i]}`,
        'sentinel resolve-hostnames no',
        `sentinel monitor ${m} ${HOST} ${ports[0]} 2`,
        `sentinel down-after-milliseconds ${m} ${options.downAfterMs ?? 1_000}`,
        `sentinel failover-timeout ${m} ${options.failoverTimeoutMs ?? 5_000}`,
        `sentinel parallel-syncs ${m} 1`,
        ...(password !== undefined ? [`sentinel auth-pass ${m} ${password}`] : []),
        ...dataNodes.slice(1).map((r) => `sentinel known-replica ${m} ${HOST} ${r.port}`),
        ...sentinelPorts.flatMap((p, j) => (j === i ? [] : [`sentinel known-sentinel ${m} ${HOST} ${p} ${sentinelIds[j]}`])),
      ]),
    );
    sentinels.push(
      new ManagedMember({
        name,
        ports: [port],
        dataDir,
        logFile: path.join(dir, `${name}.log`),
        command: redisServer,
        args: [conf, '--sentinel'],
        stopSignal: 'SIGTERM',
        probe: async () => (await respCommand(port, ['PING'], undefined, 1_000)) === 'PONG',
      }),
    );
  }

  const all = [...dataNodes, ...sentinels];
  try {
    await startMembers(all);
    if (options.sentinel) {
      // A replica connects from its once-a-second replication cron: up to ~1 s.
      await waitFor('replication links up and sentinels to see every replica and sentinel', async () => {
        for (const replica of dataNodes.slice(1)) {
          const info = await respCommand(replica.port, ['INFO', 'replication'], password, 1_000);
          if (typeof info !== 'string' || !info.includes('master_link_status:up')) return false;
        }
        for (const s of sentinels) {
          const state = pairs(await respCommand(s.port, ['SENTINEL', 'MASTER', SENTINEL_MASTER_NAME], undefined, 1_000));
          if (state.flags !== 'master') return false;
          if (Number(state['num-slaves']) !== replicaCount) return false;
          if (Number(state['num-other-sentinels']) !== sentinelCount - 1) return false;
        }
        return true;
      });
    }
  } catch (error) {
    await Promise.allSettled(all.map((m) => m.kill('SIGKILL')));
    await removeTempDir(dir);
    throw error;
  }

  const auth = password !== undefined ? `:${encodeURIComponent(password)}@` : '';
  const url = options.sentinel
    ? `redis+sentinel://${auth}${sentinels.map((s) => s.endpoint).join(',')}/${SENTINEL_MASTER_NAME}`
    : `redis://${auth}${dataNodes[0]!.endpoint}`;
  const base = makeHandle({ name: 'redis', url, members: all, dir, started });
  const isData = (m: Member): boolean => dataNodes.includes(m as ManagedMember);
  const master = async (): Promise<Member> => {
    if (!options.sentinel) return dataNodes[0]!;
    for (const s of sentinels) {
      if (!s.running || s.paused) continue;
      try {
        const addr = await respCommand(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER_NAME], undefined, 1_000);
        if (!Array.isArray(addr)) continue;
        const node = dataNodes.find((d) => d.port === Number(addr[1]));
        if (node !== undefined) return node;
      } catch {
        // ask the next sentinel
      }
    }
    throw new Error('no sentinel names a master');
  };
  return {
    ...base,
    name: 'redis',
    password,
    dataNodes,
    sentinels,
    master,
    async command(args, member) {
      const target = member ?? (await master());
      return respCommand(target.port, args, isData(target) ? password : undefined);
    },
  };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = DEFAULT_READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`redis: timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
    }
    await sleep(50);
  }
}
