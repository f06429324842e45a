/**
 * The ZooKeeper driver's pure parts, without a server: node names, the queue
 * rules (who holds, who waits on whom), records read back from foreign data,
 * and URL parsing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigurationError } from '../../src/errors.js';
import { parseZooKeeperUrl } from '../../src/drivers/zookeeper/config.js';
import { decodeName, encodeName, parseClaim, ZkPaths } from '../../src/drivers/zookeeper/paths.js';
import { toQueue } from '../../src/drivers/zookeeper/queue.js';
import { blocker as coreBlocker, holdersOf as coreHoldersOf, wouldGrant as coreWouldGrant } from '../../src/core/blocker.js';
import type { QueueEntry } from '../../src/drivers/zookeeper/queue.js';

/** The recipe core's queue rules on ZooKeeper's queue entries (order = sequence suffix), as the engine and its scan apply them. */
const withOrder = (queue: readonly QueueEntry[]) => queue.map((e) => ({ ...e, order: BigInt(e.seq), token: 0n }));
const blocker = (queue: readonly QueueEntry[], mine: QueueEntry) => coreBlocker(withOrder(queue), { order: BigInt(mine.seq), mode: mine.mode });
const holdersOf = (queue: readonly QueueEntry[]) => coreHoldersOf(withOrder(queue));
const wouldGrant = (queue: readonly QueueEntry[], mode: 'exclusive' | 'shared') => coreWouldGrant(withOrder(queue), mode);
import { decodeBreak, decodeHolder, departureOf, encodeBreak, encodeDeparture, encodeHolder } from '../../src/drivers/zookeeper/record.js';

const guid = (n: number): string => `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`;
const claim = (n: number, mode: 'read' | 'write', seq: number): string => `${guid(n)}-${mode}-${seq.toString().padStart(10, '0')}`;

test('names: one node each, never "/", ".", ".."; decoded back exactly', () => {
  for (const name of ['a/b', '/leading', 'with space', 'ünï/✓ 日本', '.', '..', '...', '%2F', 'a*b?[c]', 'x'.repeat(256)]) {
    const node = encodeName(name);
    assert.ok(!node.includes('/') && node !== '.' && node !== '..', node);
    assert.match(node, /^[\x21-\x7e]+$/, 'ASCII only');
    assert.equal(decodeName(node), name);
  }
  assert.notEqual(encodeName('..'), encodeName('%2E%2E'));
  assert.equal(decodeName('%E0%A4%A'), undefined, 'a node deadbolt did not name');
});

test('paths: chroot and namespace prefix every node', () => {
  const paths = new ZkPaths('/apps', 'billing/prod');
  assert.equal(paths.lockDir('a/b'), '/apps/billing/prod/locks/a%2Fb');
  assert.equal(paths.broken('x'), '/apps/billing/prod/broken/x');
  assert.equal(paths.session('0x1f'), '/apps/billing/prod/sessions/0x1f');
  assert.equal(paths.claimPrefix(paths.lockDir('x'), guid(1), 'shared'), `/apps/billing/prod/locks/x/${guid(1)}-read-`);
  assert.equal(new ZkPaths('', 'deadbolt').root, '/deadbolt');
});

test('claims: parsed from deadbolt node names', () => {
  assert.deepEqual(parseClaim(claim(7, 'write', 3)), { node: claim(7, 'write', 3), guid: guid(7), mode: 'exclusive', seq: 3 });
  assert.equal(parseClaim('lock-0000000001'), undefined);
  assert.equal(parseClaim(`${guid(1)}-read-`), undefined);
  assert.deepEqual(toQueue([claim(2, 'read', 11), claim(1, 'write', 2)]).map((e) => e.seq), [2, 11]);
});

test('queue: writers wait for the next lower claim, readers for the next lower writer', () => {
  const queue = toQueue([claim(1, 'read', 1), claim(2, 'read', 2), claim(3, 'write', 3), claim(4, 'read', 4), claim(5, 'read', 5), claim(6, 'write', 6)]);
  const at = (seq: number) => queue.find((e) => e.seq === seq)!;
  assert.equal(blocker(queue, at(1)), undefined);
  assert.equal(blocker(queue, at(2)), undefined, 'readers behind readers are granted together');
  assert.equal(blocker(queue, at(3))?.seq, 2, 'a writer waits for the claim right before it');
  assert.equal(blocker(queue, at(4))?.seq, 3, 'a reader waits for the writer before it, not for readers');
  assert.equal(blocker(queue, at(5))?.seq, 3);
  assert.equal(blocker(queue, at(6))?.seq, 5);
  assert.deepEqual(holdersOf(queue).map((e) => e.seq), [1, 2]);
  assert.deepEqual(holdersOf(toQueue([claim(3, 'write', 9), claim(4, 'read', 10)])).map((e) => e.seq), [9]);
  assert.deepEqual(holdersOf([]), []);
  assert.equal(wouldGrant(toQueue([claim(1, 'read', 1)]), 'shared'), true);
  assert.equal(wouldGrant(toQueue([claim(1, 'read', 1), claim(2, 'write', 2)]), 'shared'), false, 'no reader jumps a waiting writer');
  assert.equal(wouldGrant(toQueue([claim(1, 'read', 1)]), 'exclusive'), false);
  assert.equal(wouldGrant([], 'exclusive'), true);
});

