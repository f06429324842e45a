/**
 * Which PostgreSQL wake-up gives a hand-off that stays flat with waiters
 * (issue 13; measured before deadbolt's driver moved from NOTIFY to the lock
 * manager in functions revision 3): the primitives alone, no lock tables, side
 * by side in one run, for chains of N waiters (N = 10, 100 by default).
 *
 * Every participant is a session with its own connection LISTENing on a
 * channel of its own, as deadbolt's sessions do (it hears grants and losses
 * there): N + 1 of them for N waiters. A chain: a holder and N waiters; each waiter, once woken, hands on
 * to the next at once. A hand-off is the time from the releaser sending its
 * release to the next waiter's wake arriving in this process.
 *
 *   - NOTIFY (the driver's wake until revision 3): the releaser NOTIFYs the next waiter's channel.
 *     PostgreSQL 15 signals every listening backend of the database on commit
 *     (async.c, SignalBackends), whatever its channel: N + 1 backends woken per
 *     hand-off, one of them for a reason.
 *   - lock-manager chain (the driver's wake since revision 3): each claim's session holds an
 *     advisory lock on its claim's key; each waiter blocks, on a second
 *     connection of its own, in `pg_advisory_lock` on the key of the claim
 *     ahead. Releasing is unlocking that key: the lock manager wakes exactly
 *     the one backend queued on it. Sessions still LISTEN (nobody NOTIFYs).
 *     Costs a connection per waiting claim.
 *   - one key (the advisory-lock package's design): every waiter blocks in
 *     `pg_advisory_lock` on the same key; the lock manager wakes the next.
 *     No session, no lease, no fencing token: a baseline, not a candidate.
 *
 *   node postgres/wake-paths.mjs [--rounds=7] [--waiters=10,100] [--url=postgres://…]
 *
 * Prints, per N, medians of per-round p50 hand-offs with ratios to NOTIFY and
 * the growth from the first N to the last, and one BENCH_JSON line.
 */
import { environment, nowNs } from '../lib/harness.mjs';
import { median } from '../lib/stats.mjs';
import { formatDuration, formatRatio, printJsonLine, renderTable } from '../lib/format.mjs';
import { options } from '../lib/options.mjs';
import { clientsOn, startServer } from './server.mjs';

const args = options(['rounds', 'waiters', 'url'], 'node postgres/wake-paths.mjs [--rounds=7] [--waiters=10,100] [--url=postgres://…]');
const ROUNDS = Number(args.rounds ?? 7);
const COUNTS = String(args.waiters ?? '10,100').split(',').map(Number).sort((a, b) => a - b);

const env = await environment();
console.log(`PostgreSQL wake paths for a hand-off — ${env.date}, node ${env.node}, ${env.cpu}, load ${env.loadavg.join(' ')}`);
const server = await startServer(args.url);
const { connect, closeAll } = clientsOn(server.url);

/** How many advisory-lock requests wait right now, on the keys of `classid`. */
async function waitingOn(probe, classid) {
  const { rows } = await probe.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND NOT granted", [classid]);
  return rows[0].n;
}

