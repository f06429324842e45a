/**
 * Why deadbolt's PostgreSQL hand-off grows with waiters (issue 13): what one
 * NOTIFY costs with N other connections LISTENing in the same database, each
 * on a channel of its own (as deadbolt's sessions do: one channel per
 * session), for N = 0, 10, 100. PostgreSQL (src/backend/commands/async.c,
 * SignalBackends) signals every listening backend of the database on each
 * NOTIFY's commit, whatever its channel; each woken backend reads the queue
 * and drops what is not for it. In bench/postgres/postgres.mjs every waiter
 * is its own client with its own session connection, so 100 waiters are 100
 * listeners.
 *
 * Per N, medians of --rounds interleaved rounds of --ops round trips each:
 *   - NOTIFY ping-pong: A notifies B's channel, B answers on A's (one
 *     round trip = two NOTIFYs), while the N others listen;
 *   - SELECT 1 on a third connection, the same N listening (the control:
 *     the idle connections themselves cost nothing).
 *
 *   node postgres/notify-listeners.mjs [--rounds=7] [--ops=200] [--listeners=0,10,100] [--url=postgres://…]
 *
 * Prints a table with ratios to N = 0 and one BENCH_JSON line.
 */
import { environment, nowNs } from '../lib/harness.mjs';
import { median } from '../lib/stats.mjs';
import { formatDuration, formatRatio, printJsonLine, renderTable } from '../lib/format.mjs';
import { options } from '../lib/options.mjs';
import { clientsOn, startServer } from './server.mjs';

const args = options(['rounds', 'ops', 'listeners', 'url'], 'node postgres/notify-listeners.mjs [--rounds=7] [--ops=200] [--listeners=0,10,100] [--url=postgres://…]');
const ROUNDS = Number(args.rounds ?? 7);
const OPS = Number(args.ops ?? 200);
const COUNTS = String(args.listeners ?? '0,10,100').split(',').map(Number);

const env = await environment();
console.log(`NOTIFY with idle listeners — ${env.date}, node ${env.node}, ${env.cpu}, load ${env.loadavg.join(' ')}`);
const server = await startServer(args.url);
const { connect, closeAll } = clientsOn(server.url);

try {
  const a = await connect();
  const b = await connect();
  const plain = await connect();
  await a.query('LISTEN bench_a');
  await b.query('LISTEN bench_b');
  // B answers every ping at once; A resolves the round trip's promise.
  b.on('notification', () => void b.query("SELECT pg_notify('bench_a', '')"));
  let answered;
  a.on('notification', () => answered());
  const pingPong = async () => {
    const back = new Promise((resolve) => (answered = resolve));
    await a.query("SELECT pg_notify('bench_b', '')");
    await back;
  };
  const select = () => plain.query('SELECT 1');

  const idle = [];
  const rows = [];
  for (const n of COUNTS) {
    while (idle.length < n) {
      const c = await connect();
      await c.query(`LISTEN bench_idle_${idle.length}`);
      idle.push(c);
    }
    const perRound = { notify: [], select: [] };
    for (let round = 0; round < ROUNDS + 1; round++) {
      for (const [key, op] of [['notify', pingPong], ['select', select]]) {
        const times = [];
        for (let i = 0; i < OPS; i++) {
          const t0 = nowNs();
          await op();
          times.push(nowNs() - t0);
        }
        if (round > 0) perRound[key].push(median(times)); // round 0 warms up
      }
    }
    rows.push({ n, notify: median(perRound.notify), select: median(perRound.select) });
  }
  for (const row of rows) {
    row.notifyRatio = row.notify / rows[0].notify;
    row.selectRatio = row.select / rows[0].select;
  }
  console.log(`\nround trip, medians of ${ROUNDS} rounds of ${OPS} (other connections listening, each on its own channel)\n`);
  console.log(renderTable([
    { key: 'n', title: 'idle listeners' },
    { key: 'notify', title: 'NOTIFY ping-pong', format: formatDuration },
    { key: 'notifyRatio', title: `vs ${rows[0].n}`, format: formatRatio },
    { key: 'select', title: 'SELECT 1 (control)', format: formatDuration },
    { key: 'selectRatio', title: `vs ${rows[0].n} `, format: formatRatio },
  ], rows));
  printJsonLine('BENCH_JSON', { bench: 'postgres-notify-listeners', env, rounds: ROUNDS, ops: OPS, rows });
} finally {
  await closeAll();
  await server.stop();
}
