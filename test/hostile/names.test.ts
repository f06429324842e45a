/**
 * Hostile input without a second account (issue 11, attacks 9 (names), 12,
 * 13 and 14): these run on every machine, root or not.
 *
 * 9:  LockDirectory takes the distributed drivers' one name rule: no control
 *     characters, no lone surrogates, 1–256 UTF-16 units.
 * 12: namespaces `a`, `a/locks` and `ab` never see, block or break each
 *     other's locks (memory:// and file:// here; the engine suites cover the rest).
 * 13: a long name and the literal string of its shortened file name are two locks.
 * 14: close() rejects a waiter blocked in the kernel and leaves nothing locked;
 *     list() of a file is a DeadboltError; an unreachable engine says
 *     ECONNREFUSED long before connectTimeout.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { connect, DeadboltError, LockDirectory, isInvalidArgument, type Coordinator } from '../../src/index.js';
import { blockedInKernel, fixture, untilBlocked } from '../file/helpers.js';
import { closedPort, eventually, hostileFixture, killAll, runBounded, startProcess, within } from './helpers.js';
import { EVENT_BOUND_MS, HANG_GUARD_MS } from '../harness/bounds.js';

const root = mkdtempSync(join(tmpdir(), 'deadbolt-hostile-names-'));
let seq = 0;
const fresh = () => join(root, `d${seq++}`);
after(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});
const T = { timeout: HANG_GUARD_MS };
const code = (e: unknown) => (e as { code?: unknown })?.code;

test('9: LockDirectory refuses names with control characters and lone surrogates, synchronously, as RangeError DEADBOLT_INVALID_ARGUMENT', T, async () => {
  const locks = new LockDirectory(fresh());
  const bad = ['a\x1b[2Jb', 'a\rb', 'a\nb', 'tab\t', '\x7f', 'c1\u0085', 'csi\u009b', 'lone\ud800', 'x'.repeat(257)];
  for (const name of bad) {
    assert.throws(() => locks.acquire(name), (e: unknown) => isInvalidArgument(e) && e instanceof RangeError, `acquire(${JSON.stringify(name)})`);
    assert.throws(() => locks.tryAcquire(name), (e: unknown) => isInvalidArgument(e), `tryAcquire(${JSON.stringify(name)})`);
    assert.throws(() => locks.run(name, () => undefined), (e: unknown) => isInvalidArgument(e), `run(${JSON.stringify(name)})`);
  }
  // What the rule allows is still fine: bidi controls, '/', spaces, 256 units.
  for (const name of ['x\u202ey', 'a/b c', 'é'.repeat(256), 'x'.repeat(256), '😀'.repeat(128)]) await locks.run(name, () => undefined);
});

test('9: the file:// driver and the memory:// driver apply the same rule', T, async () => {
  for (const url of ['memory://names-rule', `file://${fresh()}`]) {
    const c = await connect(url);
    try {
      for (const name of ['a\x1bb', 'a\nb', 'x'.repeat(257)]) {
        await assert.rejects(Promise.resolve().then(() => c.tryAcquire(name)), (e: unknown) => isInvalidArgument(e), `${url} ${JSON.stringify(name)}`);
      }
    } finally {
      await c.close();
    }
  }
});

/** Namespaces `a`, `a/locks` and `ab` on `url`: none sees, blocks or breaks another's locks. */
async function namespacesIndependent(url: string, breakable: boolean): Promise<void> {
  const [a, aLocks, ab] = await Promise.all(['a', 'a/locks', 'ab'].map((namespace) => connect(url, { namespace })));
  const all = [a!, aLocks!, ab!] as Coordinator[];
  try {
    const held = await aLocks!.acquire('x');
    const heldAb = await ab!.acquire('c');
    // In `a`, the names whose keys would overlap `a/locks/x` or `ab/c` under naive prefixing:
    for (const name of ['locks', 'locks/x', 'x', 'b/c', 'bc', 'c']) {
      const g = await a!.tryAcquire(name);
      assert.ok(g, `namespace "a": "${name}" is blocked by another namespace's lock`);
      await g.release();
    }
    assert.deepEqual(await a!.list(), [], 'namespace "a" lists other namespaces\' locks');
    assert.deepEqual(await a!.holders('locks/x'), []);
    assert.deepEqual(await a!.holders('x'), []);
    // The other way round: `a` holds `locks` and `locks/x`; `a/locks` still gets `x`, lists nothing of `a`'s.
    const g1 = await a!.acquire('locks');
    const g2 = await a!.acquire('locks/x');
    await held.release();
    const again = await aLocks!.tryAcquire('x');
    assert.ok(again, 'namespace "a/locks": "x" is blocked by namespace "a"');
    assert.deepEqual((await aLocks!.list()).map((i) => i.name), ['x']);
    assert.deepEqual((await ab!.list()).map((i) => i.name), ['c']);
    if (breakable) {
      assert.deepEqual(await a!.break('locks/x', { reason: 'test' }).then((d) => d.length), 1, 'breaks only its own');
      assert.equal(again.signal.aborted, false, 'a break in namespace "a" displaced a lock of "a/locks"');
      assert.equal(heldAb.signal.aborted, false);
    }
    for (const g of [g1, g2, again, heldAb]) await g.release();
  } finally {
    for (const c of all) await c.close();
  }
}

test('12: memory:// namespaces a, a/locks and ab are independent', T, async () => {
  await namespacesIndependent('memory://namespaces', true);
});

test('12: file:// namespaces a, a/locks and ab on one directory are independent', T, async () => {
  await namespacesIndependent(`file://${fresh()}`, false);
});