/** Resolve once `count()` reaches `n`: the queue is formed before the first release. */
async function until(count, n) {
  for (let tries = 0; (await count()) < n; tries++) {
    if (tries > 2000) throw new Error(`the queue never reached ${n} waiters`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Run one chain of `n` hand-offs: `arm(i, woken)` queues waiter i (1…n) to
 * call `woken()` on its wake, `ready(n)` resolves once all are queued, and
 * `release(i)` sends participant i's release (0: the holder). Resolves with
 * the n hand-off times (ns).
 */
async function chain(n, { arm, ready, release }) {
  const handoffs = [];
  let releasedAt = 0n;
  let finished;
  const done = new Promise((resolve) => (finished = resolve));
  const handOn = (i) => {
    releasedAt = nowNs();
    void release(i);
  };
  for (let i = 1; i <= n; i++) {
    arm(i, () => {
      handoffs.push(Number(nowNs() - releasedAt));
      if (i === n) finished();
      else handOn(i);
    });
  }
  await ready(n);
  handOn(0);
  await done;
  return handoffs;
}

// Sessions: connection i LISTENs on its own channel, as a deadbolt session does.
const sessions = [];
const waitConnections = [];
const probe = await connect();
let keyClass = 1000;

/** NOTIFY: the releaser notifies the next waiter's channel. */
function notifyChain(n) {
  const listeners = [];
  return chain(n, {
    arm: (i, woken) => {
      const onNote = (msg) => msg.channel === `wake_${i}` && woken();
      sessions[i].on('notification', onNote);
      listeners.push([i, onNote]);
    },
    ready: async () => {},
    release: (i) => sessions[i].query(`SELECT pg_notify('wake_${i + 1}', '')`),
  }).finally(() => {
    for (const [i, fn] of listeners) sessions[i].off('notification', fn);
  });
}

/** Lock-manager chain: waiter i blocks on claim i-1's key, held by session i-1. */
async function lockManagerChain(n) {
  const cls = ++keyClass;
  for (let i = 0; i <= n; i++) await sessions[i].query('SELECT pg_advisory_lock($1, $2)', [cls, i]);
  const waits = [];
  const handoffs = await chain(n, {
    arm: (i, woken) => {
      waits.push(waitConnections[i].query('SELECT pg_advisory_lock($1, $2)', [cls, i - 1]).then(woken));
    },
    ready: (count) => until(() => waitingOn(probe, cls), count),
    release: (i) => sessions[i].query('SELECT pg_advisory_unlock($1, $2)', [cls, i]),
  });
  await Promise.all(waits);
  // tidy up, untimed: each waiter gives back the predecessor's key it took; the last holder its own
  await Promise.all(Array.from({ length: n }, (_, k) => waitConnections[k + 1].query('SELECT pg_advisory_unlock($1, $2)', [cls, k])));
  await sessions[n].query('SELECT pg_advisory_unlock($1, $2)', [cls, n]);
  return handoffs;
}

/**
 * The grant itself, for the two "+ grant" rows: the release is a transaction
 * that writes the next waiter's token, and the wake must come only once that
 * grant is committed and visible to the woken waiter (else it would wake,
 * find itself not granted and wait again). With NOTIFY that holds by
 * construction (notifications go out at commit). In the lock-manager chain
 * the releaser takes its own key again at transaction level before giving up
 * the session-level hold, so waiters stay blocked until COMMIT; the waiter's
 * function then reads its grant in a new statement (a new snapshot). Every
 * wake that finds no grant is counted: it must stay 0.
 */
const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS wake;
CREATE TABLE IF NOT EXISTS wake.grants (chain int, idx int, token bigint, PRIMARY KEY (chain, idx));
CREATE OR REPLACE FUNCTION wake.release_notify(p_chain int, p_idx int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE wake.grants SET token = p_idx + 1 WHERE chain = p_chain AND idx = p_idx + 1;
  PERFORM pg_notify('wake_' || (p_idx + 1), (p_idx + 1)::text);
END $$;
CREATE OR REPLACE FUNCTION wake.release_lock(p_chain int, p_idx int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE wake.grants SET token = p_idx + 1 WHERE chain = p_chain AND idx = p_idx + 1;
  PERFORM pg_advisory_xact_lock(p_chain, p_idx); -- held until COMMIT ...
  PERFORM pg_advisory_unlock(p_chain, p_idx);   -- ... after the session-level hold is gone
END $$;
CREATE OR REPLACE FUNCTION wake.wait_lock(p_chain int, p_idx int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE t bigint;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(p_chain, p_idx - 1);
  SELECT token INTO t FROM wake.grants WHERE chain = p_chain AND idx = p_idx;
  RETURN t;
END $$;`;
let unseenGrants = 0;

/** A fresh chain of n + 1 grant rows, no token yet. */
async function grantRows(n) {
  const id = ++keyClass;
  await probe.query('INSERT INTO wake.grants SELECT $1, i, NULL FROM generate_series(0, $2) i', [id, n]);
  return id;
}

/** NOTIFY + grant: the releaser's transaction grants the next waiter and NOTIFYs it; the payload is the token. */
async function notifyGrantChain(n) {
  const id = await grantRows(n);
  const listeners = [];
  return chain(n, {
    arm: (i, woken) => {
      const onNote = (msg) => {
        if (msg.channel !== `wake_${i}`) return;
        if (msg.payload !== String(i)) unseenGrants++;
        woken();
      };
      sessions[i].on('notification', onNote);
      listeners.push([i, onNote]);
    },
    ready: async () => {},
    release: (i) => sessions[i].query('SELECT wake.release_notify($1, $2)', [id, i]),
  }).finally(() => {
    for (const [i, fn] of listeners) sessions[i].off('notification', fn);
  });
}

/** Lock-manager chain + grant: the whole release and wake of the driver's revision 3. */
async function lockGrantChain(n) {
  const id = await grantRows(n);
  for (let i = 0; i <= n; i++) await sessions[i].query('SELECT pg_advisory_lock($1, $2)', [id, i]);
  const waits = [];
  const handoffs = await chain(n, {
    arm: (i, woken) => {
      waits.push(waitConnections[i].query('SELECT wake.wait_lock($1, $2) AS token', [id, i]).then(({ rows }) => {
        if (rows[0].token !== String(i)) unseenGrants++;
        woken();
      }));
    },
    ready: (count) => until(() => waitingOn(probe, id), count),
    release: (i) => sessions[i].query('SELECT wake.release_lock($1, $2)', [id, i]),
  });
  await Promise.all(waits);
  await sessions[n].query('SELECT pg_advisory_unlock($1, $2)', [id, n]);
  return handoffs;
}

/**
 * One key: every waiter blocks on the same advisory lock, and whichever the
 * lock manager wakes (FIFO) hands on next.
 */
function oneKey(n) {
  const cls = ++keyClass;
  const handoffs = [];
  let releasedAt = 0n;
  let granted = 0;
  return new Promise((resolve, reject) => {
    const release = (conn) => {
      releasedAt = nowNs();
      conn.query('SELECT pg_advisory_unlock($1, 0)', [cls]).catch(reject);
    };
    void (async () => {
      await sessions[0].query('SELECT pg_advisory_lock($1, 0)', [cls]);
      for (let i = 1; i <= n; i++) {
        const conn = waitConnections[i];
        conn.query('SELECT pg_advisory_lock($1, 0)', [cls]).then(() => {
          handoffs.push(Number(nowNs() - releasedAt));
          if (++granted === n) conn.query('SELECT pg_advisory_unlock($1, 0)', [cls]).then(() => resolve(handoffs), reject);
          else release(conn);
        }, reject);
      }
      await until(() => waitingOn(probe, cls), n);
      release(sessions[0]);
    })().catch(reject);
  });
}

try {
  await probe.query(SCHEMA);
  const candidates = [
    ['NOTIFY to the next session (revision 2)', notifyChain],
    ['lock-manager chain (a key per claim)', lockManagerChain],
    ['NOTIFY + grant (revision 2, the whole release)', notifyGrantChain],
    ['lock-manager chain + grant (revision 3)', lockGrantChain],
    ['one key, all waiting (advisory-lock)', oneKey],
  ];
  const rows = [];
  for (const n of COUNTS) {
    // n + 1 sessions listen, as n waiters and a holder would (the counts ascend)
    while (sessions.length <= n) {
      const session = await connect();
      await session.query(`LISTEN wake_${sessions.length}`);
      waitConnections.push(sessions.length === 0 ? undefined : await connect());
      sessions.push(session);
    }
    const perRound = new Map(candidates.map(([name]) => [name, []]));
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [name, run] of candidates) {
        const handoffs = await run(n);
        if (round > 0) perRound.get(name).push(median(handoffs)); // round 0 warms up
      }
    }
    for (const [name] of candidates) rows.push({ n, name, p50: median(perRound.get(name)) });
  }
  const base = (n) => rows.find((r) => r.n === n && r.name === candidates[0][0]).p50;
  const first = (name) => rows.find((r) => r.n === COUNTS[0] && r.name === name).p50;
  for (const row of rows) {
    row.vsNotify = row.p50 / base(row.n);
    row.growth = row.p50 / first(row.name);
  }
  console.log(`\nhand-off p50, medians of ${ROUNDS} rounds (each a chain of N hand-offs, N + 1 sessions listening)\n`);
  console.log(renderTable([
    { key: 'n', title: 'waiters' },
    { key: 'name', title: 'wake path' },
    { key: 'p50', title: 'hand-off p50', format: formatDuration },
    { key: 'vsNotify', title: 'vs NOTIFY', format: formatRatio },
    { key: 'growth', title: `vs ${COUNTS[0]} waiters`, format: formatRatio },
  ], rows));
  console.log(`\nwakes that did not see their grant committed: ${unseenGrants} (must be 0)`);
  printJsonLine('BENCH_JSON', { bench: 'postgres-wake-paths', env, rounds: ROUNDS, rows, unseenGrants });
  if (unseenGrants > 0) process.exitCode = 1;
} finally {
  await probe.query('DROP SCHEMA IF EXISTS wake CASCADE').catch(() => {});
  await closeAll();
  await server.stop();
}
