/**
 * The Redis engine's wake and loss routing, on a scripted client (no server):
 * the acquire script's answer and the pub/sub message that frees the name
 * travel on two connections, so either may arrive first; a wake that comes
 * before the answer must end the wait at once, not after the fallback timer.
 * The protocol itself runs on a real server in test/conformance/redis.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { LockLostError } from '../../src/errors.js';
import type { RedisClient, ScriptArg } from '../../src/drivers/redis/client.js';
import { RedisDriver } from '../../src/drivers/redis/driver.js';
import type { ScriptName } from '../../src/drivers/redis/protocol.js';
import type { Capabilities } from '../../src/distributed/driver.js';
import { owner } from '../support/fake-engine.js';
import { lossSignal } from '../support/loss-signal.js';

const capabilities: Capabilities = {
  shared: true,
  durableTokens: false,
  serverLease: true,
  waitNotifications: true,
  breakable: true,
  recipes: false,
  minTtlMs: 100,
  recoveryBoundMs: 250,
  notes: [],
};

/** A client whose script calls the test answers; the subscriber is an emitter the test publishes on. */
function scriptedClient() {
  const subscriber = Object.assign(new EventEmitter(), { subscribe: async () => 1, unsubscribe: async () => 1 });
  const calls: { script: ScriptName; args: readonly ScriptArg[]; answer: (reply: unknown) => void }[] = [];
  const client = {
    subscriber,
    redis: { get: async () => null },
    run: (script: ScriptName, args: readonly ScriptArg[]) =>
      script === 'open' ? Promise.resolve(1) : new Promise((answer) => calls.push({ script, args, answer })),
    bound: <T>(request: Promise<T>) => request,
    close: async () => {},
  } as unknown as RedisClient;
  const publish = (channel: string, text: string) => subscriber.emit('message', channel, text);
  return { client, calls, publish };
}

/** The next script call, once made. */
async function next(calls: { script: ScriptName }[], index: number): Promise<void> {
  for (let i = 0; i < 1_000 && calls.length <= index; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(calls.length > index, `script call ${index + 1} was never made`);
}

test('a wake that arrives before the waiting answer ends the wait at once', async () => {
  const { client, calls, publish } = scriptedClient();
  const driver = new RedisDriver(client, 'ns', capabilities);
  const session = await driver.openSession(60_000, owner);
  const acquiring = driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, new AbortController().signal);
  await next(calls, 0);
  assert.equal(calls[0]!.args[7], 'first');
  const claim = String(calls[0]!.args[2]);
  publish(`ns:wake:${session.id}`, `w|${claim}`); // the release's message, ahead of our answer
  calls[0]!.answer(['waiting', 50_000]); // the lease in the way has long to run: only the kept wake can end this wait
  await next(calls, 1);
  assert.equal(calls[1]!.args[7], 'again', 'the re-check is the acquire script again');
  calls[1]!.answer(['granted', '42', 'released|41']);
  const lock = await acquiring;
  assert.equal(lock.token, 42n, 'the token the granting script assigned');
  assert.deepEqual(lock.predecessor, { outcome: 'released', token: 41n });
  const releasing = lock.release();
  await next(calls, 2);
  assert.equal(calls[2]!.script, 'release');
  assert.equal(calls[2]!.args[5], '42', 'released on its token');
  calls[2]!.answer(1);
  await releasing;
});

test('a break message for a held claim aborts its lock signal as broken', async () => {
  const { client, calls, publish } = scriptedClient();
  const driver = new RedisDriver(client, 'ns', capabilities);
  const session = await driver.openSession(60_000, owner);
  const acquiring = driver.acquire({ session, name: 'jobs', mode: 'exclusive', owner }, new AbortController().signal);
  await next(calls, 0);
  calls[0]!.answer(['granted', '7', '']);
  const lock = await acquiring;
  assert.equal(lock.predecessor, undefined);
  publish(`ns:wake:${session.id}`, `b|${String(calls[0]!.args[2])}`);
  for (let i = 0; i < 20 && !lossSignal(lock).aborted; i++) await new Promise((resolve) => setImmediate(resolve));
  const reason = lossSignal(lock).reason as LockLostError;
  assert.ok(reason instanceof LockLostError);
  assert.equal(reason.reason, 'broken');
  assert.equal(reason.token, 7n);
});
