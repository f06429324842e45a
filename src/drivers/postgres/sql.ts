/**
 * The server side of the PostgreSQL lock protocol: the tables and the
 * PL/pgSQL functions that deadbolt creates in its schema (default `deadbolt`)
 * on first use. `schemaSql(schema)` returns the whole script, for a DBA who
 * prefers to run it by hand; docs/drivers/postgres.md shows it.
 *
 * Every change to one name's queue runs inside one function call (one
 * transaction, one round trip) that first locks that name's row in `tokens`,
 * so changes to a name are serialized while different names never wait for
 * each other. Time is the server's: `now()`, the start of the transaction, is
 * what leases are renewed from and checked against.
 *
 * Tables
 * - `sessions`: one lease per coordinator; alive while `expires_at > now()`.
 * - `claims`: one row per acquisition, waiting (`token IS NULL`) or held; the
 *   identity `id` is the queue order (FIFO); `(session_id, seq)` names it.
 * - `tokens`: per name, the last fencing token granted and how the last holder
 *   let go (the next holder's predecessor report, and the last break record).
 * - `meta`: the schema version.
 *
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';

/**
 * The version of the schema below; stored in `meta` and checked at connect.
 *
 * @example
 * ```ts
 * if (installedVersion > SCHEMA_VERSION) throw new ConfigurationError('made by a newer deadbolt');
 * ```
 */
export const SCHEMA_VERSION = 1;

/**
 * The revision of the functions below, stored in `meta` as `functions`. The
 * tables are those of {@link SCHEMA_VERSION}; a newer revision only replaces
 * functions (new parameters come last, with defaults that keep the older
 * behaviour) and adds columns with defaults, so a process that knows an older
 * revision still works against it, and connecting installs a newer one.
 * Revision 3: claims wait in the lock manager (`wake_lock`, `wait_grant`).
 * Revision 4: recipe data with a claim (`claims.data`, `acquire`'s `p_data`,
 * `set_data`) and name watches (`tokens.watched`, `watch_name`, `changed`).
 *
 * @example
 * ```ts
 * if (installedRevision < FUNCTIONS_REVISION) await client.query(objectsSql(schema));
 * ```
 */
export const FUNCTIONS_REVISION = 4;

/**
 * Schema names deadbolt accepts: lower-case SQL identifiers that need no quoting, short enough for a channel name.
 *
 * @example
 * ```ts
 * SCHEMA_NAME.test('locks_v2'); // true
 * ```
 */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;

/**
 * The NOTIFY channel of one session: grants and losses of its claims are sent
 * there, so a release wakes exactly the session it grants (no herd).
 *
 * @example
 * ```ts
 * sessionChannel('deadbolt', '42'); // 'deadbolt:42'
 * ```
 */
export function sessionChannel(schema: string, sessionId: string): string {
  return `${schema}:${sessionId}`;
}

/**
 * The NOTIFY channel of one lock name (namespace and name), for its watchers
 * (`watch_name`, `changed`): the schema as the session channels have it, and
 * 80 bits of the SHA-256 of the namespace and name (UTF-8, a zero byte between:
 * text never holds one), so that any name fits PostgreSQL's 63-byte channel
 * names. The server computes the same (`name_channel`); a collision only costs
 * a watcher of the other name a spurious wake (it reads the name again).
 *
 * @example
 * ```ts
 * nameChannel('deadbolt', 'billing', 'leader'); // 'deadbolt:n' + 20 hex digits
 * ```
 */
export function nameChannel(schema: string, namespace: string, name: string): string {
  const input = Buffer.concat([Buffer.from(namespace, 'utf8'), Buffer.from([0]), Buffer.from(name, 'utf8')]);
  return `${schema}:n${createHash('sha256').update(input).digest('hex').slice(0, NAME_CHANNEL_HEX)}`;
}

/** Hex digits of the name's hash in its channel: with the longest schema (40), 62 bytes. */
const NAME_CHANNEL_HEX = 20;

/**
 * The complete, idempotent SQL that creates or upgrades deadbolt's schema.
 * Run it as a user allowed to create the schema (or as its owner) when the
 * application's user is not.
 *
 * @example
 * ```ts
 * import { schemaSql } from 'deadbolt/drivers/postgres';
 * console.log(schemaSql('deadbolt')); // pipe into psql
 * ```
 */
export function schemaSql(schema: string): string {
  return `CREATE SCHEMA IF NOT EXISTS "${schema}";\n\n${objectsSql(schema)}`;
}

/**
 * Everything in the schema, for a schema that exists already (`CREATE SCHEMA
 * IF NOT EXISTS` needs the right to create schemas even when it exists).
 *
 * @example
 * ```ts
 * await client.query(objectsSql('deadbolt')); // the schema exists already
 * ```
 */
