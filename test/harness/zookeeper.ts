/**
 * ZooKeeper for tests: a standalone server or a three-member ensemble on loopback.
 *
 * Runs `java <small, fast-starting JVM flags> -cp zookeeper.jar:slf4j-simple.jar` with
 * `org.apache.zookeeper.server.ZooKeeperServerMain` (one member) or
 * `org.apache.zookeeper.server.quorum.QuorumPeerMain` (three). Debian's zookeeper.jar carries a
 * manifest Class-Path naming its dependencies (zookeeper-jute, netty, jackson, metrics, ...);
 * slf4j-simple is added so the server logs (to stderr, i.e. the member's log file).
 * Generated zoo.cfg: `tickTime=500` (sessions from 1 s to 10 s), `admin.enableServer=false`,
 * `clientPortAddress=127.0.0.1`, `4lw.commands.whitelist=ruok,srvr,stat,mntr`. Ready when `srvr`
 * over a raw TCP socket answers with `Mode:` (standalone, leader or follower).
 * Members stop with SIGTERM (SIGKILL after 5 s).
 *
 * @module
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HOST, freePorts } from './ports.js';
import { makeTempDir, removeTempDir } from './process.js';
import { serverBinaries } from './require-server.js';
import { ManagedMember, makeHandle, retryOnPortClash, startMembers, type Member, type ServerHandle } from './server.js';

/** Options for {@link startZooKeeper}. */
export interface ZooKeeperOptions {
  /** Ensemble size (default 1: standalone). */
  members?: 1 | 3;
  /** `tickTime` in ms (default 500). */
  tickTimeMs?: number;
}

/** A ZooKeeper {@link ServerHandle}; `url` is `zookeeper://127.0.0.1:p1[,127.0.0.1:p2,...]`. */
export interface ZooKeeperHandle extends ServerHandle {
  readonly name: 'zookeeper';
  /** The current leader (standalone: the only member), from each running member's `srvr`. */
  leader(): Promise<Member>;
}

/** JVM flags: a small heap, the serial collector and C1 only start a server in ~0.3 s here. */
export const ZOOKEEPER_JVM_FLAGS = [
  '-Xms32m',
  '-Xmx256m',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-XX:-UsePerfData',
  '-Djava.net.preferIPv4Stack=true',
  '-Dorg.slf4j.simpleLogger.showDateTime=true',
  '-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS',
];

/**
 * Sends a four-letter word (`srvr`, `ruok`, `stat`, `mntr`) to 127.0.0.1:`port` and resolves with
 * the whole answer (the server closes the connection after it).
 */
export function fourLetterWord(port: number, word: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`zookeeper :${port}: no answer to ${word} within ${timeoutMs} ms`));
    });
    socket.on('error', reject);
    socket.on('connect', () => socket.write(word));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** The `Mode:` line of `srvr` (`standalone`, `leader`, `follower`), or undefined when not serving. */
export async function zkMode(port: number, timeoutMs?: number): Promise<string | undefined> {
  const answer = await fourLetterWord(port, 'srvr', timeoutMs);
  return /^Mode: (\w+)/m.exec(answer)?.[1];
}

/**
 * Performs a real ZooKeeper client handshake (ConnectRequest → ConnectResponse, which creates a
 * session through the leader) and closes the session. Resolves with the session id and the
 * negotiated timeout.
 */
