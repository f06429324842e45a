/**
 * PostgreSQL for tests: one throwaway server on loopback.
 *
 * - Data directory: a fresh temporary directory (under /dev/shm when usable, see
 *   `harnessTmpRoot`) owned by the `postgres` user when we run as root
 *   (PostgreSQL refuses to run as root), by us otherwise. `initdb` (trust auth, `--no-locale -E
 *   UTF8`, `--no-sync`) runs once per process, through `runuser -u postgres --` as root, into a
 *   template that each start copies with `cp -a` (~0.05 s on tmpfs; initdb takes 0.6–1 s).
 * - Server: the `postgres` binary itself is the member process (spawned as the `postgres` user
 *   as root, rather than daemonized by `pg_ctl`), so its PID is known and its exit is observed
 *   directly. `-k <dir>` puts the socket in the temporary directory; `listen_addresses=127.0.0.1`,
 *   `fsync=off`, `synchronous_commit=off`, `full_page_writes=off` (a killed server still recovers:
 *   only an OS crash loses unsynced data).
 * - Ready when a raw protocol startup message followed by `SELECT 1` gets ReadyForQuery.
 * - Stop: SIGQUIT to the postmaster — exactly what `pg_ctl stop -m immediate` sends — then
 *   SIGKILL to it and its backends if needed. pause/resume/kill reach the backends too.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HOST, freePort } from './ports.js';
import { makeTempDir, removeTempDir } from './process.js';
import { isRoot, serverBinaries } from './require-server.js';
import { ManagedMember, makeHandle, retryOnPortClash, startMembers, type ServerHandle } from './server.js';

/** Options for {@link startPostgres}. */
export interface PostgresOptions {
  /** Extra server settings, passed as `-c name=value` (e.g. `{ max_connections: '200' }`). */
  settings?: Record<string, string | number>;
}

/** A PostgreSQL {@link ServerHandle}; `url` is `postgres://postgres@127.0.0.1:p/postgres`. */
export interface PostgresHandle extends ServerHandle {
  readonly name: 'postgres';
  /** The directory holding the Unix socket (`-k`). */
  readonly socketDir: string;
  /**
   * Runs `sql` with `psql -X -h 127.0.0.1 -p PORT -U postgres -d postgres -v ON_ERROR_STOP=1 -Atc`
   * and resolves with its output (unaligned, tuples only, without the final newline). Rejects
   * with psql's stderr on failure.
   */
  psql(sql: string): Promise<string>;
}

interface PostgresUser {
  uid: number;
  gid: number;
}