export function objectsSql(schema: string): string {
  return [tablesSql(schema), dropChecksSql(schema), functionsSql(schema), `INSERT INTO "${schema}".meta (key, value) VALUES ('version', '${SCHEMA_VERSION}'), ('functions', '${FUNCTIONS_REVISION}')
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;`].join('\n\n');
}

/**
 * No CHECK constraints: PostgreSQL parses a table's CHECK expressions anew in
 * every statement that writes the table, and acquire + release write `claims`
 * once and `tokens` twice (measured with perf: the constraint parsing was a
 * visible part of the backend's time per cycle). Only the functions below
 * write these tables, with literal values (`departed_how`) or values the
 * client validated (`mode`, `ttl_ms`). Schemas made before functions
 * revision 2 had them: they are dropped.
 */
function dropChecksSql(schema: string): string {
  const s = `"${schema}"`;
  return [
    `ALTER TABLE ${s}.sessions DROP CONSTRAINT IF EXISTS sessions_ttl_ms_check;`,
    `ALTER TABLE ${s}.tokens DROP CONSTRAINT IF EXISTS tokens_departed_how_check;`,
    `ALTER TABLE ${s}.claims DROP CONSTRAINT IF EXISTS claims_mode_check;`,
  ].join('\n');
}

/** The tables. */
function tablesSql(schema: string): string {
  const s = `"${schema}"`;
  return `CREATE TABLE IF NOT EXISTS ${s}.meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);

-- One lease per coordinator, on the server's clock.
CREATE TABLE IF NOT EXISTS ${s}.sessions (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner       jsonb NOT NULL,
  ttl_ms      integer NOT NULL,
  expires_at  timestamptz NOT NULL,
  backend_pid integer NOT NULL DEFAULT pg_backend_pid(),
  opened_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sessions_expires_at ON ${s}.sessions (expires_at);

-- Per name: the fencing token counter (its row lock serializes the name's queue)
-- and how the last holder let go. Updated twice per acquire+release: room on
-- each page keeps those updates HOT.
CREATE TABLE IF NOT EXISTS ${s}.tokens (
  namespace    text COLLATE "C" NOT NULL,
  name         text COLLATE "C" NOT NULL,
  last         bigint NOT NULL DEFAULT 0,
  departed     bigint,
  departed_how text, -- 'released', 'expired' or 'broken'
  departed_at  timestamptz,
  broken       jsonb,
  -- someone watches the name's claims (watch_name): the next change NOTIFYs its channel and clears this
  watched      boolean NOT NULL DEFAULT false,
  PRIMARY KEY (namespace, name)
) WITH (fillfactor = 50);
ALTER TABLE ${s}.tokens ADD COLUMN IF NOT EXISTS watched boolean NOT NULL DEFAULT false;

-- Holders (token set) and waiters (token NULL) of every name, in queue order.
-- A queue table: every acquire inserts a row and every release deletes it, so
-- it is vacuumed after every 1000 dead rows rather than after a fraction of its size.
CREATE TABLE IF NOT EXISTS ${s}.claims (
  id         bigint GENERATED ALWAYS AS IDENTITY,
  namespace  text COLLATE "C" NOT NULL,
  name       text COLLATE "C" NOT NULL,
  session_id bigint NOT NULL,
  seq        bigint NOT NULL,
  mode       text NOT NULL, -- 'exclusive' or 'shared'
  token      bigint,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  granted_at timestamptz,
  pred_token bigint,
  pred_how   text,
  -- the waiter blocks in the lock manager on the claim ahead (wait_grant): a release grants it without NOTIFY
  wake_lock  boolean NOT NULL DEFAULT false,
  -- a recipe's data (a leader's value, a member's metadata); NULL for a plain lock
  data       text,
  PRIMARY KEY (namespace, name, id),
  UNIQUE (session_id, seq)
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
ALTER TABLE ${s}.claims ADD COLUMN IF NOT EXISTS wake_lock boolean NOT NULL DEFAULT false;
ALTER TABLE ${s}.claims ADD COLUMN IF NOT EXISTS data text;

-- For operators: who holds what right now.
CREATE OR REPLACE VIEW ${s}.holders AS
  SELECT c.namespace, c.name, c.mode, c.token, c.granted_at AS since, s.expires_at,
         s.owner, s.id AS session_id, s.backend_pid
    FROM ${s}.claims c JOIN ${s}.sessions s ON s.id = c.session_id
   WHERE c.token IS NOT NULL AND s.expires_at > now();`;
}

