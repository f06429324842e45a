/**
 * `deadbolt ls|show|break|run --backend URL` on every real engine (etcd,
 * Redis, PostgreSQL, ZooKeeper, started by the harness): the --json shapes;
 * a run whose lock is broken by another process stops its command and exits
 * 76; a run whose deadbolt process is SIGSTOPped past its TTL stops its
 * command once resumed and exits 76; an unknown lock is exit 1.
 *
 * Waits are on events (a line from the command, the engine's own listing
 * through the CLI, a process's exit), never fixed sleeps.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../../src/distributed/connect.js';
import { requireServer, startEtcd, startPostgres, startRedis, startZooKeeper, type ServerHandle, type ServerName } from '../harness/index.js';
import { eventually, killEngineRuns, lsJson, spawnEngineRun, startEngineRun } from './engine-helpers.js';
import { alive, cli, tempDir } from './helpers.js';
import { HANG_GUARD_MS } from '../harness/bounds.js';

const tmp = tempDir('backends');
after(() => {
  killEngineRuns();
  tmp.remove();
});

const ENGINES: Array<{ name: ServerName; start: () => Promise<ServerHandle>; ttl: string; keepsBreak: 'always' | 'until-next-holder' }> = [
  { name: 'etcd', start: () => startEtcd(), ttl: '2s', keepsBreak: 'always' },
  { name: 'redis', start: () => startRedis(), ttl: '1s', keepsBreak: 'until-next-holder' },
  { name: 'postgres', start: () => startPostgres(), ttl: '1s', keepsBreak: 'until-next-holder' },
  { name: 'zookeeper', start: () => startZooKeeper(), ttl: '2s', keepsBreak: 'always' },
];

let namespaces = 0;

for (const engine of ENGINES) {
  const requirement = requireServer(engine.name, { suite: `cli on ${engine.name}` });
  describe(`cli on ${engine.name}`, { skip: requirement.available ? false : requirement.reason, timeout: HANG_GUARD_MS }, () => {
    let server: ServerHandle;
    before(async () => {
      server = await engine.start();
    });
    after(() => server?.stop());
    /** Options that put each test in its own namespace, with a local audit log of its own. */
    const target = () => {
      const ns = `cli-${process.pid}-${++namespaces}`;
      const audit = join(tmp.path, `${ns}.audit.log`);
      return { ns, audit, args: ['--backend', server.url, '--namespace', ns] };
    };

    test('ls and show --json show holder, lease and waiter; break displaces the holder: its command is stopped, run exits 76, the waiter runs', async () => {
      const { args, audit } = target();
      const holder = await startEngineRun([...args, '--ttl', '10s', '--grace', '5s'], 'jobs');
      const waiter = spawnEngineRun([...args, '--ttl', '10s'], 'jobs', ['sh', '-c', 'echo "$DEADBOLT_LOCK_NAME $DEADBOLT_TOKEN" > ' + join(tmp.path, `${args[3]}.waiter`)]);
      const listing = await eventually('a waiter in ls --json', async () => {
        const l = await lsJson(args);
        return l.locks[0]?.waiters === 1 ? l : undefined;
      });
      assert.equal(listing.version, 1);
      assert.equal(listing.namespace, args[3]);
      assert.deepEqual(listing.summary, { locks: 1, held: 1, waiting: 1 });
      const [lock] = listing.locks;
      assert.equal(lock.name, 'jobs');
      assert.equal(lock.state, 'exclusive');
      assert.equal(lock.holder.pid, holder.child.pid);
      assert.equal(lock.holder.command, 'deadbolt run jobs -- sh');
      assert.match(lock.holder.token, /^\d+$/);
      assert.ok(lock.holder.leaseLeftMs > 0 && lock.holder.leaseLeftMs <= 10_000, `lease left ${lock.holder.leaseLeftMs}`);
      assert.equal(lock.holder.session, engine.name === 'redis' ? 'unknown' : 'renewing');
      assert.equal(lock.lastBreak, null);

      const show = await cli(['show', '--json', ...args, '--audit-log', audit, 'jobs']);
      assert.equal(show.code, 0, show.stderr);
      const detail = JSON.parse(show.stdout);
      assert.equal(detail.lock.holder.token, lock.holder.token);
      assert.equal(detail.queue.length, 1);
      assert.equal(detail.queue[0].pid, waiter.child.pid);
      assert.equal(detail.queue[0].mode, 'exclusive');

      const broken = await cli(['break', '--json', ...args, '--audit-log', audit, 'jobs', '--yes', '--reason', 'cli test']);
      assert.equal(broken.code, 0, broken.stderr);
      const record = JSON.parse(broken.stdout);
      assert.deepEqual([record.event, record.lock.name, record.reason, record.outcome], ['break', 'jobs', 'cli test', 'broken']);
      assert.deepEqual(record.displaced.map((d: { token: string }) => d.token), [lock.holder.token]);
      assert.match(broken.stderr, new RegExp(`pid ${holder.child.pid} +token ${lock.holder.token}`));
      assert.match(broken.stderr, /lease left +\d+ (ms|s); session /);

      assert.deepEqual(await holder.exited, { code: 76, signal: null });
      assert.match(holder.stdout(), /^got-term$/m, 'the command got SIGTERM');
      assert.match(holder.stderr(), /lock "jobs" was lost while the command ran \(.*broken.*\); the command was stopped/);
      const ran = await waiter.exited;
      assert.equal(ran.code, 0, ran.stderr);
      const [name, token] = readFileSync(join(tmp.path, `${args[3]}.waiter`), 'utf8').trim().split(' ');
      assert.equal(name, 'jobs');
      assert.ok(BigInt(token!) > BigInt(lock.holder.token), 'the next holder has a greater token');

      const logged = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(logged, [record]);
      const after = await cli(['show', '--json', ...args, '--audit-log', audit, 'jobs']);
      assert.equal(after.code, 0, after.stderr);
      const afterDetail = JSON.parse(after.stdout);
      assert.equal(afterDetail.lock.state, 'free');
      assert.deepEqual(afterDetail.audit, [record]);
      if (engine.keepsBreak === 'always') {
        assert.equal(afterDetail.lock.lastBreak.reason, 'cli test');
        assert.deepEqual(afterDetail.lock.lastBreak.displaced.map((d: { token: string }) => d.token), [lock.holder.token]);
      }
    });

    test('a run whose deadbolt process is stopped (SIGSTOP) past its TTL stops its command when resumed, and exits 76', async () => {
      const { args } = target();
      const holder = await startEngineRun([...args, '--ttl', engine.ttl, '--grace', '5s'], 'paused');
      process.kill(holder.child.pid!, 'SIGSTOP');
      // The engine expires the stopped holder's lease: the CLI's own listing shows the lock free.
      await eventually('the lease of the stopped holder to expire', async () => (await lsJson(args)).summary.held === 0, 30_000);
      process.kill(holder.child.pid!, 'SIGCONT');
      assert.deepEqual(await holder.exited, { code: 76, signal: null });
      assert.match(holder.stdout(), /^got-term$/m);
      assert.match(holder.stderr(), /lock "paused" was lost while the command ran/);
      assert.ok(!alive(holder.commandPid), 'the command is gone');
    });

    test('holder fields from the engine are untrusted: ls, show and break print them escaped, --json keeps them exact', async () => {
      const { args, ns, audit } = target();
      const evil = await connect(server.url, { namespace: ns, ttl: 10_000, identity: { host: 'web\x1b[2J\nforged row', command: 'job \u202e' } });
      try {
        const guard = await evil.acquire('evil');
        assert.equal((await lsJson(args)).locks[0].holder.host, 'web\x1b[2J\nforged row', '--json keeps the value exact');
        for (const argv of [['ls'], ['show', 'evil'], ['break', 'evil', '--yes', '--reason', 'escape test', '--audit-log', audit]]) {
          const r = await cli([...argv, ...args]);
          assert.equal(r.code, 0, `${argv[0]}: ${r.stderr}`);
          const text = r.stdout + r.stderr;
          assert.doesNotMatch(text, /\x1b|\u202e|forged row\n/, `${argv[0]} printed a raw control character`);
          assert.match(text, /web\\x1b\[2J\\n/, `${argv[0]} shows the escape`);
        }
        await guard.release();
      } finally {
        await evil.close();
      }
    });

    test('recipes: show names the leader, its term, its value (escaped) and the candidates; --json has kind and data; break deposes the leader', async () => {
      const { args, ns, audit } = target();
      const [a, b] = await Promise.all([0, 1].map(() => connect(server.url, { namespace: ns, ttl: 10_000 })));
      try {
        const leadership = await a!.campaign('scheduler', { value: 'http://10.0.0.7\x1b[2J\nforged' });
        const candidate = b!.campaign('scheduler');
        candidate.catch(() => {}); // awaited below; a failure before that must not surface as an unhandled rejection
        const member = await b!.join('workers', { metadata: 'slots=4' });
        const shown = await eventually('the candidate in show --json', async () => {
          const r = await cli(['show', '--json', ...args, '--audit-log', audit, '@election/scheduler']);
          const detail = JSON.parse(r.stdout) as { lock: { kind: string; holder: { data: string; token: string } }; queue: unknown[] | null };
          return detail.queue === null || detail.queue.length === 1 ? detail : undefined;
        });
        assert.equal(shown.lock.kind, 'election');
        assert.equal(shown.lock.holder.data, 'http://10.0.0.7\x1b[2J\nforged', '--json keeps the value exact');
        assert.equal(shown.lock.holder.token, leadership.term.toString());
        const text = await cli(['show', ...args, '--audit-log', audit, '@election/scheduler']);
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, /lock \(election\)/);
        assert.match(text.stdout, /leader +\S/);
        assert.match(text.stdout, new RegExp(`term +${leadership.term}`));
        assert.match(text.stdout, /value +http:\/\/10\.0\.0\.7\\x1b\[2J\\nforged/, 'the value is shown escaped');
        assert.doesNotMatch(text.stdout, /\x1b/);
        const group = await cli(['show', ...args, '--audit-log', audit, '@group/workers']);
        assert.match(group.stdout, /lock \(group\)[\s\S]*member +\S[\s\S]*metadata +slots=4/);
        const listing = await lsJson(args);
        assert.deepEqual(listing.locks.map((l: { name: string; kind: string }) => [l.name, l.kind]).sort(), [['@election/scheduler', 'election'], ['@group/workers', 'group']]);
        const broken = await cli(['break', ...args, '--audit-log', audit, '@election/scheduler', '--yes', '--reason', 'cli test: depose']);
        assert.equal(broken.code, 0, broken.stderr);
        const successor = await candidate;
        assert.ok(successor.term > leadership.term, 'the candidate leads after the break');
        // the deposed leader is told (by the engine's watch of its claim); the test's hang guard bounds the wait
        if (!leadership.signal.aborted) await new Promise((resolve) => leadership.signal.addEventListener('abort', resolve, { once: true }));
        await Promise.all([successor.resign(), member.leave(), leadership.resign()]);
      } finally {
        await Promise.all([a!.close(), b!.close()]);
      }
    });

    test('--no-wait on a busy lock exits 75 naming the holder; show and break of an unknown lock exit 1', async () => {
      const { args } = target();
      const holder = await startEngineRun([...args, '--ttl', '10s'], 'busy');
      const busy = await cli(['run', ...args, '--no-wait', 'busy', '--', 'true']);
      assert.equal(busy.code, 75, busy.stderr);
      assert.match(busy.stderr, new RegExp(`lock "busy" is held exclusive by \\S+ pid ${holder.child.pid} \\(token \\d+\\); not waiting`));
      holder.child.kill('SIGTERM');
      const done = await holder.exited;
      assert.equal(done.code, 0, holder.stderr());
      const show = await cli(['show', ...args, 'nothing-here']);
      assert.equal(show.code, 1);
      assert.match(show.stderr, /no lock "nothing-here" on .* nobody holds it, waits for it or broke it/);
      const broken = await cli(['break', ...args, 'nothing-here', '--yes', '--reason', 'x']);
      assert.equal(broken.code, 1);
      assert.match(broken.stderr, /lock "nothing-here" is not held .*: nothing to break/);
      const empty = await lsJson(args);
      assert.deepEqual(empty.summary, { locks: 0, held: 0, waiting: 0 });
    });
  });
}
