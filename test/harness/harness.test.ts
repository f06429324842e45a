/**
 * Tests of the real-server harness itself: every server starts (single and cluster), answers a
 * real request, survives the member operations tests rely on (pause, kill, restart, failover),
 * and leaves nothing behind (PIDs gone, ports closed, temporary directories removed), including
 * when the test process exits or is killed without stopping it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { b64, etcdRequest, startEtcd } from './etcd.js';
import { freePorts, isPortOpen } from './ports.js';
import { pgPing, startPostgres } from './postgres.js';
import { descendants, harnessTmpRoot, isAlive, makeTempDir, sleep } from './process.js';
import { RespError, respCommand, startRedis } from './redis.js';
import { isCI, requireServer } from './require-server.js';
import { ManagedMember, type Member, type ServerHandle } from './server.js';
import { startZooKeeper, zkHandshake, zkMode } from './zookeeper.js';
import { EVENT_BOUND_MS, HANG_GUARD_MS } from './bounds.js';

const TIMEOUT = HANG_GUARD_MS;

/** Stops `handle` and checks that nothing of it is left: processes, ports, directory. */
async function stopAndAssertGone(handle: ServerHandle, extraPids: number[] = []): Promise<void> {
  const pids = [...handle.members.map((m) => m.pid), ...extraPids];
  const ports = handle.members.flatMap((m) => m.ports);
  await handle.stop();
  await handle.stop(); // idempotent
  for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} still alive after stop`);
  for (const port of ports) assert.equal(await isPortOpen(port), false, `port ${port} still open after stop`);
  assert.equal(fs.existsSync(handle.dir), false, `${handle.dir} still exists after stop`);
}

/** Polls `check` until it returns a value other than undefined, for at most `ms`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = EVENT_BOUND_MS): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(50);
  }
}

function report(t: TestContext, handle: ServerHandle): void {
  t.diagnostic(`${handle.name} ${handle.members.length} member(s) ready in ${handle.startupMs} ms: ${handle.url}`);
}

function skipUnless(name: Parameters<typeof requireServer>[0]): false | string {
  const r = requireServer(name, { suite: `harness ${name} tests` });
  return r.available ? false : r.reason;
}

describe('ports', () => {
  test('freePorts hands out distinct ports one can listen on', async () => {
    const ports = await freePorts(6);
    assert.equal(new Set(ports).size, 6);
    const again = await freePorts(6);
    assert.equal(new Set([...ports, ...again]).size, 12, 'never hands out the same port twice');
    for (const port of ports) {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
      assert.equal(await isPortOpen(port), true);
      await new Promise((resolve) => server.close(resolve));
      assert.equal(await isPortOpen(port), false);
    }
  });
});

describe('requireServer', () => {
  const missing = { PATH: '/nonexistent', DEADBOLT_ETCD_BIN: '/nonexistent/etcd' };

  test('skips loudly when a server is missing outside CI', (t) => {
    const lines: string[] = [];
    t.mock.method(process.stderr, 'write', (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const r = requireServer('etcd', { suite: 'etcd suite', env: { ...missing } });
    t.mock.restoreAll();
    assert.equal(r.available, false);
    assert.match(r.available ? '' : r.reason, /etcd-server/);
    assert.match(lines.join(''), /SKIPPED: etcd suite — etcd binary not found; install Debian's etcd-server/);
  });

  test('fails (throws) when a server is missing in CI', () => {
    assert.throws(() => requireServer('etcd', { env: { ...missing, CI: 'true' } }), /CI is set.*etcd-server/);
    assert.equal(isCI({ CI: 'false' }), false);
    assert.equal(isCI({ CI: '0' }), false);
    assert.equal(isCI({ CI: '1' }), true);
  });

  test('finds the installed servers', () => {
    for (const name of ['etcd', 'redis', 'postgres', 'zookeeper'] as const) {
      const r = requireServer(name, { suite: `harness ${name} tests` });
      if (isCI()) assert.equal(r.available, true);
    }
  });
});

describe('member lifecycle', () => {
  test('a member that never becomes ready is killed and reported with its log tail', async () => {
    const dir = makeTempDir('lifecycle');
    const port = (await freePorts(1))[0]!;
    const member = new ManagedMember({
      name: 'sleeper',
      ports: [port],
      dataDir: dir,
      logFile: path.join(dir, 'sleeper.log'),
      command: '/bin/sh',
      args: ['-c', 'echo sleeper-was-here; exec sleep 600'],
      stopSignal: 'SIGTERM',
      probe: async () => false,
      readyTimeoutMs: 300,
    });
    await assert.rejects(member.start(), /sleeper \(pid \d+\) not ready within 300 ms[\s\S]*sleeper-was-here/);
    assert.equal(member.running, false);
    assert.equal(isAlive(member.pid), false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a server that exits at start is reported at once and its directory removed', { skip: skipUnless('redis') }, async () => {
    const before = new Set(fs.readdirSync(harnessTmpRoot()).filter((e) => e.startsWith('deadbolt-harness-redis-')));
    const saved = process.env.DEADBOLT_REDIS_BIN;
    process.env.DEADBOLT_REDIS_BIN = '/bin/false';
    try {
      await assert.rejects(startRedis(), /redis-1 exited before it was ready \(exit code 1\)/);
    } finally {
      if (saved === undefined) delete process.env.DEADBOLT_REDIS_BIN;
      else process.env.DEADBOLT_REDIS_BIN = saved;
    }
    const after = fs.readdirSync(harnessTmpRoot()).filter((e) => e.startsWith('deadbolt-harness-redis-') && !before.has(e));
    assert.deepEqual(after, []);
  });
});

describe('etcd', { skip: skipUnless('etcd'), timeout: TIMEOUT }, () => {
  test('single member: KV round trip, crash restart keeps data, stop leaves nothing', async (t) => {
    const etcd = await startEtcd();
    t.after(() => etcd.stop());
    report(t, etcd);
    assert.match(etcd.url, /^etcd:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(etcd.endpoints, [etcd.members[0]!.endpoint]);
    const [endpoint] = etcd.endpoints as [string];
    await etcdRequest(endpoint, '/v3/kv/put', { key: b64('k'), value: b64('v1') });
    const member = etcd.members[0]!;
    const oldPid = member.pid;
    await member.restart();
    assert.notEqual(member.pid, oldPid);
    assert.equal(isAlive(oldPid), false);
    const res = await etcdRequest(endpoint, '/v3/kv/range', { key: b64('k') });
    assert.equal(Buffer.from(res.kvs[0].value, 'base64').toString(), 'v1');
    assert.equal((await etcd.leader()).name, 'etcd-1');
    await stopAndAssertGone(etcd);
  });

  test('three members: replication, pause, leader loss and restart', async (t) => {
    const etcd = await startEtcd({ members: 3 });
    t.after(() => etcd.stop());
    report(t, etcd);
    assert.equal(etcd.endpoints.length, 3);
    assert.equal(etcd.url, `etcd://${etcd.endpoints.join(',')}`);
    await etcdRequest(etcd.endpoints[0]!, '/v3/kv/put', { key: b64('k'), value: b64('v1') });
    const read = await etcdRequest(etcd.endpoints[2]!, '/v3/kv/range', { key: b64('k') });
    assert.equal(Buffer.from(read.kvs[0].value, 'base64').toString(), 'v1');

    const leader = await etcd.leader();
    const followers = etcd.members.filter((m) => m !== leader);
    followers[0]!.pause();
    await etcdRequest(followers[1]!.endpoint, '/v3/kv/put', { key: b64('k'), value: b64('v2') });
    followers[0]!.resume();
    await followers[0]!.waitReady();

    await leader.kill();
    const started = Date.now();
    const next = await eventually('a new etcd leader', async () => {
      const m = await etcd.leader();
      return m !== leader ? m : undefined;
    });
    t.diagnostic(`etcd new leader ${next.name} after ${Date.now() - started} ms`);
    await etcdRequest(next.endpoint, '/v3/kv/put', { key: b64('k'), value: b64('v3') });
    await leader.restart();
    const res = await etcdRequest(leader.endpoint, '/v3/kv/range', { key: b64('k') });
    assert.equal(Buffer.from(res.kvs[0].value, 'base64').toString(), 'v3');
    await stopAndAssertGone(etcd);
  });
});

