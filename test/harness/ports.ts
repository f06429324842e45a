/**
 * Loopback port helpers for the real-server test harness.
 *
 * Every server the harness starts listens on 127.0.0.1 (never `localhost`, which may also mean
 * ::1) on a port picked here: listen on port 0, read the port the kernel chose, close. That leaves a
 * small window in which another process can take the port; the start functions retry with fresh
 * ports when a server's log says "address already in use".
 *
 * @module
 */
import net from 'node:net';
import { EVENT_BOUND_MS } from './bounds.js';

/** Loopback address every harness server binds to. */
export const HOST = '127.0.0.1';

/** Ports handed out by this process, so that two servers started concurrently never share one. */
const handedOut = new Set<number>();

function listenOnZero(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0, exclusive: true }, () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Returns `count` distinct free TCP ports on 127.0.0.1, none of which this process has handed out
 * before. All listeners are held open until every port is known, so the kernel cannot hand the same
 * port out twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let attempts = 0; ports.length < count; attempts++) {
      if (attempts > count * 20) throw new Error(`could not find ${count} free ports on ${HOST}`);
      const server = await listenOnZero();
      held.push(server);
      const address = server.address();
      if (address === null || typeof address === 'string') continue;
      if (handedOut.has(address.port)) continue;
      ports.push(address.port);
    }
  } finally {
    await Promise.all(held.map(close));
  }
  for (const port of ports) handedOut.add(port);
  return ports;
}

/** Returns one free TCP port on 127.0.0.1 (see {@link freePorts}). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/**
 * Resolves `false` when a TCP connection to 127.0.0.1:`port` is refused (nothing listens), `true`
 * otherwise: when it is accepted, or when it neither succeeds nor fails within `timeoutMs` (a
 * listener that is paused or has a full backlog is still a listener).
 */
export function isPortOpen(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (open: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(open);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Waits until nothing accepts connections on 127.0.0.1:`port` any more. A process that has exited
 * can still pass `kill -0` for a second or two on some machines (a zombie not yet reaped); a closed
 * port is the reliable sign that a server is gone. Rejects after `timeoutMs`.
 */
export async function waitPortClosed(port: number, timeoutMs = EVENT_BOUND_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isPortOpen(port, 250))) return;
    if (Date.now() > deadline) throw new Error(`port ${HOST}:${port} still open after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
