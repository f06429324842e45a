/**
 * The CLI's exit codes on engines when something is wrong: credentials
 * refused (77: Redis requirepass, PostgreSQL password user, etcd auth), an
 * engine unreachable (69, naming the cause, within --connect-timeout: a port
 * nobody listens on, and one that accepts connections but never answers), an
 * unknown scheme and memory:// (64), a password file others can read (78);
 * and `break` refusing a holder that changed between the confirmation and
 * the act (on a terminal, through tmux).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect } from '../../src/distributed/connect.js';
import { etcdRequest, freePort, requireServer, startEtcd, startPostgres, startRedis, type EtcdHandle, type PostgresHandle, type RedisHandle } from '../harness/index.js';
import { killEngineRuns, startEngineRun } from './engine-helpers.js';
import { CLI, cli, cliEnv, tempDir, until } from './helpers.js';

const tmp = tempDir('backend-errors');
after(() => {
  killEngineRuns();
  tmp.remove();
});

/** A password file of mode `mode`. */
function passwordFile(password: string, mode = 0o600): string {
  const path = join(tmp.path, `pw-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, `${password}\n`, { mode });
  chmodSync(path, mode);
  return path;
}

test('unknown scheme and memory:// exit 64, so do clean on an engine and ls --watch off a terminal; a password file others can read exits 78, naming the file, not its content', async () => {
  const unknown = await cli(['ls', '--backend', 'consul://127.0.0.1:8500']);
  assert.equal(unknown.code, 64);
  assert.match(unknown.stderr, /unknown backend URL scheme "consul:\/\/"; known schemes: file:\/\/, etcd:\/\//);
  const memory = await cli(['run', '--backend', 'memory://x', 'jobs', '--', 'true']);
  assert.equal(memory.code, 64);
  assert.match(memory.stderr, /memory:\/\/ locks live inside one process/);
  const open = passwordFile('s3cret-value', 0o644);
  const r = await cli(['ls', '--backend', 'redis://127.0.0.1:1', '--password-file', open]);
  assert.equal(r.code, 78);
  assert.match(r.stderr, /every user of this host can read it \(mode 0644\)/);
  assert.doesNotMatch(r.stderr, /s3cret-value/);
  const watch = await cli(['ls', '--watch', '--backend', 'redis://127.0.0.1:1']);
  assert.equal(watch.code, 64, 'ls --watch refuses a stdout that is not a terminal');
  assert.match(watch.stderr, /--watch redraws a terminal, and stdout is not one/);
  const clean = await cli(['clean', '--backend', 'redis://127.0.0.1:1']);
  assert.equal(clean.code, 64);
  assert.match(clean.stderr, /works on lock directories \(file:\/\/\/DIR\) only/);
});

describe('unreachable engines exit 69 naming the cause', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  before(async () => {
    // Accepts connections and never says a word: only the connect timeout ends the attempt.
    silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });

  for (const scheme of ['etcd', 'redis', 'postgres', 'zookeeper']) {
    test(`${scheme}: a port nobody listens on (ECONNREFUSED), and a server that never answers (--connect-timeout)`, async () => {
      const closed = await freePort();
      const refused = await cli(['ls', '--backend', `${scheme}://127.0.0.1:${closed}`, '--connect-timeout', '5s']);
      assert.equal(refused.code, 69, refused.stderr);
      assert.match(refused.stderr, new RegExp(`127\\.0\\.0\\.1:${closed}.*ECONNREFUSED`));
      const port = (silent.address() as { port: number }).port;
      const started = performance.now();
      const mute = await cli(['ls', '--backend', `${scheme}://127.0.0.1:${port}`, '--connect-timeout', '1s']);
      const elapsed = performance.now() - started;
      assert.equal(mute.code, 69, mute.stderr);
      assert.match(mute.stderr, /within 1000 ms \(--connect-timeout\)/);
      // Generous: the bound is the connect timeout, plus starting Node, many times over.
      assert.ok(elapsed < 10_000, `gave up after ${elapsed} ms`);
    });
  }
});