describe('redis', { skip: skipUnless('redis'), timeout: TIMEOUT }, () => {
  test('single server without persistence', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    report(t, redis);
    assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await redis.command(['SET', 'k', 'v']), 'OK');
    assert.equal(await redis.command(['GET', 'k']), 'v');
    assert.deepEqual(await redis.command(['CONFIG', 'GET', 'appendonly']), ['appendonly', 'no']);
    assert.deepEqual(await redis.command(['CONFIG', 'GET', 'save']), ['save', '']);
    await stopAndAssertGone(redis);
  });

  test('appendfsync always with a password: a counter survives SIGKILL', async (t) => {
    const redis = await startRedis({ appendfsync: 'always', password: 's3cret' });
    t.after(() => redis.stop());
    report(t, redis);
    assert.match(redis.url, /^redis:\/\/:s3cret@127\.0\.0\.1:\d+$/);
    const noAuth = await respCommand(redis.members[0]!.port, ['PING']);
    assert.ok(noAuth instanceof RespError && /NOAUTH/.test(noAuth.message));
    assert.deepEqual(await redis.command(['CONFIG', 'GET', 'appendfsync']), ['appendfsync', 'always']);
    for (let i = 0; i < 3; i++) await redis.command(['INCR', 'fence']);
    await redis.members[0]!.restart();
    assert.equal(await redis.command(['GET', 'fence']), '3');
    await stopAndAssertGone(redis);
  });

  test('sentinel: master, replicas, sentinels, and a failover', async (t) => {
    const redis = await startRedis({ sentinel: true, password: 'pw' });
    t.after(() => redis.stop());
    report(t, redis);
    assert.equal(redis.dataNodes.length, 3);
    assert.equal(redis.sentinels.length, 3);
    assert.equal(redis.members.length, 6);
    assert.equal(redis.url, `redis+sentinel://:pw@${redis.sentinels.map((s) => s.endpoint).join(',')}/mymaster`);
    const master = await redis.master();
    assert.equal(master, redis.dataNodes[0]);
    assert.equal(await redis.command(['SET', 'k', 'v']), 'OK');
    assert.equal(await redis.command(['WAIT', 2, 5000]), 2);
    const replicaRole = (await redis.command(['ROLE'], redis.dataNodes[1])) as string[];
    assert.equal(replicaRole[0], 'slave');

    await master.kill();
    const started = Date.now();
    const next = await eventually('a sentinel failover', async () => {
      const m = await redis.master();
      if (m === master) return undefined;
      const role = (await redis.command(['ROLE'], m)) as string[];
      return role[0] === 'master' ? m : undefined;
    });
    t.diagnostic(`redis sentinel failover to ${next.name} in ${Date.now() - started} ms`);
    assert.equal(await redis.command(['GET', 'k']), 'v');
    // The old master rejoins; sentinels make it a replica of the new master, but only after it
    // has reported the master role for 8 s (Redis's own grace period), so don't wait for that.
    await master.restart();
    assert.equal(await redis.command(['PING'], master), 'PONG');
    await stopAndAssertGone(redis);
  });
});

