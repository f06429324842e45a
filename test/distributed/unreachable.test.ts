/**
 * connect() to an engine that is not there: it fails as soon as every
 * endpoint refused (ECONNREFUSED, ENOTFOUND, a TLS failure), with a
 * BackendUnavailableError naming each endpoint's cause and what to do, instead
 * of waiting out connectTimeout; an endpoint that accepts but never answers
 * still gets the whole connectTimeout, and the timeout message says what each
 * endpoint did.
 *
 * Refusals come from free 127.0.0.1 ports nobody listens on; TLS failures from
 * real servers (the harness's etcd and redis-server) spoken to with TLS: etcd
 * answers a TLS hello with an error (a refusal), redis-server waits for the
 * rest of what it takes for a request (a timeout that says so).
 * connectTimeout is 30 s and each attempt must settle before a 10 s guard, so
 * a loaded machine cannot make these flaky.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect } from '../../src/distributed/connect.js';
import { BackendUnavailableError, ErrorCodes } from '../../src/errors.js';
import { freePorts, requireServer, startEtcd, startRedis } from '../harness/index.js';
import { rejection, settlesWithin } from '../support/secret-leaks.js';

const LONG = { connectTimeout: 30_000 };
const GUARD_MS = 10_000;

/** connect(url) must reject, well before connectTimeout. */
async function refused(url: string, options: Parameters<typeof connect>[1] = LONG): Promise<BackendUnavailableError> {
  const err = await settlesWithin(rejection(connect(url, { ...LONG, ...options })), GUARD_MS, `connect(${url})`);
  assert.ok(err instanceof BackendUnavailableError, `${url}: ${String(err)}`);
  assert.equal(err.code, ErrorCodes.BACKEND_UNAVAILABLE);
  return err;
}

/** A TCP server that accepts connections and never says a word (a hung engine). */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('unreachable: every endpoint refused', () => {
  test('etcd, Redis, Redis Sentinel, ZooKeeper, PostgreSQL: ECONNREFUSED at once, naming each endpoint and what to do', async () => {
    const [a, b] = await freePorts(2);
    for (const url of [
      `etcd://127.0.0.1:${a},127.0.0.1:${b}`,
      `redis://127.0.0.1:${a}/0`,
      `redis+sentinel://127.0.0.1:${a},127.0.0.1:${b}/mymaster`,
      `zookeeper://127.0.0.1:${a},127.0.0.1:${b}`,
      `postgres://postgres@127.0.0.1:${a}/postgres`,
    ]) {
      const err = await refused(url);
      assert.match(err.message, /ECONNREFUSED/, url);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${a}: connection refused`), url);
      if (url.includes(',')) assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${b}: connection refused`), url);
      assert.match(err.message, /check that \w+ is running/, `${url}: says what to do`);
      assert.ok(err.cause instanceof Error, `${url}: keeps the cause`);
    }
  });

  test('a host name that does not resolve: ENOTFOUND at once', async () => {
    for (const url of ['etcd://deadbolt-no-such-host.invalid:2379', 'redis://deadbolt-no-such-host.invalid:6379', 'zookeeper://deadbolt-no-such-host.invalid:2181']) {
      const err = await refused(url);
      assert.match(err.message, /ENOTFOUND/, url);
      assert.match(err.message, /check the host names/, url);
    }
  });

  test('one endpoint refuses, one never answers: connectTimeout still applies, and the message says what each did', async (t) => {
    const silent = await silentServer();
    t.after(() => silent.close());
    const [dead] = await freePorts(1);
    for (const url of [`etcd://127.0.0.1:${dead},127.0.0.1:${silent.port}`, `zookeeper://127.0.0.1:${dead},127.0.0.1:${silent.port}`]) {
      const err = await refused(url, { connectTimeout: 1_500 });
      assert.match(err.message, /within 1500 ms \(options\.connectTimeout\)/, url);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${dead}: connection refused \\(ECONNREFUSED\\)`), url);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${silent.port}: reachable`), url);
    }
  });
});

const redisServer = requireServer('redis', { suite: 'unreachable: TLS to redis' });
describe('unreachable: TLS to redis-server, which does not speak it', { skip: redisServer.available ? false : redisServer.reason }, () => {
  test('rediss:// to a plain-text Redis (which waits for the rest of the "request"): the timeout says the TLS handshake went unanswered', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const err = await refused(`rediss://${redis.endpoints[0]}`, { connectTimeout: 1_500 });
    assert.match(err.message, /within 1500 ms/);
    assert.match(err.message, new RegExp(`${redis.endpoints[0]}: accepts connections but did not answer the TLS handshake`));
  });
});

const etcdServer = requireServer('etcd', { suite: 'unreachable: TLS to etcd' });
describe('unreachable: TLS to a server that does not speak it (etcd)', { skip: etcdServer.available ? false : etcdServer.reason }, () => {
  test('etcd with TLS credentials against a plain-text member fails at once, naming the TLS failure', async (t) => {
    const etcd = await startEtcd();
    t.after(() => etcd.stop());
    const err = await refused(etcd.url, { ...LONG, driverOptions: { credentials: { rootCertificate: Buffer.from('') } } });
    assert.match(err.message, /TLS handshake failed/);
  });
});