test('records: round-trip, and foreign data gives placeholders instead of errors', () => {
  const owner = { id: 'a1', host: 'web-1', pid: 42, command: 'node worker.js' };
  assert.deepEqual(decodeHolder(encodeHolder(owner, 10_000)), { owner, ttlMs: 10_000 });
  assert.deepEqual(decodeHolder(Buffer.from('not json')), { owner: { id: '?', host: '?', pid: 0 }, ttlMs: undefined });
  assert.deepEqual(decodeHolder(undefined).owner.id, '?');
  const at = new Date('2026-01-02T03:04:05Z');
  const displaced = [{ name: 'x', mode: 'exclusive' as const, token: 12n, owner, since: at, expiresAt: at, backend: 'zookeeper' }];
  const record = decodeBreak(encodeBreak({ reason: 'stuck', by: 'ops', at }, displaced));
  assert.equal(record?.reason, 'stuck');
  assert.equal(record?.displaced?.[0]?.token, 12n);
  assert.equal(decodeBreak(Buffer.from('{"reason":1}')), undefined);
  const departure = encodeDeparture({ broken: ['12', '13'] });
  assert.equal(departureOf(departure, 13n), 'broken');
  assert.equal(departureOf(departure, 14n), undefined);
  assert.equal(departureOf(Buffer.from('{}'), 12n), undefined);
});

test('URLs: hosts and chroot; credentials, queries and bad chroots are refused', () => {
  const options = { endpoints: [{ host: '10.0.0.1', port: 2181 }, { host: 'zk-2', port: 2182 }], connectTimeout: 5_000 };
  const config = parseZooKeeperUrl(new URL('zookeeper://10.0.0.1:2181/apps/my%20locks/'), options);
  assert.deepEqual(config.endpoints, ['10.0.0.1:2181', 'zk-2:2182']);
  assert.equal(config.chroot, '/apps/my locks');
  assert.equal(parseZooKeeperUrl(new URL('zookeeper://h:1'), options).chroot, '');
  assert.equal(parseZooKeeperUrl(new URL('zookeeper://h:1/'), options).chroot, '');
  assert.throws(() => parseZooKeeperUrl(new URL('zookeeper://u:p@h:1/x'), options), ConfigurationError);
  assert.throws(() => parseZooKeeperUrl(new URL('zookeeper://h:1/x?timeout=3'), options), ConfigurationError);
  assert.throws(() => parseZooKeeperUrl(new URL('zookeeper://h:1/a/%00'), options), ConfigurationError);
  assert.throws(() => parseZooKeeperUrl(new URL('zookeeper://h:1/a'), { ...options, endpoints: [{ host: '::1', port: 2181 }] }), ConfigurationError);
  assert.throws(() => parseZooKeeperUrl(new URL('zookeeper://h:1'), { ...options, driverOptions: { authInfo: 'x' } }), ConfigurationError);
  const auth = parseZooKeeperUrl(new URL('zookeeper://h:1'), { ...options, driverOptions: { authInfo: [{ scheme: 'digest', auth: 'u:p' }] } });
  assert.deepEqual(auth.authInfo, [{ scheme: 'digest', auth: 'u:p' }]);
});

test('URLs: ?layout= and driverOptions.layout, validated, deadbolt by default', () => {
  const options = { endpoints: [], connectTimeout: 5_000 };
  assert.equal(parseZooKeeperUrl(new URL('zookeeper://h:1/x'), options).layout, 'deadbolt');
  assert.equal(parseZooKeeperUrl(new URL('zookeeper://h:1/x?layout=kazoo'), options).layout, 'kazoo');
  assert.equal(parseZooKeeperUrl(new URL('zookeeper://h:1/x'), { ...options, driverOptions: { layout: 'kazoo' } }).layout, 'kazoo');
  assert.equal(parseZooKeeperUrl(new URL('zookeeper://h:1?layout=deadbolt'), { ...options, driverOptions: { layout: 'deadbolt' } }).layout, 'deadbolt');
  const refused = (url: string, driverOptions?: Record<string, unknown>): void => {
    assert.throws(() => parseZooKeeperUrl(new URL(url), driverOptions === undefined ? options : { ...options, driverOptions }), (error: unknown) => {
      assert.ok(error instanceof ConfigurationError);
      assert.match(error.message, /deadbolt, kazoo|layout/);
      return true;
    });
  };
  refused('zookeeper://h:1?layout=curator');
  refused('zookeeper://h:1?layout=kazoo&layout=kazoo');
  refused('zookeeper://h:1', { layout: 7 });
  refused('zookeeper://h:1', { layout: 'Kazoo' });
  refused('zookeeper://h:1?layout=kazoo', { layout: 'deadbolt' });
  assert.throws(() => parseZooKeeperUrl(new URL('zookeeper://h:1/x#frag'), options), ConfigurationError);
});