describe('postgres', { skip: skipUnless('postgres'), timeout: TIMEOUT }, () => {
  test('start, query, pause, crash restart, stop takes the backends too', async (t) => {
    const pg = await startPostgres();
    t.after(() => pg.stop());
    report(t, pg);
    assert.match(pg.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    assert.equal(await pg.psql('select 1'), '1');
    await pg.psql('create table t (v int); insert into t values (42)');
    const port = pg.members[0]!.port;

    pg.members[0]!.pause();
    await assert.rejects(pgPing(port, 300), /no answer/);
    pg.members[0]!.resume();
    await pgPing(port);

    const member = pg.members[0]!;
    await member.restart();
    assert.equal(await pg.psql('select v from t'), '42');

    // Hold a session open so that a backend exists, then check stop removes it too.
    const session = net.connect({ host: '127.0.0.1', port });
    await new Promise((resolve) => session.once('connect', resolve));
    const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
    const header = Buffer.alloc(8);
    header.writeInt32BE(8 + params.length, 0);
    header.writeInt32BE(196608, 4);
    session.write(Buffer.concat([header, params]));
    session.on('error', () => {});
    const workers = await eventually('a backend for the open session', async () => {
      const pids = descendants(member.pid);
      const out = await pg.psql("select count(*) from pg_stat_activity where backend_type = 'client backend'");
      return Number(out) >= 2 ? pids : undefined;
    });
    assert.ok(workers.length > 0);
    await stopAndAssertGone(pg, workers);
    session.destroy();
  });

  test('a second server in the same process starts from the initdb template', async (t) => {
    const [a, b] = await Promise.all([startPostgres(), startPostgres({ settings: { max_connections: 20 } })]);
    t.after(() => Promise.all([a.stop(), b.stop()]));
    report(t, a);
    report(t, b);
    assert.notEqual(a.members[0]!.port, b.members[0]!.port);
    assert.equal(await b.psql('show max_connections'), '20');
    assert.equal(await a.psql('show fsync'), 'off');
    await Promise.all([stopAndAssertGone(a), stopAndAssertGone(b)]);
  });
});

describe('zookeeper', { skip: skipUnless('zookeeper'), timeout: TIMEOUT }, () => {
  test('standalone: srvr and a real client handshake', async (t) => {
    const zk = await startZooKeeper();
    t.after(() => zk.stop());
    report(t, zk);
    assert.match(zk.url, /^zookeeper:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await zkMode(zk.members[0]!.port), 'standalone');
    const session = await zkHandshake(zk.members[0]!.port, 1_000);
    assert.equal(session.timeoutMs, 1_000, 'tickTime=500 allows 1 s sessions');
    assert.notEqual(session.sessionId, 0n);
    await stopAndAssertGone(zk);
  });

  test('three members: one leader, sessions on every member, leader loss', async (t) => {
    const zk = await startZooKeeper({ members: 3 });
    t.after(() => zk.stop());
    report(t, zk);
    assert.equal(zk.url, `zookeeper://${zk.endpoints.join(',')}`);
    const modes = await Promise.all(zk.members.map((m) => zkMode(m.port)));
    assert.deepEqual(modes.sort(), ['follower', 'follower', 'leader']);
    for (const m of zk.members) await zkHandshake(m.port);

    const leader: Member = await zk.leader();
    await leader.kill();
    const started = Date.now();
    const next = await eventually('a new zookeeper leader', async () => {
      const m = await zk.leader();
      return m !== leader ? m : undefined;
    });
    t.diagnostic(`zookeeper new leader ${next.name} after ${Date.now() - started} ms`);
    await zkHandshake(next.port);
    await leader.restart();
    assert.equal(await zkMode(leader.port), 'follower');
    await stopAndAssertGone(zk);
  });
});

describe('safety nets', { skip: skipUnless('redis'), timeout: TIMEOUT }, () => {
  const redisModule = new URL('./redis.js', import.meta.url).href;

  /** Runs a child node process that starts Redis, reports it, then `then`s. */
  async function childWithRedis(then: 'exit' | 'hang'): Promise<{ child: ReturnType<typeof spawn>; info: { pid: number; port: number; dir: string } }> {
    const script = `
      const { startRedis } = await import(${JSON.stringify(redisModule)});
      const r = await startRedis();
      console.log(JSON.stringify({ pid: r.members[0].pid, port: r.members[0].port, dir: r.dir }));
      ${then === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const info = await new Promise<{ pid: number; port: number; dir: string }>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line !== undefined) resolve(JSON.parse(line));
      });
      child.once('exit', (code) => reject(new Error(`child exited with ${code} before reporting: ${out}`)));
    });
    return { child, info };
  }

  test('a process that exits without stop() kills its servers (exit hook)', async () => {
    const { child, info } = await childWithRedis('exit');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    await eventually('the orphaned redis to die', async () => (isAlive(info.pid) ? undefined : true), 5_000);
    await eventually('its port to close', async () => ((await isPortOpen(info.port)) ? undefined : true), 5_000);
    assert.equal(fs.existsSync(info.dir), false);
  });

  test('a process killed with SIGKILL takes its servers with it (parent-death signal)', async () => {
    const { child, info } = await childWithRedis('hang');
    assert.equal(isAlive(info.pid), true);
    child.kill('SIGKILL');
    await eventually('the orphaned redis to die', async () => (isAlive(info.pid) ? undefined : true), 5_000);
    await eventually('its port to close', async () => ((await isPortOpen(info.port)) ? undefined : true), 5_000);
    fs.rmSync(info.dir, { recursive: true, force: true });
  });
});
