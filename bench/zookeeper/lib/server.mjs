/**
 * A throwaway standalone ZooKeeper for the benchmark, on a free loopback port
 * (the same settings as the test harness: tickTime 500, Debian's jars, small JVM).
 * `startZooKeeper()` resolves with `{ endpoint, stop }` once `srvr` answers.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLASSPATH = process.env.DEADBOLT_ZOOKEEPER_CLASSPATH || '/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar';
const JVM = ['-Xms32m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:-UsePerfData', '-Djava.net.preferIPv4Stack=true'];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function srvr(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on('error', () => resolve(''));
    socket.on('connect', () => socket.write('srvr'));
    socket.on('data', (d) => (text += d));
    socket.on('close', () => resolve(text));
  });
}

/** Start ZooKeeper; rejects after 30 s. */
export async function startZooKeeper() {
  const dir = mkdtempSync(join(tmpdir(), 'deadbolt-bench-zk-'));
  const port = await freePort();
  const cfg = join(dir, 'zoo.cfg');
  writeFileSync(
    cfg,
    [
      'tickTime=500',
      'initLimit=10',
      'syncLimit=5',
      `dataDir=${dir}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok,srvr,stat,mntr',
      // 101 sessions from one address in scenario (c)
      'maxClientCnxns=0',
      '',
    ].join('\n'),
  );
  const log = openSync(join(dir, 'zookeeper.log'), 'a');
  const child = spawn(process.env.DEADBOLT_JAVA_BIN || 'java', [...JVM, '-cp', CLASSPATH, 'org.apache.zookeeper.server.ZooKeeperServerMain', cfg], {
    stdio: ['ignore', log, log],
  });
  const stop = async () => {
    child.kill('SIGKILL');
    await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
    rmSync(dir, { recursive: true, force: true });
  };
  const until = Date.now() + 30_000;
  while (!/^Mode: /m.test(await srvr(port))) {
    if (child.exitCode !== null || Date.now() > until) {
      await stop();
      throw new Error(`zookeeper did not start (log in ${dir})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoint: `127.0.0.1:${port}`, stop };
}
