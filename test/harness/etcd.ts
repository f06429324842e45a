/**
 * etcd for tests: one member or a three-member cluster on loopback, with fast raft timing.
 *
 * Each member runs `etcd --heartbeat-interval 10 --election-timeout 100` (overridable) with its
 * data directory under a fresh temporary directory; it is ready when a linearizable KV range
 * request (`POST /v3/kv/range` through etcd's JSON gateway, which needs a leader) succeeds on it.
 * Members stop with SIGKILL: SIGTERM without quorum can take seconds.
 *
 * @module
 */
import http from 'node:http';
import path from 'node:path';
import { HOST, freePorts } from './ports.js';
import { makeTempDir, removeTempDir, sleep } from './process.js';
import { serverBinaries } from './require-server.js';
import { DEFAULT_READY_TIMEOUT_MS, ManagedMember, makeHandle, retryOnPortClash, startMembers, type Member, type ServerHandle } from './server.js';

/** Options for {@link startEtcd}. */
export interface EtcdOptions {
  /** Cluster size (default 1). */
  members?: 1 | 3;
  /** `--heartbeat-interval` in ms (default 10). */
  heartbeatMs?: number;
  /** `--election-timeout` in ms (default 100). */
  electionTimeoutMs?: number;
}

/** An etcd {@link ServerHandle}; `url` is `etcd://127.0.0.1:p1[,127.0.0.1:p2,...]`. */
export interface EtcdHandle extends ServerHandle {
  readonly name: 'etcd';
  /** The member that is currently raft leader (asks each running member for its status). */
  leader(): Promise<Member>;
}

/**
 * Sends one request to etcd's v3 JSON gateway (`path` such as `/v3/kv/range`; bytes fields are
 * base64) and resolves with the parsed JSON body; `body` undefined sends a GET (e.g. `/health`,
 * or `/members` on a peer port). Rejects on a non-2xx status, an error body, or after
 * `timeoutMs`. Uses a fresh connection (no keep-alive sockets linger after a test).
 */
export function etcdRequest(endpoint: string, urlPath: string, body?: unknown, timeoutMs = 2_000): Promise<any> {
  const [host, port] = endpoint.split(':');
  const payload = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port: Number(port),
        path: urlPath,
        method: body === undefined ? 'GET' : 'POST',
        agent: false,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            return reject(new Error(`etcd ${urlPath}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          }
          if ((res.statusCode ?? 0) >= 300 || json.error !== undefined || json.code !== undefined) {
            return reject(new Error(`etcd ${urlPath}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          }
          resolve(json);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`etcd ${urlPath}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** base64 of a UTF-8 string, for etcd's JSON gateway. */
export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * Starts etcd (one member by default, or three) on free loopback ports and resolves when every
 * member serves a linearizable read. Rejects with the log tail if a member is not ready within
 * 20 s, after killing what it started.
 */
export function startEtcd(options: EtcdOptions = {}): Promise<EtcdHandle> {
  return retryOnPortClash(() => startEtcdOnce(options));
}

async function startEtcdOnce(options: EtcdOptions): Promise<EtcdHandle> {
  const started = Date.now();
  const { etcd } = serverBinaries('etcd');
  const count = options.members ?? 1;
  const heartbeat = options.heartbeatMs ?? 10;
  const election = options.electionTimeoutMs ?? 100;
  const ports = await freePorts(count * 2);
  const dir = makeTempDir('etcd');
  const names = Array.from({ length: count }, (_, i) => `etcd-${i + 1}`);
  const peerUrl = (i: number): string => `http://${HOST}:${ports[count + i]}`;
  const initialCluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
  const members = names.map((name, i) => {
    const clientPort = ports[i]!;
    const clientUrl = `http://${HOST}:${clientPort}`;
    const endpoint = `${HOST}:${clientPort}`;
    return new ManagedMember({
      name,
      ports: [clientPort, ports[count + i]!],
      dataDir: path.join(dir, name),
      logFile: path.join(dir, `${name}.log`),
      command: etcd,
      args: [
        '--name', name,
        '--data-dir', path.join(dir, name),
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl(i),
        '--initial-advertise-peer-urls', peerUrl(i),
        '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', path.basename(dir),
        '--heartbeat-interval', String(heartbeat),
        '--election-timeout', String(election),
        '--logger', 'zap',
        '--log-outputs', 'stderr',
      ],
      stopSignal: null,
      probe: async () => {
        const res = await etcdRequest(endpoint, '/v3/kv/range', { key: b64('deadbolt/harness/ready') }, 1_000);
        return res?.header?.revision !== undefined;
      },
    });
  });
  try {
    if (count > 1) {
      // A new member first asks its peers whether it was bootstrapped already, with a fixed 1 s
      // timeout per peer (etcd 3.4 has no flag for it). A peer whose port is bound but not yet
      // served eats that whole second, so starting members together costs ~2 s; starting them
      // one after another, each once the previous one serves peer traffic, costs ~0.1 s.
      for (const [i, member] of members.entries()) {
        await member.spawn();
        await waitUntil(member, `${HOST}:${ports[count + i]}`);
      }
    }
    await startMembers(members);
  } catch (error) {
    await Promise.allSettled(members.map((m) => m.kill('SIGKILL')));
    await removeTempDir(dir);
    throw error;
  }
  const base = makeHandle({ name: 'etcd', url: `etcd://${members.map((m) => m.endpoint).join(',')}`, members, dir, started });
  return {
    ...base,
    name: 'etcd',
    async leader(): Promise<Member> {
      for (const m of members) {
        if (!m.running || m.paused) continue;
        try {
          const status = await etcdRequest(m.endpoint, '/v3/maintenance/status', {}, 1_000);
          if (status.leader !== undefined && status.leader === status.header?.member_id) return m;
        } catch {
          // ask the next member
        }
      }
      throw new Error('no etcd member reports itself as leader');
    },
  };
}

/** Waits until `member`'s peer listener at `peer` serves `/members` (bounded; fails if it exits). */
async function waitUntil(member: ManagedMember, peer: string): Promise<void> {
  const deadline = Date.now() + DEFAULT_READY_TIMEOUT_MS;
  for (;;) {
    if (!member.running) return; // startMembers reports the exit with the log tail
    try {
      await etcdRequest(peer, '/members', undefined, 500);
      return;
    } catch {
      if (Date.now() > deadline) return; // startMembers reports the timeout with the log tail
      await sleep(5);
    }
  }
}