const redisReq = requireServer('redis', { suite: 'cli credentials on redis' });
describe('credentials refused exit 77 (redis requirepass)', { skip: redisReq.available ? false : redisReq.reason }, () => {
  let redis: RedisHandle;
  before(async () => {
    redis = await startRedis({ password: 'right-pass' });
  });
  after(() => redis?.stop());

  test('wrong password from a file or the environment: 77, the password never shown; the right one works', async () => {
    const url = redis.url.replace(':right-pass@', '');
    const wrong = await cli(['ls', '--backend', url, '--password-file', passwordFile('wrong-pass')]);
    assert.equal(wrong.code, 77, wrong.stderr);
    assert.match(wrong.stderr, /rejected the credentials/);
    assert.doesNotMatch(wrong.stderr, /wrong-pass/);
    const none = await cli(['ls', '--backend', url]);
    assert.equal(none.code, 77, none.stderr);
    const env = await cli(['ls', '--json', '--backend', url], { env: { DEADBOLT_BACKEND_PASSWORD: 'right-pass' } });
    assert.equal(env.code, 0, env.stderr);
    assert.equal(JSON.parse(env.stdout).backend, url);
    const inUrl = await cli(['ls', '--json', '--backend', redis.url]);
    assert.equal(inUrl.code, 0, inUrl.stderr);
    assert.doesNotMatch(inUrl.stdout, /right-pass/, 'the URL is shown without its password');
    const file = await cli(['ls', '--backend', url], { env: { DEADBOLT_BACKEND_PASSWORD_FILE: passwordFile('right-pass', 0o640) } });
    assert.equal(file.code, 0, file.stderr);
    assert.match(file.stderr, /readable by its group \(mode 0640\)/);
  });
});