/** The functions: the protocol, one call per request. */
function functionsSql(schema: string): string {
  const s = `"${schema}"`;
  const channel = (session: string): string => `'${schema}:' || ${session}`;
  return `-- Lock the name's token row (created on first use): every change to a name's
-- queue happens under this row lock.
CREATE OR REPLACE FUNCTION ${s}.lock_name(p_ns text, p_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM ${s}.tokens WHERE namespace = p_ns AND name = p_name FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    INSERT INTO ${s}.tokens (namespace, name) VALUES (p_ns, p_name) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM ${s}.tokens WHERE namespace = p_ns AND name = p_name FOR NO KEY UPDATE;
  END IF;
END $$;

-- Name watches (recipes). A watcher LISTENs on the name's channel (nameChannel in
-- sql.ts: the same hash), then sets the name's watched flag under the name's row
-- lock; every function below that creates or deletes a claim of the name, or replaces
-- its data, does so under that lock and then calls changed(), which NOTIFYs the
-- channel and clears the flag only when it is set. So a watch set before a change is
-- told of it, and a plain lock nobody watches sends no NOTIFY (a NOTIFY signals every
-- listening backend of the database at commit: see lock-wait.ts). One-shot: each
-- watcher sets the flag again as it re-arms; a watcher that went away costs its name
-- one unheard NOTIFY, at the next change.
CREATE OR REPLACE FUNCTION ${s}.name_channel(p_ns text, p_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT '${schema}:n' || left(encode(sha256(convert_to(p_ns, 'UTF8') || '\\x00'::bytea || convert_to(p_name, 'UTF8')), 'hex'), 20)
$$;

-- The name's claims changed (caller holds the name lock): tell its watchers, if any.
CREATE OR REPLACE FUNCTION ${s}.changed(p_ns text, p_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ${s}.tokens SET watched = false WHERE namespace = p_ns AND name = p_name AND watched;
  IF FOUND THEN
    PERFORM pg_notify(${s}.name_channel(p_ns, p_name), 'c');
  END IF;
END $$;

-- Arm a watch of the name (its watcher LISTENs on name_channel first): under the
-- name's lock, so that every change committed after this call NOTIFYs.
CREATE OR REPLACE FUNCTION ${s}.watch_name(p_ns text, p_name text) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO ${s}.tokens AS t (namespace, name, watched) VALUES (p_ns, p_name, true)
    ON CONFLICT (namespace, name) DO UPDATE SET watched = true
$$;

-- Replace the data of held claim p_seq, only if it is still there with token
-- p_token and its lease alive. Returns whether it was; tells the name's watchers.
CREATE OR REPLACE FUNCTION ${s}.set_data(p_session bigint, p_seq bigint, p_ns text, p_name text, p_token bigint, p_data text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_watched boolean;
BEGIN
  SELECT watched INTO v_watched FROM ${s}.tokens WHERE namespace = p_ns AND name = p_name FOR NO KEY UPDATE;
  UPDATE ${s}.claims SET data = p_data
   WHERE session_id = p_session AND seq = p_seq AND namespace = p_ns AND name = p_name AND token = p_token
     AND EXISTS (SELECT 1 FROM ${s}.sessions v WHERE v.id = p_session AND v.expires_at > now());
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  IF v_watched THEN
    PERFORM ${s}.changed(p_ns, p_name);
  END IF;
  RETURN true;
END $$;

-- Delete the claims of a name whose session is gone or expired on this server's
-- clock; a holder among them departed as 'expired' (and is told, in case it
-- still listens). Caller holds the name lock. Returns how many were deleted.
CREATE OR REPLACE FUNCTION ${s}.reap_name(p_ns text, p_name text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  c record;
  n integer := 0;
BEGIN
  FOR c IN
    DELETE FROM ${s}.claims k
     WHERE k.namespace = p_ns AND k.name = p_name
       AND NOT EXISTS (SELECT 1 FROM ${s}.sessions v WHERE v.id = k.session_id AND v.expires_at > now())
    RETURNING k.session_id, k.seq, k.token
  LOOP
    n := n + 1;
    IF c.token IS NOT NULL THEN
      UPDATE ${s}.tokens SET departed = c.token, departed_how = 'expired', departed_at = now(), broken = NULL
       WHERE namespace = p_ns AND name = p_name;
      PERFORM pg_notify(${channel('c.session_id')}, 'l ' || c.seq || ' expired');
    END IF;
  END LOOP;
  IF n > 0 THEN
    PERFORM ${s}.changed(p_ns, p_name);
  END IF;
  RETURN n;
END $$;

-- Grant the head of the queue: one exclusive claim, or a run of shared ones,
-- each with the next token, and tell each grantee's session (one NOTIFY per
-- grant, to that session only). Caller holds the name lock.
-- Holders always come before waiters in queue order (a claim is granted at once
-- only when nobody waits, and waiters are granted oldest first), so the oldest
-- claim says whether anyone holds the name: with no holder this reads one row,
-- however many wait, where counting the holders read the whole queue. A waiter
-- whose lease ran out is never granted: it is deleted (a reaper's work) and
-- the next one looked at.
DROP FUNCTION IF EXISTS ${s}.grant_next(text, text);
CREATE OR REPLACE FUNCTION ${s}.grant_next(p_ns text, p_name text, p_quiet boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  w record;
  v_exclusive boolean := false;
  v_held boolean := false;
  v_sent text;
BEGIN
  SELECT token IS NOT NULL INTO v_held FROM ${s}.claims WHERE namespace = p_ns AND name = p_name ORDER BY id LIMIT 1;
  IF coalesce(v_held, false) THEN
    SELECT coalesce(bool_or(mode = 'exclusive'), false), count(*) > 0 INTO v_exclusive, v_held
      FROM ${s}.claims WHERE namespace = p_ns AND name = p_name AND token IS NOT NULL;
  ELSE
    v_held := false;
  END IF;
  IF v_exclusive THEN RETURN; END IF;
  FOR w IN
    SELECT id, session_id, seq, mode, wake_lock FROM ${s}.claims
     WHERE namespace = p_ns AND name = p_name AND token IS NULL ORDER BY id
  LOOP
    IF NOT EXISTS (SELECT 1 FROM ${s}.sessions v WHERE v.id = w.session_id AND v.expires_at > now()) THEN
      DELETE FROM ${s}.claims WHERE namespace = p_ns AND name = p_name AND id = w.id;
      PERFORM ${s}.changed(p_ns, p_name);
      CONTINUE;
    END IF;
    EXIT WHEN w.mode = 'exclusive' AND v_held;
    -- the next token, the grant and the grantee's notification, in one statement
    WITH t AS (
      UPDATE ${s}.tokens SET last = last + 1 WHERE namespace = p_ns AND name = p_name
      RETURNING last, departed, departed_how
    ), g AS (
      UPDATE ${s}.claims k SET token = t.last, granted_at = now(), pred_token = t.departed, pred_how = t.departed_how
        FROM t WHERE k.namespace = p_ns AND k.name = p_name AND k.id = w.id
      RETURNING k.token, k.pred_token, k.pred_how
    )
    -- a quiet grant (by the release whose key the grantee waits on) wakes it at COMMIT, through the lock manager
    SELECT CASE WHEN p_quiet AND w.wake_lock THEN NULL ELSE
             pg_notify(${channel('w.session_id')}, concat_ws(' ', 'g', w.seq, g.token,
               (date_part('epoch', now()) * 1000)::text, coalesce(g.pred_how, '-'), coalesce(g.pred_token::text, '-'))) END
      INTO v_sent FROM g;
    v_held := true;
    EXIT WHEN w.mode = 'exclusive';
  END LOOP;
END $$;

-- The advisory key of a claim (two int4): held at session level by the claim's
-- session connection from its insertion to its deletion, so that a waiter can
-- block on it in the lock manager (wait_grant). The schema's hash keeps two
-- schemas of one database apart.
CREATE OR REPLACE FUNCTION ${s}.key_class(p_session bigint) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext('${schema}') # (p_session % 2147483647)::integer $$;
CREATE OR REPLACE FUNCTION ${s}.key_object(p_seq bigint) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT (p_seq % 2147483647)::integer $$;

-- Milliseconds until the earliest lease among the claims ahead of claim p_id
-- runs out (0 for a claim whose session is gone): when its waiter should look again.
CREATE OR REPLACE FUNCTION ${s}.wake_in(p_ns text, p_name text, p_id bigint) RETURNS float8
LANGUAGE sql STABLE AS $$
  SELECT (CASE WHEN bool_or(v.id IS NULL) THEN 0
               ELSE greatest(0, date_part('epoch', min(v.expires_at) - clock_timestamp()) * 1000) END)::float8
    FROM ${s}.claims k LEFT JOIN ${s}.sessions v ON v.id = k.session_id
   WHERE k.namespace = p_ns AND k.name = p_name AND k.id < p_id
$$;

-- Claim a name for session p_session as its claim number p_seq.
-- status: 'granted' (token, since, predecessor; a break record is read
-- separately, when the predecessor was broken), 'waiting' (wake_in_ms),
-- 'busy' (p_wait false: nothing was written), 'no-session' (the lease is gone).
-- Fast path, two statements: take the name's lock and the next token in one
-- UPDATE, then insert the claim as held unless anything stands in the way
-- (a waiter, a conflicting holder, a claim of a dead session, our own lease
-- gone). Otherwise the token is given back (no gaps) and the slow path sorts it out.
-- p_data: a recipe's data, stored with the claim (NULL for a plain lock).
DROP FUNCTION IF EXISTS ${s}.acquire(bigint, bigint, text, text, text, boolean);
DROP FUNCTION IF EXISTS ${s}.acquire(bigint, bigint, text, text, text, boolean, boolean);
CREATE OR REPLACE FUNCTION ${s}.acquire(p_session bigint, p_seq bigint, p_ns text, p_name text, p_mode text, p_wait boolean,
  p_wake_lock boolean DEFAULT false, p_data text DEFAULT NULL, OUT status text, OUT token bigint, OUT since_ms float8, OUT pred_token bigint, OUT pred_how text, OUT wake_in_ms float8)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_alive boolean;
  v_dead boolean;
  v_waiting boolean;
  v_exclusive boolean;
  v_held boolean;
  v_id bigint;
  v_watched boolean;
BEGIN
  UPDATE ${s}.tokens t SET last = t.last + 1 WHERE t.namespace = p_ns AND t.name = p_name
    RETURNING t.last, t.departed, t.departed_how, t.watched INTO token, pred_token, pred_how, v_watched;
  IF NOT FOUND THEN
    INSERT INTO ${s}.tokens AS t (namespace, name, last) VALUES (p_ns, p_name, 1)
      ON CONFLICT (namespace, name) DO UPDATE SET last = t.last + 1
      RETURNING t.last, t.departed, t.departed_how, t.watched INTO token, pred_token, pred_how, v_watched;
  END IF;
  INSERT INTO ${s}.claims (namespace, name, session_id, seq, mode, token, granted_at, pred_token, pred_how, data)
  SELECT p_ns, p_name, p_session, p_seq, p_mode, token, now(), pred_token, pred_how, p_data
   WHERE EXISTS (SELECT 1 FROM ${s}.sessions v WHERE v.id = p_session AND v.expires_at > now())
     AND NOT EXISTS (
       SELECT 1 FROM ${s}.claims k LEFT JOIN ${s}.sessions v ON v.id = k.session_id AND v.expires_at > now()
        WHERE k.namespace = p_ns AND k.name = p_name
          AND (k.token IS NULL OR k.mode = 'exclusive' OR p_mode = 'exclusive' OR v.id IS NULL));
  IF FOUND THEN
    IF v_watched THEN PERFORM ${s}.changed(p_ns, p_name); END IF;
    IF p_wake_lock THEN PERFORM pg_advisory_lock(${s}.key_class(p_session), ${s}.key_object(p_seq)); END IF;
    status := 'granted';
    since_ms := date_part('epoch', now()) * 1000;
    RETURN;
  END IF;
  -- slow path: give the token back (we still hold the name's lock)
  UPDATE ${s}.tokens t SET last = t.last - 1 WHERE t.namespace = p_ns AND t.name = p_name;
  token := NULL;
  pred_token := NULL;
  pred_how := NULL;
  FOR i IN 1..2 LOOP
    SELECT EXISTS (SELECT 1 FROM ${s}.sessions v WHERE v.id = p_session AND v.expires_at > now()),
           coalesce(bool_or(v.id IS NULL), false),
           coalesce(bool_or(k.token IS NULL), false),
           coalesce(bool_or(k.token IS NOT NULL AND k.mode = 'exclusive'), false),
           coalesce(bool_or(k.token IS NOT NULL), false)
      INTO v_alive, v_dead, v_waiting, v_exclusive, v_held
      FROM ${s}.claims k LEFT JOIN ${s}.sessions v ON v.id = k.session_id AND v.expires_at > now()
     WHERE k.namespace = p_ns AND k.name = p_name;
    IF NOT v_alive THEN
      status := 'no-session';
      RETURN;
    END IF;
    EXIT WHEN NOT v_dead;
    -- claims of dead sessions stand in the queue: reap them (granting their successors), look again
    PERFORM ${s}.reap_name(p_ns, p_name);
    PERFORM ${s}.grant_next(p_ns, p_name);
  END LOOP;
  IF NOT v_waiting AND NOT v_exclusive AND NOT (p_mode = 'exclusive' AND v_held) THEN
    -- free after reaping
    UPDATE ${s}.tokens t SET last = t.last + 1 WHERE t.namespace = p_ns AND t.name = p_name
      RETURNING t.last, t.departed, t.departed_how INTO token, pred_token, pred_how;
    INSERT INTO ${s}.claims (namespace, name, session_id, seq, mode, token, granted_at, pred_token, pred_how, data)
      VALUES (p_ns, p_name, p_session, p_seq, p_mode, token, now(), pred_token, pred_how, p_data);
    IF v_watched THEN PERFORM ${s}.changed(p_ns, p_name); END IF;
    IF p_wake_lock THEN PERFORM pg_advisory_lock(${s}.key_class(p_session), ${s}.key_object(p_seq)); END IF;
    status := 'granted';
    since_ms := date_part('epoch', now()) * 1000;
    RETURN;
  END IF;
  IF NOT p_wait THEN
    status := 'busy';
    RETURN;
  END IF;
  INSERT INTO ${s}.claims (namespace, name, session_id, seq, mode, wake_lock, data) VALUES (p_ns, p_name, p_session, p_seq, p_mode, p_wake_lock, p_data)
    RETURNING id INTO v_id;
  IF v_watched THEN PERFORM ${s}.changed(p_ns, p_name); END IF;
  -- last, after everything that could fail: a session-level lock outlives a rolled-back transaction
  IF p_wake_lock THEN PERFORM pg_advisory_lock(${s}.key_class(p_session), ${s}.key_object(p_seq)); END IF;
  status := 'waiting';
  wake_in_ms := ${s}.wake_in(p_ns, p_name, v_id);
END $$;

-- A waiter looks again (its timer ran out: a lease ahead may have expired).
-- status: 'granted' (as for acquire), 'waiting' (wake_in_ms), 'gone' (the claim is not there).
CREATE OR REPLACE FUNCTION ${s}.poll(p_session bigint, p_seq bigint, p_ns text, p_name text,
  OUT status text, OUT token bigint, OUT since_ms float8, OUT pred_token bigint, OUT pred_how text, OUT wake_in_ms float8)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_id bigint;
  v_granted timestamptz;
BEGIN
  PERFORM ${s}.lock_name(p_ns, p_name);
  IF ${s}.reap_name(p_ns, p_name) > 0 THEN
    PERFORM ${s}.grant_next(p_ns, p_name);
  END IF;
  SELECT k.id, k.token, k.granted_at, k.pred_token, k.pred_how INTO v_id, token, v_granted, pred_token, pred_how
    FROM ${s}.claims k
   WHERE k.session_id = p_session AND k.seq = p_seq AND k.namespace = p_ns AND k.name = p_name;
  IF NOT FOUND THEN
    status := 'gone';
  ELSIF token IS NOT NULL THEN
    status := 'granted';
    since_ms := date_part('epoch', v_granted) * 1000;
  ELSE
    status := 'waiting';
    wake_in_ms := ${s}.wake_in(p_ns, p_name, v_id);
  END IF;
END $$;

-- A waiter blocks in the lock manager until its claim is granted (wait_lock
-- claims only, on a connection of the driver's wait pool): on the key of the
-- nearest claim ahead that blocks it, again until granted. That key passes
-- when its claim is deleted (its release holds it until COMMIT, so the grant
-- read next is committed). status: 'granted' (as for acquire), 'gone',
-- 'waiting' (lock_timeout: p_timeout_ms passed, the earliest lease ahead may
-- have run out with its holder paused, key held: poll), or 'notify' with
-- wake_in_ms: the claim waits by NOTIFY from now on (p_timeout_ms 0: asked not
-- to block; or a blocker's key was free while its claim is still there).
CREATE OR REPLACE FUNCTION ${s}.wait_grant(p_session bigint, p_seq bigint, p_ns text, p_name text, p_timeout_ms integer,
  OUT status text, OUT token bigint, OUT since_ms float8, OUT pred_token bigint, OUT pred_how text, OUT wake_in_ms float8)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_id bigint;
  v_mode text;
  v_granted timestamptz;
  b record;
  v_passed bigint;
BEGIN
  PERFORM set_config('lock_timeout', greatest(1, p_timeout_ms)::text || 'ms', true);
  LOOP
    SELECT k.id, k.mode, k.token, k.granted_at, k.pred_token, k.pred_how
      INTO v_id, v_mode, token, v_granted, pred_token, pred_how
      FROM ${s}.claims k WHERE k.session_id = p_session AND k.seq = p_seq AND k.namespace = p_ns AND k.name = p_name;
    IF NOT FOUND THEN
      status := 'gone';
      RETURN;
    END IF;
    IF token IS NOT NULL THEN
      status := 'granted';
      since_ms := date_part('epoch', v_granted) * 1000;
      RETURN;
    END IF;
    SELECT k.id, k.session_id, k.seq INTO b FROM ${s}.claims k
     WHERE k.namespace = p_ns AND k.name = p_name AND k.id < v_id AND (v_mode = 'exclusive' OR k.mode = 'exclusive')
     ORDER BY k.id DESC LIMIT 1;
    IF p_timeout_ms <= 0 OR NOT FOUND OR b.id = v_passed THEN
      -- asked not to block (no wait connection), nothing blocks us yet no grant, or a blocker
      -- whose key was free: wait by NOTIFY (and the timer) from now on
      UPDATE ${s}.claims SET wake_lock = false WHERE id = v_id AND namespace = p_ns AND name = p_name;
      SELECT k.token, k.granted_at, k.pred_token, k.pred_how INTO token, v_granted, pred_token, pred_how
        FROM ${s}.claims k WHERE k.id = v_id AND k.namespace = p_ns AND k.name = p_name;
      IF token IS NOT NULL THEN
        status := 'granted';
        since_ms := date_part('epoch', v_granted) * 1000;
      ELSE
        status := 'notify';
        wake_in_ms := ${s}.wake_in(p_ns, p_name, v_id);
      END IF;
      RETURN;
    END IF;
    BEGIN
      PERFORM pg_advisory_xact_lock_shared(${s}.key_class(b.session_id), ${s}.key_object(b.seq));
    EXCEPTION WHEN lock_not_available THEN
      status := 'waiting';
      wake_in_ms := 0;
      RETURN;
    END;
    v_passed := b.id;
  END LOOP;
END $$;

-- Give up claim p_seq, held or waiting (never anyone else's: (session, seq) is
-- never reused), record a holder's departure, grant the next waiters.
-- Returns whether the claim was still there.
-- p_token: the token of a held claim, or NULL (a waiting claim being withdrawn,
-- which may have been granted meanwhile). With a token, the fast path locks the
-- name and records the departure in one UPDATE; if the claim turns out to be
-- gone already (lost), the call raises P0002 so that nothing it did is kept.
DROP FUNCTION IF EXISTS ${s}.release(bigint, bigint, text, text, bigint);
CREATE OR REPLACE FUNCTION ${s}.release(p_session bigint, p_seq bigint, p_ns text, p_name text, p_token bigint,
  p_wake_lock boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_reaped integer := 0;
  v_deleted integer;
  v_token bigint;
  v_others boolean;
  v_watched boolean;
BEGIN
  -- the name's lock first, as everywhere (break and reapers delete claims under it)
  IF p_token IS NOT NULL THEN
    UPDATE ${s}.tokens SET departed = p_token, departed_how = 'released', departed_at = now(), broken = NULL
     WHERE namespace = p_ns AND name = p_name RETURNING watched INTO v_watched;
  ELSE
    SELECT watched INTO v_watched FROM ${s}.tokens WHERE namespace = p_ns AND name = p_name FOR NO KEY UPDATE;
  END IF;
  WITH gone AS (
    DELETE FROM ${s}.claims
     WHERE session_id = p_session AND seq = p_seq AND namespace = p_ns AND name = p_name
    RETURNING token
  )
  SELECT (SELECT count(*) FROM gone), (SELECT max(token) FROM gone),
         EXISTS (SELECT 1 FROM ${s}.claims WHERE namespace = p_ns AND name = p_name AND NOT (session_id = p_session AND seq = p_seq))
    INTO v_deleted, v_token, v_others;
  IF v_deleted = 0 OR v_token IS DISTINCT FROM p_token THEN
    IF p_token IS NOT NULL THEN
      -- not our held claim (gone, or the caller's token is wrong): undo the departure we wrote
      RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'deadbolt: the claim is not held';
    END IF;
    IF v_token IS NOT NULL THEN
      -- a waiting claim granted meanwhile: it departs now
      UPDATE ${s}.tokens SET departed = v_token, departed_how = 'released', departed_at = now(), broken = NULL
       WHERE namespace = p_ns AND name = p_name;
    END IF;
  END IF;
  IF v_deleted > 0 AND v_watched THEN
    PERFORM ${s}.changed(p_ns, p_name);
  END IF;
  IF v_others THEN
    -- Reaping reads the whole queue: only when some lease ran out (an index probe),
    -- so that a release costs the same with 100 waiters as with one.
    IF EXISTS (SELECT 1 FROM ${s}.sessions WHERE expires_at <= now()) THEN
      v_reaped := ${s}.reap_name(p_ns, p_name);
    END IF;
    -- Quiet: a grantee waiting in the lock manager waits on our key (the last claim ahead of it to go),
    -- unless reaping removed claims whose keys may still be held by paused holders: then NOTIFY.
    PERFORM ${s}.grant_next(p_ns, p_name, v_reaped = 0);
  END IF;
  IF p_wake_lock THEN
    -- Our key passes at COMMIT, not now: held again at transaction level, its session-level
    -- hold dropped, so that a woken waiter reads a committed grant.
    PERFORM pg_advisory_xact_lock(${s}.key_class(p_session), ${s}.key_object(p_seq));
    PERFORM pg_advisory_unlock(${s}.key_class(p_session), ${s}.key_object(p_seq));
  END IF;
  RETURN v_deleted > 0;
END $$;

-- Reap up to 100 expired sessions: their claims go (holders departing as
-- 'expired'), their names' next waiters are granted. Never waits: sessions and
-- names locked by someone else are left for later (that someone reaps them).
CREATE OR REPLACE FUNCTION ${s}.reap_expired() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v record;
  n record;
  reaped integer := 0;
BEGIN
  FOR v IN
    SELECT id FROM ${s}.sessions WHERE expires_at <= now() ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED
  LOOP
    FOR n IN SELECT DISTINCT namespace, name FROM ${s}.claims WHERE session_id = v.id ORDER BY 1, 2 LOOP
      PERFORM 1 FROM ${s}.tokens WHERE namespace = n.namespace AND name = n.name FOR UPDATE SKIP LOCKED;
      IF FOUND AND ${s}.reap_name(n.namespace, n.name) > 0 THEN
        PERFORM ${s}.grant_next(n.namespace, n.name);
      END IF;
    END LOOP;
    DELETE FROM ${s}.sessions s WHERE s.id = v.id AND NOT EXISTS (SELECT 1 FROM ${s}.claims WHERE session_id = v.id);
    reaped := reaped + 1;
  END LOOP;
  RETURN reaped;
END $$;

-- Open a session: a lease of p_ttl_ms from now, bound to the calling connection's backend.
CREATE OR REPLACE FUNCTION ${s}.open_session(p_owner jsonb, p_ttl_ms integer) RETURNS bigint
LANGUAGE sql AS $$
  INSERT INTO ${s}.sessions (owner, ttl_ms, expires_at)
  VALUES (p_owner, p_ttl_ms, now() + p_ttl_ms * interval '1 millisecond')
  RETURNING id
$$;

-- Keepalive: renew the lease from now, unless it already ran out (an expired
-- lease is never revived). Also reaps expired sessions. Returns the claim
-- numbers the session holds, or NULL when the lease is gone.
CREATE OR REPLACE FUNCTION ${s}.renew(p_session bigint) RETURNS bigint[]
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ${s}.sessions SET expires_at = now() + ttl_ms * interval '1 millisecond'
   WHERE id = p_session AND expires_at > now();
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  PERFORM ${s}.reap_expired();
  RETURN ARRAY(SELECT seq FROM ${s}.claims WHERE session_id = p_session AND token IS NOT NULL);
END $$;

-- End a session: delete it and its claims (holders departing as 'released'),
-- granting each name's next waiters. Names are locked in order: no deadlock.
CREATE OR REPLACE FUNCTION ${s}.revoke(p_session bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  n record;
  v_token bigint;
BEGIN
  DELETE FROM ${s}.sessions WHERE id = p_session;
  FOR n IN SELECT DISTINCT namespace, name FROM ${s}.claims WHERE session_id = p_session ORDER BY 1, 2 LOOP
    PERFORM ${s}.lock_name(n.namespace, n.name);
    FOR v_token IN
      DELETE FROM ${s}.claims WHERE session_id = p_session AND namespace = n.namespace AND name = n.name RETURNING token
    LOOP
      IF v_token IS NOT NULL THEN
        UPDATE ${s}.tokens SET departed = v_token, departed_how = 'released', departed_at = now(), broken = NULL
         WHERE namespace = n.namespace AND name = n.name;
      END IF;
    END LOOP;
    PERFORM ${s}.changed(n.namespace, n.name);
    PERFORM ${s}.reap_name(n.namespace, n.name);
    PERFORM ${s}.grant_next(n.namespace, n.name);
  END LOOP;
END $$;

-- Break a name (the operator's tool): delete its holders' claims, tell their
-- sessions, store who/when/why with the displaced holders, grant the next waiters.
-- Returns the displaced holders.
CREATE OR REPLACE FUNCTION ${s}.break(p_ns text, p_name text, p_reason text, p_by text, p_at_ms float8)
RETURNS TABLE (mode text, token bigint, owner jsonb, since_ms float8, expires_ms float8)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  h record;
  v_displaced jsonb := '[]'::jsonb;
  v_last bigint;
BEGIN
  PERFORM ${s}.lock_name(p_ns, p_name);
  PERFORM ${s}.reap_name(p_ns, p_name);
  FOR h IN
    DELETE FROM ${s}.claims k USING ${s}.sessions v
     WHERE k.namespace = p_ns AND k.name = p_name AND k.token IS NOT NULL AND v.id = k.session_id
    RETURNING k.session_id, k.seq, k.mode, k.token, v.owner,
              date_part('epoch', k.granted_at) * 1000 AS since_ms, date_part('epoch', v.expires_at) * 1000 AS expires_ms
  LOOP
    v_displaced := v_displaced || jsonb_build_object('name', p_name, 'mode', h.mode, 'token', h.token::text,
      'owner', h.owner, 'since', h.since_ms, 'expiresAt', h.expires_ms);
    v_last := greatest(v_last, h.token);
    PERFORM pg_notify(${channel('h.session_id')}, 'l ' || h.seq || ' broken');
    mode := h.mode;
    token := h.token;
    owner := h.owner;
    since_ms := h.since_ms;
    expires_ms := h.expires_ms;
    RETURN NEXT;
  END LOOP;
  IF v_last IS NULL THEN
    RETURN;
  END IF;
  PERFORM ${s}.changed(p_ns, p_name);
  UPDATE ${s}.tokens SET departed = v_last, departed_how = 'broken', departed_at = now(),
    broken = jsonb_build_object('reason', p_reason, 'by', p_by, 'at', p_at_ms, 'displaced', v_displaced)
   WHERE namespace = p_ns AND name = p_name;
  PERFORM ${s}.grant_next(p_ns, p_name);
END $$;`;
}
