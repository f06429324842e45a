/**
 * deadbolt's etcd driver against the real Go client: `etcdctl lock` (Debian's
 * etcd-client 3.4, Go's clientv3 `concurrency.Mutex`), on a real etcd.
 *
 * - Safety in the default layout: a key deadbolt did not write under a name's
 *   range (`<namespace>/locks/<name>/…`) is an exclusive claim: deadbolt waits
 *   for it until it is deleted or its lease expires, and lists it with
 *   placeholder owners; `etcdctl lock <namespace>/locks/<name>` excludes deadbolt.
 * - `layout: 'concurrency'`: deadbolt's claims are Go's Mutex keys, so
 *   `acquire('jobs')` and `etcdctl lock jobs` exclude each other both ways;
 *   a mixed counter of 3 deadbolt processes and 3 `etcdctl lock` loops is
 *   exact; a SIGKILLed `etcdctl lock` holder passes the lock on only after its
 *   lease expired.
 *
 * A loud skip without etcd or etcdctl; a failure instead when CI is set.
 */
import assert from 'node:assert/strict';
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LockTimeoutError, UnsupportedError, connect, type Coordinator } from '../../src/index.js';
import { requireClient, requireServer, startEtcd, type EtcdHandle } from '../harness/index.js';
import { CONNECT_TIMEOUT_MS, STEADY_TTL_MS } from '../harness/bounds.js';
import type { CounterMessage, CounterTask } from './fixtures/etcd-counter-worker.js';

const SUITE = 'interop: etcd ↔ etcdctl lock';
const server = requireServer('etcd', { suite: SUITE });
const client = server.available ? requireClient('etcdctl', { suite: SUITE }) : server;
const WORKER = new URL('./fixtures/etcd-counter-worker.js', import.meta.url);
/** The foreign lease TTL of the expiry tests, in seconds (etcd's minimum with the harness's raft timing is lower). */
const FOREIGN_TTL_S = 2;
/** How long a side that must not get the lock is given to (wrongly) get it. */
const REFUSAL_MS = 1_000;

let namespaces = 0;
const freshNamespace = (): string => `interop${process.pid}-${++namespaces}`;
let names = 0;
const freshName = (): string => `jobs-${process.pid}-${++names}`;