const pgReq = requireServer('postgres', { suite: 'cli credentials on postgres' });
describe('credentials refused exit 77 (postgres password user)', { skip: pgReq.available ? false : pgReq.reason }, () => {
  let pg: PostgresHandle;
  before(async () => {
    pg = await startPostgres();
    await pg.psql("CREATE ROLE alice LOGIN PASSWORD 'right'; GRANT CREATE ON DATABASE postgres TO alice");
    const hba = join(pg.members[0]!.dataDir, 'pg_hba.conf');
    writeFileSync(hba, `host all alice 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    await pg.psql('SELECT pg_reload_conf()');
  });
  after(() => pg?.stop());

  test('--user with a wrong password: 77; the right one works', async () => {
    const url = pg.url.replace('postgres://postgres@', 'postgres://');
    const wrong = await cli(['ls', '--backend', url, '--user', 'alice', '--password-file', passwordFile('wrong-one')]);
    assert.equal(wrong.code, 77, wrong.stderr);
    assert.match(wrong.stderr, /rejected the credentials/);
    assert.doesNotMatch(wrong.stderr, /wrong-one/);
    const right = await cli(['ls', '--backend', url, '--user', 'alice', '--password-file', passwordFile('right')]);
    assert.equal(right.code, 0, right.stderr);
  });
});

const etcdReq = requireServer('etcd', { suite: 'cli credentials on etcd' });
describe('credentials refused exit 77 (etcd auth)', { skip: etcdReq.available ? false : etcdReq.reason }, () => {
  let etcd: EtcdHandle;
  before(async () => {
    etcd = await startEtcd();
    const endpoint = etcd.endpoints[0]!;
    await etcdRequest(endpoint, '/v3/auth/role/add', { name: 'root' });
    await etcdRequest(endpoint, '/v3/auth/user/add', { name: 'root', password: 'right' });
    await etcdRequest(endpoint, '/v3/auth/user/grant', { user: 'root', role: 'root' });
    await etcdRequest(endpoint, '/v3/auth/enable', {});
  });
  after(() => etcd?.stop());

  test('--user root with a wrong password: 77; the right one works; a password without a user: 64', async () => {
    const wrong = await cli(['ls', '--backend', etcd.url, '--user', 'root', '--connect-timeout', '3s'], { env: { DEADBOLT_BACKEND_PASSWORD: 'wrong-one' } });
    assert.equal(wrong.code, 77, wrong.stderr);
    assert.doesNotMatch(wrong.stderr, /wrong-one/);
    const right = await cli(['ls', '--backend', etcd.url, '--user', 'root'], { env: { DEADBOLT_BACKEND_PASSWORD: 'right' } });
    assert.equal(right.code, 0, right.stderr);
    const noUser = await cli(['ls', '--backend', etcd.url], { env: { DEADBOLT_BACKEND_PASSWORD: 'right' } });
    assert.equal(noUser.code, 64);
    assert.match(noUser.stderr, /etcd authenticates with a user and a password/);
  });
});

const tmux = spawnSync('tmux', ['-V']).status === 0;
const underCi = process.env.CI !== undefined && !['0', 'false'].includes(process.env.CI);
if (!tmux && underCi) throw new Error('the terminal tests need tmux under CI (apt-get install tmux)');
describe('on a terminal: ls --watch, and break refusing a holder that changed after confirmation', { skip: !redisReq.available ? redisReq.reason : tmux ? false : 'tmux is not installed' }, () => {
  let redis: RedisHandle;
  const socket = `deadbolt-test-engine-${process.pid}`;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
    await redis?.stop();
  });

  test('ls --watch redraws in place: a lock taken after it started appears; Ctrl-C ends it with 0', async () => {
    const args = ['--backend', redis.url, '--namespace', `watch-${process.pid}`];
    const quoted = [process.execPath, CLI, 'ls', '--watch', '--interval', '200ms', ...args].map((a) => `'${a}'`).join(' ');
    assert.equal(spawnSync('tmux', ['-L', socket, 'new-session', '-d', '-s', 'w', '-x', '200', '-y', '50', `${quoted}; echo EXIT=$?; sleep 600`], { env: cliEnv() }).status, 0);
    const screen = () => spawnSync('tmux', ['-L', socket, 'capture-pane', '-p', '-t', 'w']).stdout.toString();
    await until('the first frame', () => /no locks on redis:/.test(screen()));
    const holder = await startEngineRun([...args, '--ttl', '10s'], 'watched');
    await until('the new lock in a later frame', () => new RegExp(`^watched +exclusive .* ${holder.child.pid} `, 'm').test(screen()));
    assert.doesNotMatch(screen(), /no locks on/, 'the frame was redrawn, not appended');
    spawnSync('tmux', ['-L', socket, 'send-keys', '-t', 'w', 'C-c']);
    // The terminal echoes ^C just before the shell's line.
    await until('ls --watch to end', () => /EXIT=\d+$/m.test(screen()));
    assert.match(screen(), /(?:^|\^C)EXIT=0$/m);
    holder.child.kill('SIGTERM');
    await holder.exited;
  });

  test('the holder shown is displaced by someone else before "y": nothing is broken, exit 1', async () => {
    const args = ['--backend', redis.url, '--namespace', `tty-${process.pid}`];
    const first = await startEngineRun([...args, '--ttl', '10s'], 'jobs');
    const audit = join(tmp.path, 'tty-audit.log');
    const quoted = [process.execPath, CLI, 'break', ...args, '--audit-log', audit, 'jobs', '--reason', 'tty'].map((a) => `'${a}'`).join(' ');
    assert.equal(spawnSync('tmux', ['-L', socket, 'new-session', '-d', '-s', 'b', '-x', '200', '-y', '50', `${quoted}; echo EXIT=$?; sleep 600`], { env: cliEnv() }).status, 0);
    const screen = () => spawnSync('tmux', ['-L', socket, 'capture-pane', '-p', '-t', 'b']).stdout.toString();
    await until('the confirmation prompt', () => /Displace this holder .*\? \[y\/N\]/.test(screen()));
    assert.match(screen(), new RegExp(`pid ${first.child.pid} +token \\d+`));
    // Meanwhile the lock changes hands: another operator breaks it (through the library) and a new run takes it.
    const other = await connect(redis.url, { namespace: `tty-${process.pid}` });
    await other.break('jobs', { reason: 'someone else' });
    await other.close();
    await first.exited;
    const second = await startEngineRun([...args, '--ttl', '10s'], 'jobs');
    spawnSync('tmux', ['-L', socket, 'send-keys', '-t', 'b', 'y', 'Enter']);
    await until('the break to end', () => /^EXIT=\d+$/m.test(screen()));
    assert.match(screen(), /^EXIT=1$/m);
    assert.match(screen(), /lock "jobs" changed hands meanwhile \(tokens \d+ → \d+\): nothing was broken/);
    assert.equal(second.child.exitCode, null, 'the second holder still holds');
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
  });
});
