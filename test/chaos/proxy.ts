/**
 * A TCP proxy between one worker and the engine, which the nemesis can cut:
 * the simplest partition that works for every TCP engine without root.
 *
 * - `partition()` black-holes the link: bytes in either direction are held
 *   back, not delivered, not refused. Connections stay open and new ones are
 *   accepted (the handshake is local), so the client sees what a real
 *   partition looks like: requests that are never answered.
 * - `heal('flush')` delivers what was held, in order, as TCP would once the
 *   network is back; `heal('reset')` resets every connection (RST), as a NAT or
 *   firewall that lost its state would; the client must reconnect.
 *
 * Only the worker's path to the engine goes through its proxy: its path to the
 * resource server does not, which is the dangerous case fencing exists for (a
 * holder cut off from the coordination engine that can still write).
 *
 * @module
 */
import net from 'node:net';
import type { HealMode } from './schedule.js';

/** One proxied connection: the worker's side and the engine's side. */
class Link {
  readonly #held: { up: Buffer[]; down: Buffer[] } = { up: [], down: [] };

  constructor(
    readonly client: net.Socket,
    readonly upstream: net.Socket,
    readonly isCut: () => boolean,
    onClose: (link: Link) => void,
  ) {
    client.on('data', (chunk: Buffer) => this.#forward(chunk, upstream, this.#held.up));
    upstream.on('data', (chunk: Buffer) => this.#forward(chunk, client, this.#held.down));
    const end = (): void => {
      this.destroy();
      onClose(this);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }

  /** Deliver what was held back during a partition. */
  flush(): void {
    for (const chunk of this.#held.up.splice(0)) this.upstream.write(chunk);
    for (const chunk of this.#held.down.splice(0)) this.client.write(chunk);
  }

  /** Reset both sides (RST, not FIN). */
  reset(): void {
    for (const socket of [this.client, this.upstream]) {
      if (!socket.destroyed) socket.resetAndDestroy();
    }
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  #forward(chunk: Buffer, to: net.Socket, held: Buffer[]): void {
    if (this.isCut()) held.push(chunk);
    else if (!to.destroyed) to.write(chunk);
  }
}

/**
 * A cuttable proxy on 127.0.0.1 to `upstream`.
 *
 * @example
 * ```ts
 * const proxy = await PartitionProxy.start({ host: '127.0.0.1', port: 2379 });
 * const url = `etcd://127.0.0.1:${proxy.port}`; // the worker connects here
 * proxy.partition();
 * await sleep(3_000);
 * proxy.heal('reset');
 * ```
 */
export class PartitionProxy {
  readonly #server: net.Server;
  readonly #links = new Set<Link>();
  #cut = false;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  /** Listen on a free loopback port, forwarding to `upstream`. */
  static async start(upstream: { host: string; port: number }): Promise<PartitionProxy> {
    let proxy: PartitionProxy | undefined;
    const server = net.createServer((client) => proxy!.#accept(client, upstream));
    proxy = new PartitionProxy(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    return proxy;
  }

  /** The port workers connect to. */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Whether the link is cut right now. */
  get partitioned(): boolean {
    return this.#cut;
  }

  /** Cut the link: hold back every byte, both ways. */
  partition(): void {
    this.#cut = true;
  }

  /** Restore the link, delivering what was held (`flush`) or resetting every connection (`reset`). */
  heal(mode: HealMode): void {
    this.#cut = false;
    for (const link of [...this.#links]) {
      if (mode === 'flush') link.flush();
      else link.reset();
    }
  }

  /** Stop listening and drop every connection. */
  async close(): Promise<void> {
    this.#cut = false;
    for (const link of this.#links) link.destroy();
    this.#links.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket, upstream: { host: string; port: number }): void {
    client.setNoDelay(true);
    const engine = net.connect(upstream);
    engine.setNoDelay(true);
    this.#links.add(new Link(client, engine, () => this.#cut, (link) => this.#links.delete(link)));
  }
}
