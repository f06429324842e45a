/**
 * The floor: the fewest round trips and the least SQL that give the guarantees
 * of deadbolt's acquire + release on PostgreSQL, hand-written on a bare
 * `pg.Client`, with the same commit durability (synchronous_commit on).
 *
 * Guarantees kept: mutual exclusion; a lease on the server's clock (the
 * caller's session must be alive); a fencing token from a per-name counter
 * updated in the acquiring transaction, without gaps; a release conditional on
 * the token that records how the holder left (the next holder's predecessor
 * report) and hands the lock to the next waiter in the same transaction (so
 * waiting can be woken by the server). Each is one round trip: one PL/pgSQL
 * call of two statements (locking the counter row and checking the queue under
 * that lock need two statements, so BEGIN/…/COMMIT sent one by one would cost
 * four round trips).
 *
 * Left out, so not in the floor: shared mode, namespaces, reaping expired
 * holders and the waiting path itself (the cycle measured never waits), break
 * records, listings (owner, since).
 */
import pg from 'pg';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS floor;
CREATE TABLE IF NOT EXISTS floor.sessions (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS floor.names (name text PRIMARY KEY, last bigint NOT NULL DEFAULT 0, departed bigint, departed_how text);
CREATE TABLE IF NOT EXISTS floor.claims (
  name text NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY, session_id bigint NOT NULL, token bigint,
  PRIMARY KEY (name, id));
CREATE OR REPLACE FUNCTION floor.acquire(p_session bigint, p_name text, OUT token bigint, OUT departed bigint, OUT departed_how text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  -- the name's lock and its next token
  UPDATE floor.names n SET last = n.last + 1 WHERE n.name = p_name RETURNING n.last, n.departed, n.departed_how INTO token, departed, departed_how;
  -- held at once unless our lease is gone or anyone else has a claim
  INSERT INTO floor.claims (name, session_id, token) SELECT p_name, p_session, token
   WHERE EXISTS (SELECT 1 FROM floor.sessions s WHERE s.id = p_session AND s.expires_at > now())
     AND NOT EXISTS (SELECT 1 FROM floor.claims c WHERE c.name = p_name);
  IF NOT FOUND THEN
    UPDATE floor.names n SET last = n.last - 1 WHERE n.name = p_name;
    token := NULL;
  END IF;
END $$;
CREATE OR REPLACE FUNCTION floor.release(p_name text, p_token bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_next bigint;
  v_session bigint;
  v_token bigint;
BEGIN
  -- the name's lock, and how the holder left
  UPDATE floor.names SET departed = p_token, departed_how = 'released' WHERE name = p_name;
  -- our claim goes (a data-modifying WITH always runs); the head of the queue, if any, is next
  WITH gone AS (DELETE FROM floor.claims WHERE name = p_name AND token = p_token RETURNING 1)
  SELECT c.id, c.session_id INTO v_next, v_session FROM floor.claims c
   WHERE c.name = p_name AND c.token IS NULL ORDER BY c.id LIMIT 1;
  IF v_next IS NOT NULL THEN
    UPDATE floor.names SET last = last + 1 WHERE name = p_name RETURNING last INTO v_token;
    UPDATE floor.claims SET token = v_token WHERE name = p_name AND id = v_next;
    PERFORM pg_notify('floor:' || v_session, v_next || ' ' || v_token);
  END IF;
  RETURN true;
END $$;`;

let sessions = 0;

/**
 * A floor client: `cycle(name)` is one acquire + release.
 * @param {string} url
 */
export async function floorClient(url) {
  const client = new pg.Client({ connectionString: url, options: '-c synchronous_commit=on' });
  await client.connect();
  await client.query(SCHEMA);
  const session = process.pid * 1000 + ++sessions;
  await client.query("INSERT INTO floor.sessions VALUES ($1, now() + interval '1 hour') ON CONFLICT (id) DO NOTHING", [session]);
  const ensured = new Set();
  return {
    async acquire(name) {
      if (!ensured.has(name)) {
        await client.query('INSERT INTO floor.names (name) VALUES ($1) ON CONFLICT DO NOTHING', [name]);
        ensured.add(name);
      }
      const { rows } = await client.query({
        name: 'floor_acquire',
        text: 'SELECT token::text AS token, departed::text AS departed, departed_how FROM floor.acquire($1, $2)',
        values: [session, name],
      });
      if (rows[0].token === null) throw new Error(`floor: "${name}" is taken`);
      return rows[0].token;
    },
    async release(name, token) {
      await client.query({ name: 'floor_release', text: 'SELECT floor.release($1, $2)', values: [name, token] });
    },
    close: () => client.end(),
  };
}
