/**
 * The other clients of the Web Locks conformance suite: a worker thread, a
 * child process, or (for coordinators) another manager in this process, all
 * behind one interface, so that each test reads the same for every scope.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

/** What a remote client is asked to do. */
export type Command =
  | { op: 'hold'; id: number; name: string; options: { mode?: 'exclusive' | 'shared'; steal?: boolean; ifAvailable?: boolean } }
  | { op: 'release'; id: number }
  | { op: 'query'; id: number }
  /** Block the event loop for good (a hung holder): only kill() ends it. */
  | { op: 'hang' }
  | { op: 'exit' };

/** What it answers. */
export type Reply =
  | { id: number; event: 'ready' }
  | { id: number; event: 'granted'; lock: { name: string; mode: string; token: string | undefined } | null }
  | { id: number; event: 'settled'; outcome: string; signalAborted: boolean }
  | { id: number; event: 'query'; snapshot: unknown }
  /** A steal request it did not honour (deadbolt:web-locks:steal-refused). */
  | { id: -1; event: 'steal-refused'; name: string; why: string };

/** One request of a remote client, held until `release()`. */
export interface RemoteHold {
  /** Resolves with the lock (or null for ifAvailable) when its callback runs. */
  readonly granted: Promise<{ name: string; mode: string; token: string | undefined } | null>;
  /** Resolves with `resolved` or the rejection's name (`AbortError`…), and whether the lock's signal had aborted. */
  readonly settled: Promise<{ outcome: string; signalAborted: boolean }>;
  release(): void;
}

/** Another client of the scope under test. */
export interface RemoteClient {
  hold(name: string, options?: Extract<Command, { op: 'hold' }>['options']): RemoteHold;
  query(): Promise<{ held: { name: string; mode: string; clientId: string }[]; pending: { name: string; mode: string; clientId: string }[] }>;
  /** Ends it the hard way (worker.terminate(), SIGKILL): whatever it held must be released. */
  kill(): Promise<void>;
  /** Resolves with the next steal request it refused (processes only). */
  nextRefusal(): Promise<{ name: string; why: string }>;
  /** Block its event loop for good (processes only): a holder that never answers. */
  hang(): void;
  close(): Promise<void>;
}

const FIXTURE = fileURLToPath(new URL('./fixtures/remote-client.js', import.meta.url));

interface Channel {
  send(command: Command): void;
  onReply(fn: (reply: Reply) => void): void;
  kill(): Promise<void>;
}

/** A remote client in a new worker thread of this process (`execPath`: for the Node 24 reference, the same). */
export function workerClient(kind: 'threads' | 'navigator'): Promise<RemoteClient> {
  const worker = new Worker(FIXTURE, { workerData: { kind } });
  return start({
    send: (c) => worker.postMessage(c),
    onReply: (fn) => worker.on('message', fn),
    kill: async () => {
      await worker.terminate();
    },
  });
}

/**
 * A remote client in a child process, on lock directory `directory`; its
 * manager allows steal unless `allowSteal: false`.
 */
export function processClient(directory: string, options: { allowSteal?: boolean } = {}): Promise<RemoteClient> {
  return childClient({ kind: 'directory', directory, allowSteal: options.allowSteal !== false });
}

/** A remote client in a child process: a coordinator of its own on `url` (a real engine: another host, as far as it can tell). */
export function processCoordinatorClient(url: string, ttl: number, namespace: string): Promise<RemoteClient> {
  return childClient({ kind: 'coordinator', url, ttl, namespace });
}

function childClient(config: object): Promise<RemoteClient> {
  const child: ChildProcess = fork(FIXTURE, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return start({
    send: (c) => child.send(c),
    onReply: (fn) => child.on('message', fn),
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  });
}

async function start(channel: Channel): Promise<RemoteClient> {
  let next = 1;
  const waiting = new Map<number, (reply: Reply) => void>();
  const ready = new Promise<void>((resolve) => waiting.set(0, () => resolve()));
  const refusals: Array<{ name: string; why: string }> = [];
  const refusalWaiters: Array<(r: { name: string; why: string }) => void> = [];
  waiting.set(-1, (reply) => {
    const { name, why } = reply as Extract<Reply, { event: 'steal-refused' }>;
    const waiter = refusalWaiters.shift();
    if (waiter !== undefined) waiter({ name, why });
    else refusals.push({ name, why });
  });
  channel.onReply((reply) => waiting.get(reply.id)?.(reply));
  await ready;
  let dead = false;
  return {
    hold(name, options = {}) {
      const id = next++;
      let granted!: (lock: { name: string; mode: string; token: string | undefined } | null) => void;
      let settled!: (s: { outcome: string; signalAborted: boolean }) => void;
      const hold: RemoteHold = {
        granted: new Promise((resolve) => (granted = resolve)),
        settled: new Promise((resolve) => (settled = resolve)),
        release: () => channel.send({ op: 'release', id }),
      };
      waiting.set(id, (reply) => {
        if (reply.event === 'granted') granted(reply.lock);
        if (reply.event === 'settled') settled(reply);
      });
      channel.send({ op: 'hold', id, name, options });
      return hold;
    },
    query() {
      const id = next++;
      return new Promise((resolve) => {
        waiting.set(id, (reply) => resolve((reply as Extract<Reply, { event: 'query' }>).snapshot as never));
        channel.send({ op: 'query', id });
      });
    },
    async kill() {
      dead = true;
      await channel.kill();
    },
    async close() {
      if (!dead) await channel.kill();
      dead = true;
    },
    nextRefusal() {
      const queued = refusals.shift();
      return queued !== undefined ? Promise.resolve(queued) : new Promise((resolve) => refusalWaiters.push(resolve));
    },
    hang: () => channel.send({ op: 'hang' }),
  };
}

/** A "remote" client that is another manager in this process (other coordinators: other hosts, as far as the engine knows). */
export function managerClient(locks: { request: Function; query(): Promise<unknown> }, close: () => Promise<void>): RemoteClient {
  return {
    hold(name, options = {}) {
      let granted!: (lock: { name: string; mode: string; token: string | undefined } | null) => void;
      let release!: () => void;
      let signalAborted = () => false;
      const g = new Promise<{ name: string; mode: string; token: string | undefined } | null>((resolve) => (granted = resolve));
      const settled = (locks.request(name, options, (lock: { name: string; mode: string; token?: bigint; signal?: AbortSignal } | null) => {
        if (lock === null) return granted(null);
        signalAborted = () => lock.signal?.aborted === true;
        granted({ name: lock.name, mode: lock.mode, token: lock.token?.toString() });
        return new Promise<void>((resolve) => (release = resolve));
      }) as Promise<unknown>).then(
        () => ({ outcome: 'resolved', signalAborted: signalAborted() }),
        (err: unknown) => ({ outcome: (err as Error).name, signalAborted: signalAborted() }),
      );
      return { granted: g, settled, release: () => void g.then(() => release?.()) };
    },
    query: () => locks.query() as never,
    kill: close,
    close,
    nextRefusal: () => new Promise(() => {}),
    hang: () => {
      throw new Error('managerClient: a manager in this process cannot hang alone');
    },
  };
}
