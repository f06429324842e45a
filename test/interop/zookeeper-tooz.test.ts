/**
 * deadbolt and OpenStack's tooz (Debian's python3-tooz), whose ZooKeeper
 * driver's `get_lock(name)` is kazoo's Lock at `/<tooz namespace>/locks/<name>`
 * (tooz namespace `tooz` by default): deadbolt's `jobs` in namespace
 * `tooz/locks` under `layout: 'kazoo'` is tooz's `coordinator.get_lock(b'jobs')`.
 * Hold both ways, a mixed counter of 3 + 3 processes, and a tooz holder
 * SIGKILLed (its session timeout is tooz's `?timeout=`).
 */
import { after, before, describe, test } from 'node:test';
import { requireClient, requireServer } from '../harness/index.js';
import { HANG_GUARD_MS } from '../harness/bounds.js';
import { holdBothWays, killedHolder, mixedCounter, ZkInterop, type PythonSide } from './zookeeper-interop.js';

const SUITE = 'interop: zookeeper × tooz';
const server = requireServer('zookeeper', { suite: SUITE });
const client = server.available ? requireClient('tooz', { suite: SUITE }) : server;

const tooz: PythonSide = {
  client: 'tooz',
  namespace: 'tooz/locks',
  target: (name) => name,
  lockDir: (name) => `/tooz/locks/${name}`,
};

describe(SUITE, { skip: client.available ? false : client.reason, timeout: HANG_GUARD_MS }, () => {
  let env: ZkInterop;
  before(async () => {
    env = await ZkInterop.start();
  });
  after(async () => {
    await env?.stop();
  });

  test('kazoo layout: tooz holds, deadbolt times out, and the other way round', { timeout: 60_000 }, () => holdBothWays(env, tooz, 'jobs'));

  test('kazoo layout: mixed counter, 3 deadbolt + 3 tooz processes × 20, exact', { timeout: 60_000 }, () => mixedCounter(env, tooz, 'counter'));

  test('kazoo layout: a tooz holder SIGKILLed lets deadbolt in only after its session expired', { timeout: 60_000 }, () => killedHolder(env, tooz, 'crash'));
});
