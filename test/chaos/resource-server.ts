/**
 * The resource server: the thing a lock protects, as its own single-threaded
 * process. It keeps one integer per lock name; workers read it and write it
 * back plus one (a read-modify-write), each operation tagged with the worker's
 * fencing token.
 *
 * Fenced mode: every operation, read or write, goes through deadbolt's `Fence`
 * first: a token lower than the highest admitted for that name is rejected.
 * Fencing reads too is what makes read-modify-write safe: once a newer holder
 * has read, an older holder's write (computed from an older read) is refused,
 * so no update is lost. Record-only mode admits everything, to show what the
 * same faults do without fencing.
 *
 * Either way every operation is logged, in the order handled (one thread, no
 * await between check and update: that order is the truth), with monotonic time,
 * to a JSON-lines file.
 *
 * Protocol: newline-delimited JSON over TCP on 127.0.0.1.
 *   → {"id":1,"op":"read","name":"a","token":"17","worker":"w0.1"}
 *   ← {"id":1,"ok":true,"value":41}
 *   → {"id":2,"op":"write","name":"a","token":"17","worker":"w0.1","value":42}
 *   ← {"id":2,"ok":false,"fenced":true,"highest":"18"}
 * Control over IPC from the parent: it answers `{type:'ready',port}` once
 * listening, and on `{type:'finish'}` flushes its log, answers
 * `{type:'finished',values}` and exits.
 *
 * Run as: `node resource-server.js '{"mode":"fenced","log":"/tmp/…/resource.jsonl"}'` (forked).
 *
 * @module
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { Fence, FencedOutError } from '../../src/index.js';
import type { ResourceEntry } from './events.js';
import { monotonicMs } from './time.js';

/** `fenced`: reject stale tokens with a Fence. `record`: admit everything, only log. */
export type ResourceMode = 'fenced' | 'record';

/** A request on the wire. */
export interface ResourceRequest {
  id: number;
  op: 'read' | 'write';
  name: string;
  token: string;
  worker: string;
  /** For writes. */
  value?: number;
}

/** A reply on the wire. */
export interface ResourceReply {
  id: number;
  ok: boolean;
  /** Read: the stored value. */
  value?: number;
  /** Set when the Fence rejected the token. */
  fenced?: boolean;
  /** The highest admitted token, when fenced. */
  highest?: string;
  /** A malformed request. */
  error?: string;
}

/**
 * The resource's state and rule, independent of sockets (so it can be driven directly).
 *
 * @example
 * ```ts
 * const store = new ResourceStore('fenced', (entry) => log.push(entry));
 * store.handle({ id: 1, op: 'read', name: 'a', token: '5', worker: 'w0.1' }); // { id: 1, ok: true, value: 0 }
 * ```
 */
export class ResourceStore {
  readonly #fence = new Fence();
  readonly #values = new Map<string, number>();
  /** Highest token of any operation per name, kept in both modes (the log shows what a fence would have done). */
  readonly #highest = new Map<string, bigint>();
  #seq = 0;

  constructor(
    readonly mode: ResourceMode,
    readonly log: (entry: ResourceEntry) => void,
  ) {}

  /** Handle one request: check, update, log, all in one synchronous step. */
  handle(request: ResourceRequest): ResourceReply {
    const { id, op, name, worker } = request;
    const token = BigInt(request.token);
    const prev = this.#values.get(name) ?? 0;
    const highest = this.#highest.get(name);
    let accepted = true;
    let highestAdmitted: bigint | undefined;
    if (this.mode === 'fenced') {
      try {
        this.#fence.check(name, token);
      } catch (err) {
        if (!(err instanceof FencedOutError)) throw err;
        accepted = false;
        highestAdmitted = err.highest;
      }
    }
    if (highest === undefined || token > highest) this.#highest.set(name, token);
    const value = op === 'write' ? Number(request.value) : prev;
    if (op === 'write' && accepted) this.#values.set(name, value);
    this.log({
      seq: ++this.#seq,
      t: monotonicMs(),
      op,
      name,
      token: request.token,
      worker,
      value,
      prev,
      accepted,
      highest: highest === undefined ? null : highest.toString(),
    });
    if (!accepted) return { id, ok: false, fenced: true, highest: String(highestAdmitted) };
    return op === 'read' ? { id, ok: true, value: prev } : { id, ok: true };
  }

  /** Every name's current value. */
  values(): Record<string, number> {
    return Object.fromEntries(this.#values);
  }
}

/** Serve `store` on 127.0.0.1, one JSON request per line. */
function serve(store: ResourceStore): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        socket.write(`${JSON.stringify(answer(store, line))}\n`);
      }
    });
    // A killed worker resets its connection: nothing to do but forget it.
    socket.on('error', () => socket.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve(server));
  });
}

function answer(store: ResourceStore, line: string): ResourceReply {
  let request: ResourceRequest;
  try {
    request = JSON.parse(line) as ResourceRequest;
    return store.handle(request);
  } catch (err) {
    return { id: -1, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function finish(log: WriteStream, store: ResourceStore): void {
  log.end(() => {
    process.send!({ type: 'finished', values: store.values() }, undefined, {}, () => process.exit(0));
  });
}

async function main(): Promise<void> {
  const { mode, log: logPath } = JSON.parse(process.argv[2] ?? '{}') as { mode: ResourceMode; log: string };
  const log = createWriteStream(logPath, { flags: 'a' });
  const store = new ResourceStore(mode, (entry) => log.write(`${JSON.stringify(entry)}\n`));
  const server = await serve(store);
  // The parent going away (crash, Ctrl-C) must not leave this process behind.
  process.on('disconnect', () => process.exit(1));
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'finish') {
      server.close();
      finish(log, store);
    }
  });
  const address = server.address() as net.AddressInfo;
  process.send!({ type: 'ready', port: address.port });
}

// Run only as a forked process; importing this module (to use ResourceStore) starts nothing.
if (process.send !== undefined && process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  await main();
}