test('13: a long name and the literal string of its shortened file name are two different locks', T, async () => {
  const locks = new LockDirectory(fresh());
  for (const long of ['x'.repeat(256), 'é'.repeat(200), `${'a/'.repeat(100)}tail`]) {
    const g = await locks.acquire(long);
    const file = basename(g.path);
    assert.ok(Buffer.byteLength(file) <= 255, file);
    const literal = await locks.tryAcquire(file);
    assert.ok(literal, `the literal ${file.length}-character string "${file.slice(0, 20)}…${file.slice(-18)}" maps to the same file as the ${long.length}-character name`);
    assert.notEqual(literal.path, g.path);
    await literal.release();
    await g.release();
  }
});

test('13: a literal name ending like a shortened one ("…~<16 hex>") is listed under its own name', T, async () => {
  const locks = new LockDirectory(fresh(), { cleanup: 'never' });
  const name = 'report~0123456789abcdef';
  await locks.run(name, () => undefined);
  const [info] = await locks.list();
  assert.equal(info?.name, name);
});

test('13: names longer than the one rule allows (300 characters) are refused, not mapped', T, () => {
  const locks = new LockDirectory(fresh());
  assert.throws(() => locks.acquire('x'.repeat(300)), (e: unknown) => isInvalidArgument(e) && e instanceof RangeError);
});

for (const mode of ['exclusive', 'shared'] as const) {
  test(`14: close() rejects a ${mode} waiter blocked in the kernel with DEADBOLT_CLOSED at once; nothing stays locked`, T, async () => {
    const dir = fresh();
    const holder = startProcess([process.execPath, fixture('lockdir-holder'), dir, 'k'], 'root');
    await holder.line(/^held/);
    const locks = new LockDirectory(dir);
    const waiting = locks.acquire('k', { mode });
    try {
      await untilBlocked('self', 1);
      locks.close();
      // The holder keeps the lock: only close() can end this wait (how fast: kernel-waits' diagnostics).
      const r = await within(waiting, EVENT_BOUND_MS);
      assert.equal(r.pending, undefined, 'close() did not reject the waiter blocked in the kernel');
      assert.equal(code(r.error), 'DEADBOLT_CLOSED', String(r.error ?? 'granted'));
      assert.ok(await eventually(() => blockedInKernel('self') === 0, EVENT_BOUND_MS), 'a thread of ours is still blocked in the kernel');
      await assert.rejects(locks.acquire('other'), (e: unknown) => code(e) === 'DEADBOLT_CLOSED');
      holder.child.stdin!.write('release\n');
      await holder.exited;
      // The closed instance must not be handed the lock later: a fresh one gets it, repeatedly.
      const other = new LockDirectory(dir);
      for (let i = 0; i < 5; i++) {
        const g = await other.tryAcquire('k');
        assert.ok(g, 'the lock is held by the closed instance');
        await g.release();
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      holder.child.kill('SIGKILL');
      await within(waiting.then((g) => g.release()), EVENT_BOUND_MS);
    }
  });
}

test('14: list() and clean() of a path that is a file: a DeadboltError DEADBOLT_CONFIG, not a raw ENOTDIR', T, async () => {
  const file = join(root, 'a-file');
  writeFileSync(file, 'not a directory');
  for (const path of [file, join(file, 'sub')]) {
    const locks = new LockDirectory(path);
    for (const [what, call] of [['list', () => locks.list()], ['clean', () => locks.clean()]] as const) {
      await assert.rejects(call(), (e: unknown) => e instanceof DeadboltError && e.code === 'DEADBOLT_CONFIG', `${what}() on ${path}`);
    }
  }
});

for (const scheme of ['etcd', 'redis', 'zookeeper', 'postgres'] as const) {
  test(`14: connect('${scheme}://127.0.0.1:<closed port>') fails with DEADBOLT_BACKEND_UNAVAILABLE naming ECONNREFUSED, long before connectTimeout`, T, async () => {
    const port = await closedPort();
    const path = scheme === 'redis' ? '/0' : scheme === 'postgres' ? '/db' : '';
    const r = await runBounded([process.execPath, hostileFixture('connect-probe'), `${scheme}://127.0.0.1:${port}${path}`, JSON.stringify({ connectTimeout: 4 * EVENT_BOUND_MS })], { timeoutMs: EVENT_BOUND_MS });
    assert.equal(r.timedOut, false, `connect() was still waiting after ${EVENT_BOUND_MS} ms`);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: boolean; code: string; message: string; ms: number };
    assert.equal(result.ok, false);
    assert.equal(result.code, 'DEADBOLT_BACKEND_UNAVAILABLE', result.message);
    assert.match(result.message, /ECONNREFUSED/); // ended by the refusal, not by the connectTimeout
  });
}

test('first use: 6 processes starting at once on a directory that does not exist yet all get their locks (creation and marker race)', T, async () => {
  const dir = fresh();
  const script = `import(${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)}).then(async ({ LockDirectory }) => {
    const locks = new LockDirectory(process.argv[1]);
    for (let i = 0; i < 20; i++) await locks.run('n' + (i % 3), () => undefined, { timeout: 5000 });
    console.log('ok');
  })`;
  const runs = await Promise.all(Array.from({ length: 6 }, () => runBounded([process.execPath, '-e', script, dir], { timeoutMs: EVENT_BOUND_MS })));
  for (const r of runs) assert.equal(r.stdout.trim(), 'ok', `${r.code ?? r.signal}: ${r.stderr}`);
});
