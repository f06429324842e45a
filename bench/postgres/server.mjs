/**
 * The PostgreSQL the benchmark runs against: `--url=postgres://…` if given,
 * else a throwaway server of our own: `initdb` (trust auth) into a temporary
 * directory (under /dev/shm when it exists, so fsync costs what tmpfs makes it
 * cost), `postgres` on a free loopback port with `max_connections=800` (the
 * 100-waiter scenario opens one session connection per coordinator, and the
 * peer one connection per waiter), stdin from /dev/null and output to a log file.
 * As root, both run as the `postgres` user (PostgreSQL refuses root).
 *
 * Server binaries: `DEADBOLT_PG_BIN_DIR`, else /usr/lib/postgresql/15/bin.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const BIN_DIR = process.env.DEADBOLT_PG_BIN_DIR || '/usr/lib/postgresql/15/bin';

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

/** uid/gid of the `postgres` user, when we are root; else undefined. */
function postgresUser() {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, but there is no "postgres" user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Connect until the server answers (or it exits, or 20 s pass). */
async function waitReady(url, exited) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited.done) throw new Error(`postgres exited during startup (code ${exited.code})`);
    const client = new pg.Client(url);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`postgres not ready within 20 s: ${error.message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Start (or reach) PostgreSQL. Resolves with `{ url, port, stop() }` once it answers a query.
 * @param {string | undefined} url an existing server to use instead
 */
export async function startServer(url) {
  if (url) return { url, port: Number(new URL(url).port || 5432), stop: async () => {} };
  const user = postgresUser();
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'deadbolt-bench-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const asOwner = (command, args) => (user ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]);
  execFileSync(...asOwner(join(BIN_DIR, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-locale', '-E', 'UTF8', '--no-sync']), {
    stdio: 'ignore',
  });
  const port = await freePort();
  const log = openSync(join(dir, 'postgres.log'), 'a');
  const settings = {
    listen_addresses: '127.0.0.1',
    max_connections: 800, // --alt runs two builds' coordinators side by side
    shared_buffers: '64MB',
    unix_socket_directories: dir,
  };
  const args = ['-D', data, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const child = spawn(join(BIN_DIR, 'postgres'), args, {
    stdio: ['ignore', log, log],
    ...(user && { uid: user.uid, gid: user.gid }),
  });
  const exited = { done: false, code: undefined };
  const gone = new Promise((resolve) => child.once('exit', (code) => resolve(Object.assign(exited, { done: true, code }))));
  const serverUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  try {
    await waitReady(serverUrl, exited);
  } catch (error) {
    child.kill('SIGKILL');
    await gone;
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let stopped;
  return {
    url: serverUrl,
    port,
    /** Idempotent: later calls return the first call's promise. */
    stop() {
      stopped ??= (async () => {
        child.kill('SIGQUIT'); // immediate shutdown: nothing here is worth keeping
        await gone;
        rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
      })();
      return stopped;
    },
  };
}

/**
 * Bare `pg.Client`s on `url`, for the scripts that measure PostgreSQL's own
 * primitives: `connect()` opens one, `closeAll()` ends every one opened.
 * @param {string} url
 */
export function clientsOn(url) {
  const clients = [];
  return {
    async connect() {
      const client = new pg.Client(url);
      await client.connect();
      clients.push(client);
      return client;
    },
    closeAll: () => Promise.all(clients.map((c) => c.end().catch(() => {}))),
  };
}
