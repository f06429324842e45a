/**
 * The etcd driver on a three-member cluster whose leader is killed while two
 * processes contend for a lock: locks keep working (the waiter gets the lock),
 * sessions survive the election, and there are never two holders.
 *
 * Skipped, loudly, without an etcd binary; a failure instead when CI is set.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '../../src/index.js';
import { requireServer, startEtcd, type EtcdHandle } from '../harness/index.js';
import { Worker, killAllWorkers } from './fixtures/etcd-workers.js';
import { CONNECT_TIMEOUT_MS, EVENT_BOUND_MS, STEADY_TTL_MS } from '../harness/bounds.js';

const TTL = STEADY_TTL_MS; // sessions ride out an election even when the machine is starved
const server = requireServer('etcd', { suite: 'etcd driver (three-member cluster)' });

describe('etcd driver on a three-member cluster', { skip: server.available ? false : server.reason }, () => {
  let etcd: EtcdHandle;
  before(async () => {
    etcd = await startEtcd({ members: 3 });
  });
  after(async () => {
    await killAllWorkers();
    await etcd?.stop();
  });

  test('leader killed while two processes contend: no two holders, the waiter gets the lock, sessions survive', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'deadbolt-etcd-cluster-'));
    try {
      const file = join(dir, 'counter');
      writeFileSync(file, '0');
      const namespace = `cluster-${process.pid}`;
      const workers = Array.from({ length: 2 }, () =>
        Worker.spawn({ task: 'counter', url: etcd.url, namespace, ttl: TTL, name: 'counter', rounds: 40, file }),
      );
      await Promise.all(workers.map((w) => w.next('ready')));
      await sleep(100);
      const leader = await etcd.leader();
      await leader.kill();
      t.diagnostic(`killed leader ${leader.name}`);
      const reports = await Promise.all(workers.map((w) => w.next('counted', 4 * EVENT_BOUND_MS)));
      assert.equal(readFileSync(file, 'utf8'), '80', 'two holders at once: the unprotected counter lost increments');
      const tokens = reports
        .flatMap((r) => r.records)
        .sort((a, b) => a.value - b.value)
        .map((r) => BigInt(r.token));
      for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!);

      // The cluster of two keeps serving: a holder and a waiter in this process.
      const a = await connect(etcd.url, { ttl: TTL, namespace, connectTimeout: CONNECT_TIMEOUT_MS });
      const b = await connect(etcd.url, { ttl: TTL, namespace, connectTimeout: CONNECT_TIMEOUT_MS });
      const guard = await a.acquire('after');
      const waiting = b.acquire('after', { timeout: EVENT_BOUND_MS });
      await sleep(250); // the claim reaching etcd
      await guard.release();
      const next = await waiting;
      assert.ok(next.token > guard.token);
      await next.release();
      await Promise.all([a.close(), b.close()]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