function postgresUser(): PostgresUser {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const fields = line?.split(':');
  if (fields === undefined || fields.length < 4) throw new Error('postgres: no "postgres" user in /etc/passwd');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

function run(command: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`.trimEnd()));
      else resolve(stdout);
    });
  });
}

/** Runs `command` as the postgres user when we are root (`runuser -u postgres --`). */
function runAsOwner(command: string, args: readonly string[]): Promise<string> {
  const { runuser } = serverBinaries('postgres');
  return runuser !== null ? run(runuser, ['-u', 'postgres', '--', command, ...args]) : run(command, args);
}

/** Makes `dir` private to the server's owner (the postgres user when we are root). */
function ownDir(dir: string): void {
  if (isRoot()) {
    const { uid, gid } = postgresUser();
    fs.chownSync(dir, uid, gid);
  }
  fs.chmodSync(dir, 0o700);
}

let template: Promise<string> | undefined;

/** A freshly initdb'ed data directory, made once per process; copy it, never start it. */
function templateDataDir(): Promise<string> {
  template ??= (async () => {
    const { initdb } = serverBinaries('postgres');
    const dir = makeTempDir('postgres-template');
    ownDir(dir);
    const data = path.join(dir, 'data');
    await runAsOwner(initdb, ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-locale', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    return data;
  })();
  template.catch(() => {
    template = undefined;
  });
  return template;
}

/** Reads one backend message (type, body) from `buf` at `offset`, or undefined if incomplete. */
function readMessage(buf: Buffer, offset: number): { type: string; body: Buffer; next: number } | undefined {
  if (buf.length < offset + 5) return undefined;
  const len = buf.readInt32BE(offset + 1);
  if (buf.length < offset + 1 + len) return undefined;
  return { type: String.fromCharCode(buf[offset]!), body: buf.subarray(offset + 5, offset + 1 + len), next: offset + 1 + len };
}

/** The human-readable fields (severity, code, message) of an ErrorResponse body. */
function errorText(body: Buffer): string {
  const fields: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i]!);
    const end = body.indexOf(0, i + 1);
    fields[code] = body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return `${fields.S ?? 'ERROR'} ${fields.C ?? ''}: ${fields.M ?? ''}`;
}

/**
 * Opens a protocol-3 connection as user `postgres` to database `postgres` on 127.0.0.1:`port`
 * (trust auth), runs `SELECT 1`, and terminates. Resolves when that worked; rejects with the
 * server's error (e.g. "57P03: the database system is starting up") or on timeout.
 */
export function pgPing(port: number, timeoutMs = 2_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    let readyCount = 0;
    const finish = (error?: Error): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`postgres :${port}: no answer within ${timeoutMs} ms`)));
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish(new Error(`postgres :${port}: connection closed`)));
    socket.on('connect', () => {
      const params = Buffer.from('user\0postgres\0database\0postgres\0\0', 'utf8');
      const header = Buffer.alloc(8);
      header.writeInt32BE(8 + params.length, 0);
      header.writeInt32BE(196608, 4); // protocol 3.0
      socket.write(Buffer.concat([header, params]));
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const msg = readMessage(buf, 0);
        if (msg === undefined) return;
        buf = buf.subarray(msg.next);
        if (msg.type === 'E') return finish(new Error(`postgres :${port}: ${errorText(msg.body)}`));
        if (msg.type === 'R' && msg.body.readInt32BE(0) !== 0) {
          return finish(new Error(`postgres :${port}: server asks for authentication (code ${msg.body.readInt32BE(0)})`));
        }
        if (msg.type === 'Z') {
          readyCount++;
          if (readyCount === 1) {
            const sql = Buffer.from('SELECT 1\0', 'utf8');
            const q = Buffer.alloc(5);
            q.write('Q', 0);
            q.writeInt32BE(4 + sql.length, 1);
            socket.write(Buffer.concat([q, sql]));
          } else {
            const x = Buffer.from([0x58, 0, 0, 0, 4]); // Terminate
            socket.end(x);
            return finish();
          }
        }
      }
    });
  });
}

/**
 * Starts a throwaway PostgreSQL server on a free loopback port and resolves when it answers a
 * query. Rejects with the log tail if it is not ready within 20 s, after killing what it started.
 */
export function startPostgres(options: PostgresOptions = {}): Promise<PostgresHandle> {
  return retryOnPortClash(() => startPostgresOnce(options));
}

async function startPostgresOnce(options: PostgresOptions): Promise<PostgresHandle> {
  const started = Date.now();
  const bins = serverBinaries('postgres');
  const dir = makeTempDir('postgres');
  try {
    ownDir(dir);
    const data = path.join(dir, 'data');
    await run('cp', ['-a', await templateDataDir(), data]);
    const port = await freePort();
    const settings: Record<string, string | number> = {
      listen_addresses: HOST,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      shared_buffers: '32MB',
      log_line_prefix: '%m [%p] ',
      ...options.settings,
    };
    const user = isRoot() ? postgresUser() : undefined;
    const member = new ManagedMember({
      name: 'postgres-1',
      ports: [port],
      dataDir: data,
      logFile: path.join(dir, 'postgres.log'),
      command: bins.postgres,
      args: ['-D', data, '-p', String(port), '-k', dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
      ...(user !== undefined && { uid: user.uid, gid: user.gid }),
      env: { ...process.env, LC_ALL: 'C' },
      tree: true,
      stopSignal: 'SIGQUIT',
      probe: async () => {
        await pgPing(port, 1_000);
        return true;
      },
    });
    await startMembers([member]);
    const base = makeHandle({ name: 'postgres', url: `postgres://postgres@${HOST}:${port}/postgres`, members: [member], dir, started });
    return {
      ...base,
      name: 'postgres',
      socketDir: dir,
      async psql(sql: string): Promise<string> {
        const out = await run(bins.psql, ['-X', '-q', '-h', HOST, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-Atc', sql], 30_000);
        return out.endsWith('\n') ? out.slice(0, -1) : out;
      },
    };
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}