describe(SUITE, { skip: client.available ? false : client.reason }, () => {
  let etcd: EtcdHandle;
  let endpoint: string;
  const opened: Coordinator[] = [];
  const children = new Set<ChildProcess>();

  const open = async (namespace: string, layout?: 'concurrency'): Promise<Coordinator> => {
    const coordinator = await connect(etcd.url, {
      ttl: STEADY_TTL_MS,
      namespace,
      connectTimeout: CONNECT_TIMEOUT_MS,
      ...(layout === undefined ? {} : { driverOptions: { layout } }),
    });
    opened.push(coordinator);
    return coordinator;
  };

  /** One etcdctl call to completion. */
  const ctl = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile('etcdctl', [`--endpoints=${endpoint}`, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      });
    });

  /** `etcdctl lock <name>` without a command: it prints its key once it holds, then holds until signalled. */
  const holdWithEtcdctl = async (name: string): Promise<{ child: ChildProcess; key: string; lease: string; exited: Promise<void> }> => {
    const child = spawn('etcdctl', [`--endpoints=${endpoint}`, 'lock', `--ttl=${FOREIGN_TTL_S}`, name], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    void exited.then(() => children.delete(child));
    const key = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split('\n')[0]!;
        if (out.includes('\n')) resolve(line.trim());
      });
      child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.once('exit', (code) => reject(new Error(`etcdctl lock ${name} exited (${code}) before holding: ${err}`)));
    });
    return { child, key, lease: key.slice(key.lastIndexOf('/') + 1), exited };
  };

  /** `etcdctl lock <name> -- echo got` stopped by `timeout` after REFUSAL_MS: exit 124 and no output when it never got the lock. */
  const refusedLock = (name: string): Promise<{ code: number | null; stdout: string }> =>
    new Promise((resolve) => {
      execFile('timeout', [String(REFUSAL_MS / 1000), 'etcdctl', `--endpoints=${endpoint}`, 'lock', name, '--', 'echo', 'got'], (error, stdout) =>
        resolve({ code: error === null ? 0 : (error.code as number), stdout }),
      );
    });

  before(async () => {
    etcd = await startEtcd();
    endpoint = etcd.url.slice('etcd://'.length);
  });
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.allSettled(opened.map((c) => c.close()));
    await etcd?.stop();
  });

  describe('default layout: a key deadbolt did not write is an exclusive claim', () => {
    test('a foreign key on a lease blocks both modes, is listed with placeholders, and is waited out until its lease expires', async () => {
      const namespace = freshNamespace();
      const name = freshName();
      const locks = await open(namespace);
      const granted = await ctl('lease', 'grant', String(FOREIGN_TTL_S));
      const lease = /lease ([0-9a-f]+) granted/.exec(granted.stdout)?.[1];
      assert.ok(lease !== undefined, granted.stdout + granted.stderr);
      const grantedAt = Date.now(); // after the grant's answer: the lease runs out at least TTL − (this round trip) later
      const put = await ctl('put', `--lease=${lease}`, `${namespace}/locks/${name}/not-deadbolt`, '\u001b[31mforeign');
      assert.equal(put.code, 0, put.stderr);

      assert.equal(await locks.tryAcquire(name), undefined, 'exclusive tryAcquire refused');
      assert.equal(await locks.tryAcquire(name, { mode: 'shared' }), undefined, 'shared tryAcquire refused: the foreign claim is exclusive');
      await assert.rejects(locks.acquire(name, { timeout: 300 }), LockTimeoutError);
      const [holder] = await locks.holders(name);
      assert.ok(holder !== undefined, 'the foreign key is listed as the holder');
      assert.equal(holder.owner.id, '?');
      assert.equal(holder.owner.host, '?');
      assert.ok(!JSON.stringify(holder).includes('\u001b'), 'its value is never shown');
      assert.ok((await locks.list(name.slice(0, 4))).some((info) => info.name === name), 'prefix listings show it too');

      const guard = await locks.acquire(name, { mode: 'shared' });
      const waited = Date.now() - grantedAt;
      assert.ok(waited >= FOREIGN_TTL_S * 1000 - 300, `granted ${waited} ms after the foreign lease was granted: before it expired`);
      assert.equal((await ctl('get', '--prefix', `${namespace}/locks/${name}/not`)).stdout, '', 'the foreign key went with its lease');
      await guard.release();
    });

    test('a foreign key on no lease holds until it is deleted, and a waiter is woken by the deletion', async () => {
      const namespace = freshNamespace();
      const name = freshName();
      const locks = await open(namespace);
      assert.equal((await ctl('put', `${namespace}/locks/${name}/a/b`, 'x')).code, 0);
      await assert.rejects(locks.acquire(name, { timeout: 300 }), LockTimeoutError);
      const pending = locks.acquire(name);
      assert.equal((await ctl('del', `${namespace}/locks/${name}/a/b`)).stdout.trim(), '1');
      const guard = await pending;
      await guard.release();
    });

    test('etcdctl lock on the name\'s range (<namespace>/locks/<name>) and deadbolt exclude each other', async () => {
      const namespace = freshNamespace();
      const name = freshName();
      const locks = await open(namespace);
      const held = await holdWithEtcdctl(`${namespace}/locks/${name}`);
      assert.equal(await locks.tryAcquire(name), undefined);
      held.child.kill('SIGTERM'); // etcdctl unlocks on a signal
      await held.exited;
      const guard = await locks.acquire(name, { timeout: 10_000 });
      const refused = await refusedLock(`${namespace}/locks/${name}`);
      assert.equal(refused.code, 124, 'etcdctl lock was still waiting behind deadbolt\'s claim');
      assert.equal(refused.stdout, '');
      await guard.release();
    });
  });

  describe("layout 'concurrency': Go's Mutex keys", () => {
    test('etcdctl lock holds → deadbolt times out; released → deadbolt is granted', async () => {
      const name = freshName();
      const locks = await open(freshNamespace(), 'concurrency');
      const held = await holdWithEtcdctl(name);
      assert.match(held.key, new RegExp(`^${name}/[0-9a-f]+$`));
      assert.equal(await locks.tryAcquire(name), undefined);
      await assert.rejects(locks.acquire(name, { timeout: 300 }), LockTimeoutError);
      const pending = locks.acquire(name);
      held.child.kill('SIGTERM');
      await held.exited;
      const guard = await pending;
      assert.ok(guard.token > 0n);
      await guard.release();
    });

    test('deadbolt holds → etcdctl lock times out; released → etcdctl gets it', async () => {
      const name = freshName();
      const locks = await open(freshNamespace(), 'concurrency');
      const guard = await locks.acquire(name);
      const [holder] = await locks.holders(name);
      assert.equal(holder?.token, guard.token, 'the token is the key\'s create_revision');
      const got = await ctl('get', '--prefix', `${name}/`, '-w', 'json');
      const kvs = (JSON.parse(got.stdout) as { kvs?: Array<{ key: string; value?: string; lease: number }> }).kvs ?? [];
      assert.equal(kvs.length, 1);
      assert.match(Buffer.from(kvs[0]!.key, 'base64').toString(), new RegExp(`^${name}/[0-9a-f]+$`), 'Go\'s key: <name>/<lease hex>');
      assert.equal(kvs[0]!.value ?? '', '', 'empty value, as Go writes it');
      const refused = await refusedLock(name);
      assert.equal(refused.code, 124, 'etcdctl lock was still waiting when timeout stopped it');
      assert.equal(refused.stdout, '', 'etcdctl never ran its command');
      await guard.release();
      const after = await ctl('lock', name, '--', 'echo', 'got');
      assert.equal(after.stdout.trim(), 'got');
    });

    test('shared mode is refused, with UnsupportedError, and no recipes', async () => {
      const locks = await open(freshNamespace(), 'concurrency');
      assert.equal(locks.capabilities.shared, false);
      assert.equal(locks.capabilities.recipes, false);
      await assert.rejects(locks.acquire(freshName(), { mode: 'shared' }), UnsupportedError);
    });

    test('a wrong layout is a ConfigurationError naming the accepted values; ?layout= in the URL works like driverOptions', async () => {
      await assert.rejects(
        connect(etcd.url, { namespace: freshNamespace(), connectTimeout: CONNECT_TIMEOUT_MS, driverOptions: { layout: 'go' } }),
        (error: Error) => error.name === 'ConfigurationError' && /"deadbolt", "concurrency"/.test(error.message),
      );
      await assert.rejects(
        connect(`${etcd.url}?layout=go`, { namespace: freshNamespace(), connectTimeout: CONNECT_TIMEOUT_MS }),
        (error: Error) => error.name === 'ConfigurationError' && /"deadbolt", "concurrency"/.test(error.message),
      );
      const viaUrl = await connect(`${etcd.url}?layout=concurrency`, { namespace: freshNamespace(), connectTimeout: CONNECT_TIMEOUT_MS });
      try {
        assert.equal(viaUrl.capabilities.shared, false, 'the concurrency layout (no shared mode) is on');
      } finally {
        await viaUrl.close();
      }
    });

    test('mixed counter: 3 deadbolt processes and 3 etcdctl lock loops × 20 increments, exact, tokens increasing', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'deadbolt-interop-etcd-'));
      try {
        const file = join(dir, 'counter');
        writeFileSync(file, '0');
        const name = freshName();
        const rounds = 20;
        const task: CounterTask = { url: etcd.url, namespace: freshNamespace(), ttl: STEADY_TTL_MS, name, rounds, file };
        const workers = Array.from({ length: 3 }, () => {
          const child = fork(WORKER, [JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
          children.add(child);
          const messages: CounterMessage[] = [];
          const next = (type: CounterMessage['type']): Promise<CounterMessage> =>
            new Promise((resolve, reject) => {
              const check = (): void => {
                const found = messages.find((m) => m.type === type || m.type === 'error');
                if (found !== undefined) resolve(found);
              };
              child.on('message', (m: CounterMessage) => {
                messages.push(m);
                check();
              });
              child.once('exit', (code) => setImmediate(() => reject(new Error(`deadbolt worker exited (${code}) before ${type}`))));
              check();
            });
          return { child, ready: next('ready'), counted: next('counted') };
        });
        await Promise.all(workers.map((w) => w.ready));
        // each loop waits for one line on stdin: the shared start
        const script =
          'read go; i=0; while [ "$i" -lt "$ROUNDS" ]; do ' +
          'etcdctl --endpoints="$EP" lock --ttl=5 "$NAME" -- sh -c \'n=$(cat "$F"); echo $((n+1)) > "$F"\' > /dev/null || exit 1; ' +
          'i=$((i+1)); done';
        const loops = Array.from({ length: 3 }, () => {
          const child = spawn('sh', ['-c', script], {
            stdio: ['pipe', 'ignore', 'inherit'],
            env: { ...process.env, EP: endpoint, NAME: name, F: file, ROUNDS: String(rounds) },
          });
          children.add(child);
          const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
          void exited.then(() => children.delete(child));
          return { child, exited };
        });
        for (const loop of loops) loop.child.stdin!.end('go\n');
        for (const worker of workers) worker.child.send('go');
        const [codes, reports] = await Promise.all([Promise.all(loops.map((l) => l.exited)), Promise.all(workers.map((w) => w.counted))]);
        assert.deepEqual(codes, [0, 0, 0], 'every etcdctl loop finished');
        for (const report of reports) assert.equal(report.type, 'counted', JSON.stringify(report));
        assert.equal(readFileSync(file, 'utf8').trim(), String(6 * rounds), 'no increment was lost: the two clients excluded each other');
        const records = reports.flatMap((r) => (r.type === 'counted' ? r.records : [])).sort((a, b) => a.value - b.value);
        assert.equal(records.length, 3 * rounds);
        for (let i = 1; i < records.length; i++) {
          assert.ok(BigInt(records[i]!.token) > BigInt(records[i - 1]!.token), `tokens follow the writes: ${JSON.stringify(records.slice(i - 1, i + 1))}`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('etcdctl lock SIGKILLed while holding: deadbolt is granted once its lease expired, never before', async () => {
      const name = freshName();
      const locks = await open(freshNamespace(), 'concurrency');
      const held = await holdWithEtcdctl(name);
      assert.equal(await locks.tryAcquire(name), undefined);
      const pending = locks.acquire(name);
      const killedAt = Date.now();
      held.child.kill('SIGKILL');
      await held.exited;
      const guard = await pending;
      const waited = Date.now() - killedAt;
      const ttl = await ctl('lease', 'timetolive', held.lease);
      assert.match(ttl.stdout, /already expired/, `the foreign lease is gone when deadbolt is granted: ${ttl.stdout}`);
      // etcdctl renews every TTL/3: its lease runs out between TTL − TTL/3 and TTL after the kill
      assert.ok(waited >= (FOREIGN_TTL_S * 1000 * 2) / 3 - 200, `granted ${waited} ms after the kill: before the lease could expire`);
      assert.ok(waited <= FOREIGN_TTL_S * 1000 + 5_000, `granted ${waited} ms after the kill`);
      await guard.release();
    });
  });
});