export function zkHandshake(port: number, sessionTimeoutMs = 2_000, timeoutMs = 3_000): Promise<{ sessionId: bigint; timeoutMs: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    let session: { sessionId: bigint; timeoutMs: number } | undefined;
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`zookeeper :${port}: handshake timed out`)));
    socket.on('error', fail);
    socket.on('close', () => fail(new Error(`zookeeper :${port}: connection closed during handshake`)));
    socket.on('connect', () => {
      // ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd (len + 16 bytes), readOnly
      const req = Buffer.alloc(4 + 4 + 8 + 4 + 8 + 4 + 16 + 1);
      let o = 0;
      o = req.writeInt32BE(req.length - 4, o);
      o = req.writeInt32BE(0, o);
      o = req.writeBigInt64BE(0n, o);
      o = req.writeInt32BE(sessionTimeoutMs, o);
      o = req.writeBigInt64BE(0n, o);
      o = req.writeInt32BE(16, o);
      socket.write(req);
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const frame = buf.subarray(4, 4 + buf.readInt32BE(0));
        buf = buf.subarray(4 + frame.length);
        if (session === undefined) {
          // ConnectResponse: protocolVersion, timeOut, sessionId, passwd, readOnly
          const timeout = frame.readInt32BE(4);
          const sessionId = frame.readBigInt64BE(8);
          if (timeout <= 0) return fail(new Error(`zookeeper :${port}: session refused`));
          session = { sessionId, timeoutMs: timeout };
          const close = Buffer.alloc(12);
          close.writeInt32BE(8, 0);
          close.writeInt32BE(1, 4); // xid
          close.writeInt32BE(-11, 8); // OpCode.closeSession
          socket.write(close);
        } else {
          // ReplyHeader of closeSession: xid, zxid, err
          const err = frame.readInt32BE(12);
          socket.destroy();
          if (err !== 0) reject(new Error(`zookeeper :${port}: closeSession failed with ${err}`));
          else resolve(session);
          return;
        }
      }
    });
  });
}

/**
 * Starts ZooKeeper (standalone by default, or a three-member ensemble) on free loopback ports
 * and resolves when every member answers `srvr` with a mode. Rejects with the log tail if a
 * member is not ready within 20 s, after killing what it started.
 */
export function startZooKeeper(options: ZooKeeperOptions = {}): Promise<ZooKeeperHandle> {
  return retryOnPortClash(() => startZooKeeperOnce(options));
}

async function startZooKeeperOnce(options: ZooKeeperOptions): Promise<ZooKeeperHandle> {
  const started = Date.now();
  const { java, classpath } = serverBinaries('zookeeper');
  const count = options.members ?? 1;
  const ports = await freePorts(count === 1 ? 1 : count * 3);
  const dir = makeTempDir('zookeeper');
  const serverLines =
    count === 1
      ? []
      : Array.from({ length: count }, (_, i) => `server.${i + 1}=${HOST}:${ports[count + 2 * i]}:${ports[count + 2 * i + 1]}`);
  const members = Array.from({ length: count }, (_, i) => {
    const name = `zookeeper-${i + 1}`;
    const clientPort = ports[i]!;
    const dataDir = path.join(dir, name);
    fs.mkdirSync(dataDir);
    if (count > 1) fs.writeFileSync(path.join(dataDir, 'myid'), `${i + 1}\n`);
    const cfg = path.join(dataDir, 'zoo.cfg');
    fs.writeFileSync(
      cfg,
      [
        `tickTime=${options.tickTimeMs ?? 500}`,
        'initLimit=10',
        'syncLimit=5',
        `dataDir=${dataDir}`,
        `clientPort=${clientPort}`,
        `clientPortAddress=${HOST}`,
        'admin.enableServer=false',
        '4lw.commands.whitelist=ruok,srvr,stat,mntr',
        ...serverLines,
        '',
      ].join('\n'),
    );
    const main = count === 1 ? 'org.apache.zookeeper.server.ZooKeeperServerMain' : 'org.apache.zookeeper.server.quorum.QuorumPeerMain';
    return new ManagedMember({
      name,
      ports: count === 1 ? [clientPort] : [clientPort, ports[count + 2 * i]!, ports[count + 2 * i + 1]!],
      dataDir,
      logFile: path.join(dir, `${name}.log`),
      command: java,
      args: [...ZOOKEEPER_JVM_FLAGS, '-cp', classpath, main, cfg],
      cwd: dataDir,
      stopSignal: 'SIGTERM',
      probe: async () => (await zkMode(clientPort, 1_000)) !== undefined,
    });
  });
  try {
    await startMembers(members);
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
  const url = `zookeeper://${members.map((m) => m.endpoint).join(',')}`;
  const base = makeHandle({ name: 'zookeeper', url, members, dir, started });
  return {
    ...base,
    name: 'zookeeper',
    async leader(): Promise<Member> {
      for (const m of members) {
        if (!m.running || m.paused) continue;
        try {
          const mode = await zkMode(m.port, 1_000);
          if (mode === 'leader' || mode === 'standalone') return m;
        } catch {
          // ask the next member
        }
      }
      throw new Error('no zookeeper member reports itself as leader');
    },
  };
}
