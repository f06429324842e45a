/**
 * Namespace layouts are one to one and never nest one namespace's keys in
 * another's directories (etcd keys, ZooKeeper nodes, file:// directories), for
 * every pair of namespaces built from segments that collide on purpose. The
 * conformance suite proves the behaviour on real engines; this proves the
 * layouts for many more pairs than it can afford.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isInvalidArgument } from '../../src/errors.js';
import { connect } from '../../src/distributed/connect.js';
import { KeyLayout } from '../../src/drivers/etcd/keys.js';
import { namespaceDirectory } from '../../src/drivers/file/index.js';
import { ZkPaths } from '../../src/drivers/zookeeper/paths.js';

const SEGMENTS = ['a', 'ab', 'locks', 'broken', 'anchor', 'sessions', '.x', 'x.y', 'deadbolt'];

/** Every namespace of one to three of those segments. */
function namespaces(): string[] {
  const out: string[] = [];
  const grow = (prefix: string[], depth: number): void => {
    for (const segment of SEGMENTS) {
      const next = [...prefix, segment];
      out.push(next.join('/'));
      if (depth > 1) grow(next, depth - 1);
    }
  };
  grow([], 3);
  return out;
}

test('etcd: no namespace has a key inside another namespace\'s ranges', () => {
  const all = namespaces().map((ns) => ({ ns, keys: new KeyLayout(ns) }));
  for (const { ns: n1, keys: k1 } of all) {
    for (const { ns: n2, keys: k2 } of all) {
      if (n1 === n2) continue;
      for (const mine of [k2.locksRoot, k2.brokenRoot, `${k2.anchor}`]) {
        assert.ok(!mine.startsWith(k1.locksRoot), `${n2}'s ${mine} is inside ${n1}'s ${k1.locksRoot}`);
        assert.ok(!mine.startsWith(k1.brokenRoot), `${n2}'s ${mine} is inside ${n1}'s ${k1.brokenRoot}`);
        assert.notEqual(mine, k1.anchor);
      }
    }
  }
});

test('ZooKeeper: no namespace has a node inside another namespace\'s directories', () => {
  const all = namespaces().map((ns) => ({ ns, paths: new ZkPaths('/chroot', ns) }));
  for (const { ns: n1, paths: p1 } of all) {
    for (const { ns: n2, paths: p2 } of all) {
      if (n1 === n2) continue;
      assert.notEqual(p1.root, p2.root);
      for (const dir of [p1.locksRoot, p1.brokenRoot, p1.sessionsRoot]) {
        assert.ok(!`${p2.root}/`.startsWith(`${dir}/`) && p2.root !== dir, `${n2} (${p2.root}) is inside ${n1}'s ${dir}`);
      }
    }
  }
});

test('file://: one directory per namespace, the default one being the directory itself', () => {
  const all = namespaces();
  const dirs = new Set(all.map((ns) => namespaceDirectory('/run/locks', ns)));
  assert.equal(dirs.size, all.length, 'one to one');
  assert.equal(namespaceDirectory('/run/locks', 'deadbolt'), '/run/locks');
  assert.equal(namespaceDirectory('/run/locks', 'a/locks'), '/run/locks/.deadbolt-namespaces/a%2Flocks');
  assert.equal(namespaceDirectory('/run/locks', '.x'), '/run/locks/.deadbolt-namespaces/%2Ex');
  for (const dir of dirs) if (dir !== '/run/locks') assert.match(dir, /^\/run\/locks\/\.deadbolt-namespaces\/[^/.][^/]*$/);
});

test('namespaces "a/", "/a", "." and ".." segments are refused by connect(), naming the option', () => {
  for (const bad of ['a/', '/a', '.', '..', 'a/../b', 'a/./b', 'a//b', 'a:b', 'a%b']) {
    assert.throws(() => connect('memory://namespaces-unit', { namespace: bad }), (e) => isInvalidArgument(e) && /options\.namespace/.test((e as Error).message), bad);
  }
});
