/**
 * A throwaway single-member etcd for the benchmark: fast raft timing, free
 * loopback ports, data in a fresh temporary directory, stdin from /dev/null and
 * output to a log file (an inherited stdout would keep our pipes open), stopped
 * with SIGKILL (SIGTERM can take seconds) and its directory removed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HOST = '127.0.0.1';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0, exclusive: true }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Start etcd; resolves when it serves a linearizable read.
 * @returns {Promise<{ endpoint: string, url: string, dir: string, stop(): Promise<void> }>}
 */
export async function startEtcd({ binary = process.env.DEADBOLT_ETCD_BIN || 'etcd', dataDir } = {}) {
  const [client, peer] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'deadbolt-bench-etcd-'));
  const log = join(dir, 'etcd.log');
  const out = openSync(log, 'a');
  const child = spawn(
    binary,
    [
      '--name', 'bench',
      '--data-dir', dataDir ?? join(dir, 'data'),
      '--listen-client-urls', `http://${HOST}:${client}`,
      '--advertise-client-urls', `http://${HOST}:${client}`,
      '--listen-peer-urls', `http://${HOST}:${peer}`,
      '--initial-advertise-peer-urls', `http://${HOST}:${peer}`,
      '--initial-cluster', `bench=http://${HOST}:${peer}`,
      '--heartbeat-interval', '10',
      '--election-timeout', '100',
      '--log-outputs', 'stderr',
    ],
    { stdio: ['ignore', out, out] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('error', () => {});
  const stop = async () => {
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', () => child.kill('SIGKILL'));
  const endpoint = `${HOST}:${client}`;
  const until = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`etcd exited: ${readFileSync(log, 'utf8').slice(-2000)}`);
    try {
      const res = await fetch(`http://${endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: 'eA==' }) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      await stop();
      throw new Error('etcd not ready within 20 s');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { endpoint, url: `etcd://${endpoint}`, dir, pid: child.pid, stop };
}

/**
 * Requests etcd has received so far, per gRPC method (its Prometheus metrics:
 * one per unary call, one per message on a stream, e.g. each watch
 * create/cancel on the Watch stream, each keepalive on LeaseKeepAlive).
 * @returns {Promise<Map<string, number>>}
 */
export async function receivedByMethod(endpoint) {
  const text = await (await fetch(`http://${endpoint}/metrics`)).text();
  const counts = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('grpc_server_msg_received_total{')) continue;
    const method = /grpc_method="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (method !== undefined && value > 0) counts.set(method, (counts.get(method) ?? 0) + value);
  }
  return counts;
}

/** `after − before`, per method, leaving out methods that did not change. */
export function diffCounts(before, after) {
  const diff = new Map();
  for (const [method, value] of after) {
    const delta = value - (before.get(method) ?? 0);
    if (delta > 0) diff.set(method, delta);
  }
  return diff;
}
