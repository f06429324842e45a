/**
 * The other languages' clients the interop tests run against (test/interop/), found on this
 * machine, with the same rule as servers (require-server.ts): missing locally is a loud skip,
 * missing in CI is a failure. `.ci/install-servers.sh` installs them all from Debian.
 *
 * - `etcdctl`: Debian's etcd-client (Go's clientv3/concurrency, which `etcdctl lock` uses);
 * - `kazoo`, `tooz`: Debian's python3-kazoo and python3-tooz, imported by /usr/bin/python3
 *   (`DEADBOLT_PYTHON` overrides it; a pyenv `python3` on PATH would not see Debian's packages).
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { isCI, which, type Requirement } from './require-server.js';

/** A foreign client an interop test needs. */
export type ClientName = 'etcdctl' | 'kazoo' | 'tooz';

const INSTALL: Record<ClientName, string> = {
  etcdctl: "install Debian's etcd-client (or run .ci/install-servers.sh)",
  kazoo: "install Debian's python3-kazoo (or run .ci/install-servers.sh)",
  tooz: "install Debian's python3-tooz (or run .ci/install-servers.sh)",
};

/** The Python that sees Debian's packages. */
export function python(env: NodeJS.ProcessEnv = process.env): string {
  return env.DEADBOLT_PYTHON || '/usr/bin/python3';
}

/** Why `name` cannot be used here, or `undefined` when it can. */
export function missingClient(name: ClientName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (name === 'etcdctl') return which('etcdctl', env) === null ? 'etcdctl not found' : undefined;
  const probe = spawnSync(python(env), ['-c', `import ${name}`], { encoding: 'utf8', timeout: 30_000 });
  return probe.status === 0 ? undefined : `${python(env)} cannot import ${name}: ${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}`;
}

/**
 * Whether an interop suite can run: as `requireServer`, for a client.
 *
 * @example
 * ```ts
 * const r = requireClient('kazoo', { suite: 'interop: kazoo' });
 * describe('interop: kazoo', { skip: r.available ? false : r.reason }, () => { … });
 * ```
 */
export function requireClient(name: ClientName, options: { suite?: string; env?: NodeJS.ProcessEnv } = {}): Requirement {
  const env = options.env ?? process.env;
  const missing = missingClient(name, env);
  if (missing === undefined) return { available: true };
  const suite = options.suite ?? `${name} interop suite`;
  const reason = `${missing}; ${INSTALL[name]}`;
  if (isCI(env)) throw new Error(`${suite} needs ${name} and CI is set, so this is a failure, not a skip: ${reason}`);
  process.stderr.write(`\nSKIPPED: ${suite} — ${reason}\n\n`);
  return { available: false, reason };
}
