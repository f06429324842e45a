/**
 * A worker's connection to the resource server: one TCP socket, requests
 * matched to replies by id. The resource is never a fault target, so a broken
 * connection is an error of the run, not something to retry around.
 *
 * @module
 */
import net from 'node:net';
import type { ResourceReply, ResourceRequest } from './resource-server.js';

/** What a read or a write came back with. */
export interface ResourceResult {
  ok: boolean;
  /** Read: the stored value. */
  value: number;
  /** Rejected by the fence. */
  fenced: boolean;
}

/**
 * A client of the resource server.
 *
 * @example
 * ```ts
 * const resource = await ResourceClient.connect(port, 'w0.1');
 * const { value } = await resource.read('a', guard.token);
 * await resource.write('a', guard.token, value + 1);
 * ```
 */
export class ResourceClient {
  readonly #socket: net.Socket;
  readonly #worker: string;
  readonly #pending = new Map<number, (reply: ResourceReply) => void>();
  #ids = 0;
  #buffered = '';
  #failure: Error | undefined;

  private constructor(socket: net.Socket, worker: string) {
    this.#socket = socket;
    this.#worker = worker;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('the resource server closed the connection')));
  }

  /** Connect to the server on 127.0.0.1:`port` as `worker`. */
  static connect(port: number, worker: string): Promise<ResourceClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        resolve(new ResourceClient(socket, worker));
      });
      socket.once('error', reject);
    });
  }

  /** A fenced read of `name` with `token`. */
  read(name: string, token: bigint): Promise<ResourceResult> {
    return this.#request({ op: 'read', name, token: token.toString() });
  }

  /** A fenced write of `value` to `name` with `token`. */
  write(name: string, token: bigint, value: number): Promise<ResourceResult> {
    return this.#request({ op: 'write', name, token: token.toString(), value });
  }

  close(): void {
    this.#socket.destroy();
  }

  async #request(fields: Omit<ResourceRequest, 'id' | 'worker'>): Promise<ResourceResult> {
    if (this.#failure !== undefined) throw this.#failure;
    const id = ++this.#ids;
    const reply = await new Promise<ResourceReply>((resolve) => {
      this.#pending.set(id, resolve);
      this.#socket.write(`${JSON.stringify({ id, worker: this.#worker, ...fields })}\n`);
    });
    if (reply.error !== undefined) throw new Error(`resource server: ${reply.error}`);
    return { ok: reply.ok, value: reply.value ?? 0, fenced: reply.fenced === true };
  }

  #receive(chunk: Buffer): void {
    this.#buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = this.#buffered.indexOf('\n')) >= 0) {
      const reply = JSON.parse(this.#buffered.slice(0, newline)) as ResourceReply;
      this.#buffered = this.#buffered.slice(newline + 1);
      const resolve = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      resolve?.(reply);
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const error: ResourceReply = { id: -1, ok: false, error: this.#failure.message };
    for (const resolve of this.#pending.values()) resolve(error);
    this.#pending.clear();
  }
}
