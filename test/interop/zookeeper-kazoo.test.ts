/**
 * deadbolt and Python's kazoo (Debian's python3-kazoo) on one ZooKeeper:
 * - the default layout never grants beside a claim it did not write (kazoo's,
 *   or any child of the lock node), and lists it as a holder with placeholders;
 * - under `layout: 'kazoo'` deadbolt's claims are kazoo's Lock / ReadLock /
 *   WriteLock nodes: each side waits for the other, in both directions and in
 *   both modes; a mixed counter of 3 + 3 processes stays exact; a kazoo holder
 *   SIGKILLed lets deadbolt in only once its session expired.
 * Deadbolt name `jobs` in namespace `locks` is `KazooClient.Lock('/locks/jobs')`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireClient, requireServer } from '../harness/index.js';
import { HANG_GUARD_MS, EVENT_BOUND_MS } from '../harness/bounds.js';
import { bounded, peek } from '../conformance/harness.js';
import { deadboltTimesOut, holdBothWays, killedHolder, mixedCounter, pythonHold, pythonTry, ZkInterop, type PythonSide } from './zookeeper-interop.js';

const SUITE = 'interop: zookeeper × kazoo';
const server = requireServer('zookeeper', { suite: SUITE });
const client = server.available ? requireClient('kazoo', { suite: SUITE }) : server;

/** `KazooClient.Lock('/locks/<name>')` is deadbolt's `<name>` in namespace `locks` under `layout: 'kazoo'`. */
const kazoo: PythonSide = {
  client: 'kazoo',
  namespace: 'locks',
  target: (name) => `/locks/${name}`,
  lockDir: (name) => `/locks/${name}`,
};

describe(SUITE, { skip: client.available ? false : client.reason, timeout: HANG_GUARD_MS }, () => {
  let env: ZkInterop;
  before(async () => {
    env = await ZkInterop.start();
  });
  after(async () => {
    await env?.stop();
  });

  test('default layout: a kazoo Lock on deadbolt\'s lock node is an exclusive holder deadbolt waits for', { timeout: 60_000 }, async () => {
    const c = await env.deadbolt('interop-default');
    // deadbolt's own lock node of `jobs` (namespace interop-default), used by a kazoo Lock
    const side: PythonSide = { ...kazoo, target: (name) => `/interop-default/locks/${name}`, lockDir: (name) => `/interop-default/locks/${name}` };
    const python = await pythonHold(env, side, 'jobs');
    await deadboltTimesOut(c, 'jobs');
    await deadboltTimesOut(c, 'jobs', 'shared');
    const [holder] = await c.holders('jobs');
    assert.equal(holder?.mode, 'exclusive');
    assert.deepEqual([holder?.owner.id, holder?.owner.host, holder?.owner.pid], ['?', '?', 0], 'placeholders: its data is not read');
    await env.untilChildren(side.lockDir('jobs'), (children) => children.length === 1, 'the timed-out claims withdrawn');
    const pending = c.acquire('jobs');
    await env.untilChildren(side.lockDir('jobs'), (children) => children.length === 2, 'deadbolt queued behind kazoo');
    assert.equal(await peek(pending), 'pending');
    await python.release();
    const guard = await bounded(pending, EVENT_BOUND_MS, 'deadbolt granted after kazoo released');
    await guard.release();

    // kazoo's ReadLock is foreign too under the default layout: exclusive, so even a shared claim waits
    const reader = await pythonHold(env, side, 'jobs', 'read');
    await deadboltTimesOut(c, 'jobs', 'shared');
    await reader.release();
    await (await c.acquire('jobs', { mode: 'shared', timeout: EVENT_BOUND_MS })).release();
  });

  test('default layout: a child without a sequence suffix blocks every claim until it is deleted', { timeout: 60_000 }, async () => {
    const c = await env.deadbolt('interop-plain');
    const dir = '/interop-plain/locks/jobs';
    await env.reader.mkdirp(dir);
    await env.reader.create(`${dir}/not-a-claim`, Buffer.from('{"id":"spoofed","host":"h","pid":1}'), 'persistent');
    await deadboltTimesOut(c, 'jobs', 'shared');
    const [holder] = await c.holders('jobs');
    assert.equal(holder?.owner.id, '?', 'a foreign node\'s data is never taken for an owner');
    await env.untilChildren(dir, (children) => children.length === 1, 'the timed-out claim withdrawn');
    const pending = c.acquire('jobs');
    await env.untilChildren(dir, (children) => children.length === 2, 'deadbolt queued behind the plain node');
    await env.reader.remove(`${dir}/not-a-claim`, -1);
    await (await bounded(pending, EVENT_BOUND_MS, 'granted once the plain node is deleted')).release();
  });

  test('kazoo layout: hold on either side, the other times out', { timeout: 60_000 }, () => holdBothWays(env, kazoo, 'both-ways'));

  test('kazoo layout: shared and exclusive meet kazoo\'s ReadLock and WriteLock', { timeout: 60_000 }, async () => {
    const c = await env.deadbolt(kazoo.namespace, 'kazoo');
    const name = 'rw';
    // deadbolt shared: kazoo readers join, kazoo writers wait
    const shared = await c.acquire(name, { mode: 'shared', timeout: EVENT_BOUND_MS });
    assert.equal(await pythonTry(env, kazoo, name, 'read'), 'ACQUIRED');
    assert.equal(await pythonTry(env, kazoo, name, 'write'), 'TIMEOUT');
    await shared.release();
    // deadbolt exclusive: kazoo readers wait too
    const exclusive = await c.acquire(name, { timeout: EVENT_BOUND_MS });
    assert.equal(await pythonTry(env, kazoo, name, 'read'), 'TIMEOUT');
    assert.equal(await pythonTry(env, kazoo, name, 'write'), 'TIMEOUT');
    await exclusive.release();
    // a kazoo reader holds: deadbolt's shared claim joins it, its exclusive one waits
    const reader = await pythonHold(env, kazoo, name, 'read');
    await (await c.acquire(name, { mode: 'shared', timeout: EVENT_BOUND_MS })).release();
    await deadboltTimesOut(c, name);
    await reader.release();
    // a kazoo writer holds: deadbolt waits in both modes
    const writer = await pythonHold(env, kazoo, name, 'write');
    await deadboltTimesOut(c, name, 'shared');
    await writer.release();
  });

  test('kazoo layout: mixed counter, 3 deadbolt + 3 kazoo processes × 20, exact', { timeout: 60_000 }, () => mixedCounter(env, kazoo, 'counter'));

  test('kazoo layout: a kazoo holder SIGKILLed lets deadbolt in only after its session expired', { timeout: 60_000 }, () => killedHolder(env, kazoo, 'crash'));
});