test('foreign children: exclusive, at their 10-digit suffix; without one, ahead of everyone', () => {
  const kazoo = `${'a'.repeat(32)}__lock__0000000003`;
  const kazooRead = `${'b'.repeat(32)}__rlock__0000000004`;
  const curator = '_c_0b1e3c2d-1a2b-4c3d-9e8f-0123456789ab-lock-0000000006';
  const queue = toQueue([claim(1, 'read', 5), kazoo, claim(2, 'read', 7), curator, kazooRead]);
  assert.deepEqual(queue.map((e) => [e.seq, e.mode, e.foreign === true]), [
    [3, 'exclusive', true],
    [4, 'exclusive', true], // kazoo's ReadLock is foreign under the default layout: exclusive, the safe reading
    [5, 'shared', false],
    [6, 'exclusive', true],
    [7, 'shared', false],
  ]);
  assert.equal(queue.every((e) => e.foreign !== true || e.guid === ''), true, 'a foreign node never carries an identity of ours');
  const shared = queue[2]!;
  assert.equal(blocker(queue, shared)?.seq, 4, 'a shared claim waits for a foreign one');
  assert.deepEqual(holdersOf(queue).map((e) => e.seq), [3]);
  assert.equal(wouldGrant(toQueue(['anything-0000000001']), 'shared'), false);

  // no sequence suffix: placed below every sequence number, so it blocks everyone until deleted
  const plain = toQueue([claim(1, 'read', 0), 'config', 'zeta', claim(2, 'write', 1)]);
  assert.deepEqual(plain.slice(0, 2).map((e) => e.node), ['config', 'zeta']);
  assert.ok(plain[0]!.seq < plain[1]!.seq && plain[1]!.seq < -(2 ** 31), 'distinct, below any 32-bit sequence');
  assert.equal(blocker(plain, plain[2]!)?.node, 'zeta');
  assert.equal(holdersOf(plain)[0]!.node, 'config');
});

test('kazoo layout: kazoo\'s names are claims with their modes, deadbolt\'s too, the rest foreign', () => {
  const hex = (n: number): string => n.toString(16).padStart(32, '0');
  const lock = (n: number, seq: number): string => `${hex(n)}__lock__${seq.toString().padStart(10, '0')}`;
  const rlock = (n: number, seq: number): string => `${hex(n)}__rlock__${seq.toString().padStart(10, '0')}`;
  const queue = toQueue([rlock(1, 1), lock(2, 2), claim(3, 'read', 3), 'stray', rlock(4, 4)], 'kazoo');
  assert.deepEqual(queue.map((e) => [e.node, e.mode, e.foreign === true]), [
    ['stray', 'exclusive', true],
    [rlock(1, 1), 'shared', false],
    [lock(2, 2), 'exclusive', false],
    [claim(3, 'read', 3), 'shared', false],
    [rlock(4, 4), 'shared', false],
  ]);
  assert.equal(queue[1]!.guid, hex(1));
  assert.equal(toQueue([`${hex(1)}__lock__-000000005`], 'kazoo')[0]!.seq, -5, "ZooKeeper's %010d of a wrapped counter");
  const paths = new ZkPaths('/apps', 'tooz/locks', 'kazoo');
  assert.equal(paths.lockDir('jobs'), '/apps/tooz/locks/jobs', "tooz's get_lock(b'jobs') under namespace tooz");
  assert.equal(paths.claimPrefix(paths.lockDir('jobs'), hex(9), 'exclusive'), `/apps/tooz/locks/jobs/${hex(9)}__lock__`);
  assert.equal(paths.claimPrefix(paths.lockDir('jobs'), hex(9), 'shared'), `/apps/tooz/locks/jobs/${hex(9)}__rlock__`);
  assert.equal(paths.sessionsRoot, '/apps/tooz/locks/%deadbolt/sessions');
  assert.equal(paths.brokenRoot, '/apps/tooz/locks/%deadbolt/broken');
  assert.equal(decodeName('%deadbolt'), undefined, 'never listed as a lock');
  assert.equal(new ZkPaths('', 'locks', 'kazoo').lockDir('jobs'), '/locks/jobs', "KazooClient.Lock('/locks/jobs')");
  assert.equal(new ZkPaths('', 'locks').lockDir('jobs'), '/%locks/locks/jobs', 'the default layout is unchanged');
});
