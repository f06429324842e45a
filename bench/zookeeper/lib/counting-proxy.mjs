/**
 * A TCP proxy that counts the requests ZooKeeper clients send, by operation:
 * how "engine requests per hand-off" is measured without any hook in the
 * library. It parses the client→server stream into frames (4-byte length
 * prefix); the first frame of a connection is the handshake and is skipped,
 * as are pings (xid -2). `exists /` is counted apart: it is deadbolt's
 * session keepalive, which runs on its own clock, not per hand-off.
 */
import net from 'node:net';

const OPS = {
  1: 'create',
  2: 'delete',
  3: 'exists',
  4: 'getData',
  5: 'setData',
  8: 'getChildren',
  9: 'sync',
  11: 'ping',
  12: 'getChildren2',
  13: 'check',
  14: 'multi',
  101: 'setWatches',
  '-11': 'closeSession',
};

export async function startCountingProxy(upstream) {
  const [host, port] = upstream.split(':');
  const counts = new Map();
  const sockets = new Set();
  const count = (op) => counts.set(op, (counts.get(op) ?? 0) + 1);
  const server = net.createServer((client) => {
    const up = net.connect({ host, port: Number(port) });
    sockets.add(client).add(up);
    client.setNoDelay(true);
    up.setNoDelay(true);
    let buffer = Buffer.alloc(0);
    let handshake = true;
    client.on('data', (chunk) => {
      up.write(chunk);
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4 && buffer.length >= 4 + buffer.readInt32BE(0)) {
        const frame = buffer.subarray(4, 4 + buffer.readInt32BE(0));
        buffer = buffer.subarray(4 + frame.length);
        if (handshake) {
          handshake = false;
          continue;
        }
        const xid = frame.readInt32BE(0);
        const type = frame.readInt32BE(4);
        if (xid === -2) continue;
        if (type === 3 && frame.readInt32BE(8) === 1 && frame.toString('utf8', 12, 13) === '/') count('exists / (keepalive)');
        else count(OPS[type] ?? `op ${type}`);
      }
    });
    up.on('data', (chunk) => client.write(chunk));
    const close = () => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `127.0.0.1:${server.address().port}`,
    /** Counts by operation since the last reset. */
    snapshot: () => Object.fromEntries(counts),
    reset: () => counts.clear(),
    /** Resolve once no request has been sent for `ms` (every client has settled). */
    quiet: async (ms) => {
      const total = () => [...counts.values()].reduce((a, b) => a + b, 0);
      for (let before = -1; before !== total(); ) {
        before = total();
        await new Promise((resolve) => setTimeout(resolve, ms));
      }
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
