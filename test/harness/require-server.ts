/**
 * Finding server binaries, and deciding what a test suite does when one is missing.
 *
 * Locally a missing server skips its suite, loudly (a line on stderr). In CI (`CI` set to
 * anything but "", "0" or "false") a missing server is a failure: {@link requireServer} throws,
 * naming what to install (`.ci/install-servers.sh` installs all of them on Debian).
 *
 * Binary locations can be overridden with environment variables:
 * `DEADBOLT_ETCD_BIN`, `DEADBOLT_REDIS_BIN`, `DEADBOLT_PG_BIN_DIR` (holding `initdb` and
 * `postgres`), `DEADBOLT_PSQL_BIN`, `DEADBOLT_JAVA_BIN`, `DEADBOLT_ZOOKEEPER_CLASSPATH`.
 *
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ServerName } from './server.js';

export type { ServerName } from './server.js';

/** Where each server's pieces live on this machine. */
export interface ServerBinaries {
  etcd: { etcd: string };
  redis: { redisServer: string };
  postgres: { binDir: string; initdb: string; postgres: string; psql: string; runuser: string | null };
  zookeeper: { java: string; classpath: string };
}

/** Result of {@link locateServer}. */
export type Located<N extends ServerName> =
  | { readonly ok: true; readonly paths: ServerBinaries[N] }
  | { readonly ok: false; readonly reason: string; readonly install: string };

const INSTALL_HINT: Record<ServerName, string> = {
  etcd: "install Debian's etcd-server (or run .ci/install-servers.sh)",
  redis: "install Debian's redis-server (or run .ci/install-servers.sh)",
  postgres: "install PostgreSQL 15 server binaries (Debian's postgresql-15, under /usr/lib/postgresql/15/bin)",
  zookeeper: "install Debian's zookeeper, which brings a Java runtime (or run .ci/install-servers.sh)",
};

/** Default Debian locations of the ZooKeeper jars (zookeeper.jar's manifest names its other dependencies). */
export const ZOOKEEPER_JARS = ['/usr/share/java/zookeeper.jar', '/usr/share/java/slf4j-simple.jar'];

/** Default PostgreSQL server binary directory (Debian). */
export const PG_BIN_DIR = '/usr/lib/postgresql/15/bin';

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Finds `name` on PATH (plus the sbin directories, which a non-root PATH may lack). */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const dirs = [...(env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function userExists(user: string): boolean {
  try {
    return fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .some((line) => line.startsWith(`${user}:`));
  } catch {
    return false;
  }
}

/** Whether this process runs as root (PostgreSQL then runs as the `postgres` user). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Locates a server's binaries without side effects. */
export function locateServer<N extends ServerName>(name: N, env: NodeJS.ProcessEnv = process.env): Located<N> {
  const install = INSTALL_HINT[name];
  const missing = (reason: string): Located<N> => ({ ok: false, reason, install });
  const found = (paths: ServerBinaries[ServerName]): Located<N> => ({ ok: true, paths: paths as ServerBinaries[N] });
  const fromEnvOrPath = (variable: string, binary: string): string | null => {
    const override = env[variable];
    if (override !== undefined && override !== '') return isExecutable(override) ? override : null;
    return which(binary, env);
  };
  switch (name) {
    case 'etcd': {
      const etcd = fromEnvOrPath('DEADBOLT_ETCD_BIN', 'etcd');
      return etcd === null ? missing('etcd binary not found') : found({ etcd });
    }
    case 'redis': {
      const redisServer = fromEnvOrPath('DEADBOLT_REDIS_BIN', 'redis-server');
      return redisServer === null ? missing('redis-server binary not found') : found({ redisServer });
    }
    case 'postgres': {
      const binDir = env.DEADBOLT_PG_BIN_DIR || PG_BIN_DIR;
      const initdb = path.join(binDir, 'initdb');
      const postgres = path.join(binDir, 'postgres');
      if (!isExecutable(initdb) || !isExecutable(postgres)) return missing(`initdb/postgres not found in ${binDir}`);
      const psql =
        (env.DEADBOLT_PSQL_BIN && isExecutable(env.DEADBOLT_PSQL_BIN) ? env.DEADBOLT_PSQL_BIN : null) ??
        (isExecutable(path.join(binDir, 'psql')) ? path.join(binDir, 'psql') : null) ??
        which('psql', env);
      if (psql === null) return missing('psql not found');
      let runuser: string | null = null;
      if (isRoot()) {
        runuser = which('runuser', env);
        if (runuser === null) return missing('running as root but runuser (util-linux) not found');
        if (!userExists('postgres')) return missing('running as root but there is no "postgres" user');
      }
      return found({ binDir, initdb, postgres, psql, runuser });
    }
    case 'zookeeper': {
      const java = fromEnvOrPath('DEADBOLT_JAVA_BIN', 'java');
      if (java === null) return missing('java not found');
      const classpath = env.DEADBOLT_ZOOKEEPER_CLASSPATH || ZOOKEEPER_JARS.join(':');
      const absent = classpath.split(':').filter((jar) => !fs.existsSync(jar));
      if (absent.length > 0) return missing(`ZooKeeper jar(s) not found: ${absent.join(', ')}`);
      return found({ java, classpath });
    }
    default:
      throw new Error(`unknown server ${String(name)}`);
  }
}

/** Locates a server's binaries or throws an error saying what to install (used by the start functions). */
export function serverBinaries<N extends ServerName>(name: N, env: NodeJS.ProcessEnv = process.env): ServerBinaries[N] {
  const located = locateServer(name, env);
  if (!located.ok) throw new Error(`${name}: ${located.reason}; ${located.install}`);
  return located.paths;
}

/** Whether `env` says we run in CI (`CI` set to anything but "", "0" or "false"). */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI;
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/** Result of {@link requireServer}: pass `r.available ? false : r.reason` as a test's `skip`. */
export type Requirement = { readonly available: true } | { readonly available: false; readonly reason: string };

/**
 * Checks that a server can be started here.
 *
 * ```ts
 * const r = requireServer('etcd');
 * test('etcd suite', { skip: r.available ? false : r.reason }, async () => { ... });
 * ```
 *
 * - available: returns `{ available: true }`;
 * - missing, not in CI: prints `SKIPPED: <suite> — <reason>; <what to install>` to stderr and
 *   returns `{ available: false, reason }`;
 * - missing, in CI (`CI` is set): throws, so the suite fails instead of silently skipping.
 *
 * @param options.suite name used in the message (default `"<name> suite"`)
 * @param options.env environment to read (default `process.env`)
 */
export function requireServer(
  name: ServerName,
  options: { suite?: string; env?: NodeJS.ProcessEnv } = {},
): Requirement {
  const env = options.env ?? process.env;
  const located = locateServer(name, env);
  if (located.ok) return { available: true };
  const suite = options.suite ?? `${name} suite`;
  const reason = `${located.reason}; ${located.install}`;
  if (isCI(env)) {
    throw new Error(`${suite} needs ${name} and CI is set, so this is a failure, not a skip: ${reason}`);
  }
  process.stderr.write(`\nSKIPPED: ${suite} — ${reason}\n\n`);
  return { available: false, reason };
}
