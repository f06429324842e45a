/**
 * The Redis the benchmark runs against: `--url=redis://…` if given, else a
 * redis-server of our own on a free loopback port, without persistence
 * (`--save '' --appendonly no`), stdin from /dev/null and output to a log file
 * (an inherited stdout would keep our pipes open).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Start (or reach) Redis. Resolves with `{ url, host, port, stop() }` once it answers PING.
 * @param {string | undefined} url an existing server to use instead
 */
export async function startServer(url) {
  if (url) {
    const parsed = new URL(url);
    return { url, host: parsed.hostname, port: Number(parsed.port || 6379), stop: async () => {} };
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'deadbolt-bench-redis-'));
  const log = openSync(join(dir, 'redis.log'), 'a');
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', log, log],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // Ready when it answers PING (ioredis queues the command and retries the connection until then).
  const probe = new Redis({ host: '127.0.0.1', port, retryStrategy: () => 20, maxRetriesPerRequest: null });
  probe.on('error', () => {});
  await probe.ping();
  probe.disconnect();
  return {
    url: `redis://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    async stop() {
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
