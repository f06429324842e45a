/**
 * The lock protocol on Redis, as Lua scripts: each step is one script, so each
 * is atomic on the server and costs one round trip.
 *
 * Keys (`P` = `<namespace>:`; a name is used as is, Redis keys are binary-safe):
 * ```
 * P session:<sid>           the session: owner record, PX = TTL, renewed by keepalive
 * P session:<sid>:waits     the session's waiting claims: claim|mode|name
 * P token:<name>            fencing counter (INCR), never expires
 * P lock:<name>             the exclusive holder's record token|sid|claim|since|owner, PX = the
 *                           session's PTTL (since: the client's clock, for listings only;
 *                           owner: JSON, with the claim's recipe data as "data" if it has any);
 *                           or `shared`: readers may hold (see readers:), PX = the longest
 *                           reader lease + 50 ms;
 *                           or a foreign client's value (anything else: redis-py's Lock,
 *                           redlock, SET NX PX): an exclusive holder, waited for, never
 *                           overwritten or deleted (but by a break);
 *                           or nothing: free. Never a value without expiry (older versions
 *                           left their tombstone here: the first script that meets one moves
 *                           it to last:)
 * P last:<name>             how the last holder left, no expiry, read (and deleted) by the
 *                           next grant: released|token or broken|token|break record JSON
 * P readers:<name>          shared holders: zset sid|claim → lease expiry (server ms)
 * P rinfo:<name>            shared holders' records: hash sid|claim → token|sid|claim|since|owner
 * P queue:<name>            waiters: zset sid|claim|x-or-s → arrival number (INCR P seq)
 * P names                   zset (score 0) of names granted, for list(prefix) by lex range;
 *                           list() drops the names nobody holds any more
 * P broken                  zset (score 0) of names broken, for survey(prefix) by lex range;
 *                           survey() drops the names whose break record was consumed
 * ```
 *
 * Ordering. A claim is granted when the holders allow its mode (exclusive: no
 * holder; shared: no exclusive holder) and no live waiter ahead of it in the
 * queue must go first (any waiter, for an exclusive claim; an exclusive one,
 * for a shared claim). Otherwise it joins the queue's tail. Waiters of dead
 * sessions are dropped whenever a script meets them.
 *
 * Tokens. `INCR P token:<name>` in the granting script: strictly increasing
 * while Redis keeps its data. A counter that INCR creates (first use, or lost
 * with the data: a restart without persistence, a failover that lost writes)
 * is set to the server clock in µs since the epoch, so new tokens still exceed
 * the old ones (issued at most one per µs since their counter was created)
 * unless the server clock went back. Only grants take tokens, so the token
 * before a grant's is its predecessor's: a predecessor that left no tombstone
 * is reported as expired with that token.
 *
 * What "held" means. The holder's record is in `lock:` (or in `readers:`, with
 * an expiry in the future) with its token, session and claim number. It
 * expires with the session: it is granted with PX = the session's PTTL, and
 * one keepalive script renews the session and every lock the client lists.
 * Release, renewal and withdrawal are conditional on token, session and claim
 * number, never a blind delete.
 *
 * How loss is detected. A lock is lost at its PX deadline, which is the
 * session's: the Session's local deadline comes first. A break publishes
 * `b|<claim>` to the holder's channel; a keepalive reports every listed lock
 * that is no longer the session's ("broken" when the name's tombstone lists
 * its token).
 *
 * Waking. A script that frees a name publishes `w|<claim>` to the channel
 * `P wake:<sid>` of the first live waiter (a run of shared waiters: each one),
 * and nobody else: one waiter per release, no herd. The waiter re-runs the
 * acquire script, which re-checks its own claim. Expiries publish nothing, so
 * each waiting script returns how long until the lease in its way runs out,
 * and the waiter looks again then (never later than one TTL): the bounded
 * fallback that also covers lost messages.
 *
 * Foreign holders. Other clients lock a key with `SET <key> <random> NX PX
 * <ttl>` and release it with a compare-and-delete (redis-py's Lock, which
 * tooz's driver uses; redlock's single instance). On deadbolt's `lock:<name>`
 * such a value is a foreign exclusive holder: a value that is neither a
 * holder record (`^%d+|[^|]+|[^|]+|%d+|`), nor `shared`, nor an older
 * version's tombstone. No script overwrites or deletes it (a break does, on an
 * operator's word). Nothing publishes its DEL or expiry, so its waiters look
 * again at its PTTL deadline, and at most every TTL/2 (no expiry: only that
 * bound), the one place the driver re-checks without being told (engine.ts).
 * Deadbolt in turn never leaves a value without expiry on `lock:<name>`:
 * releases delete it (the departure record goes to `last:<name>`), the shared
 * marker expires with its readers' leases. So a foreign `SET NX` succeeds
 * exactly when no deadbolt claim holds the name.
 *
 * Watching a name. Every script that creates, deletes or rewrites a claim of
 * a name (grant, queueing, release, withdrawal, reaping a lapsed reader or a
 * dead session's waiter, break, update) publishes `c` once to `P claims:<name>`,
 * the channel Engine.watchName subscribes to. A holder whose key simply
 * expires on the server publishes nothing (Redis runs no script then): that
 * change is published by the next script that meets the name (the waiter
 * whose timer ran out, granted; a listing that prunes the reader).
 *
 * Requests whose answer was lost: a waiting claim the client no longer knows
 * is withdrawn by the next keepalive (the client lists the claims it waits
 * on); a grant it does not know is never renewed, so it lapses within one TTL.
 *
 * @internal
 * @module
 */
import { script } from './lua.js';

/** Open a session. ARGV: prefix, sid, ttl, owner JSON. Reply: 1, or 0 if the id is taken. */
const OPEN = script(
  [],
  String.raw`
if redis.call('SET', P .. 'session:' .. ARGV[2], ARGV[4], 'PX', ARGV[3], 'NX') then return 1 end
return 0`,
);

/**
 * Claim a name. ARGV: prefix, sid, claim, mode (x|s), name, owner JSON, since
 * (client ms, for listings), op. op `try`: grant or answer busy, leaving
 * nothing; `first`: grant or queue; `again` (after a wake): our grant if one
 * was made, else grant or stay queued (queue again if our entry vanished).
 * Replies: {'granted', token, predecessor's departure record} | {'waiting', ms
 * until the lease in the way runs out, 'f' when that lease is a foreign
 * holder's} | {'busy'} | {'lost'} (our session is gone).
 */
const ACQUIRE = script(
  ['own_grant', 'read_lock', 'holder_wait', 'queue_blocker', 'grant', 'waits_set', 'changed'],
  String.raw`
local sid, claim, mode, name, owner, since, op = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local spt = redis.call('PTTL', P .. 'session:' .. sid)
if spt <= 0 then return {'lost'} end
local me = sid .. '|' .. claim .. '|' .. mode
local qk = P .. 'queue:' .. name
local queued = false
if op == 'again' then
  local token = own_grant(name, sid, claim, mode)
  if token then return {'granted', token, ''} end
  queued = redis.call('ZSCORE', qk, me) ~= false
end
local v = read_lock(name)
local wait, alien = holder_wait(name, mode, v)
local blocker = nil
if wait == nil then
  blocker = queue_blocker(name, queued and me or nil, mode)
  if blocker == nil then
    if queued then redis.call('ZREM', qk, me) end
    return grant(name, sid, claim, mode, owner, since, spt, v, queued)
  end
end
if op == 'try' then return {'busy'} end
if not queued then
  redis.call('ZADD', qk, redis.call('INCR', P .. 'seq'), me)
  local ws = waits_set(sid)
  redis.call('SADD', ws, claim .. '|' .. mode .. '|' .. name)
  redis.call('PEXPIRE', ws, spt)
  changed(name)
end
if wait == nil then wait = redis.call('PTTL', P .. 'session:' .. blocker) end
if alien then return {'waiting', wait, 'f'} end
return {'waiting', wait}`,
);

/** Release a grant. ARGV: prefix, sid, claim, mode, name, token. Reply: 1 released, 0 it was not ours any more. */
const RELEASE = script(
  ['release_claim', 'wake'],
  String.raw`
local name, mode = ARGV[5], ARGV[4]
local released = release_claim(name, ARGV[2], ARGV[3], mode, ARGV[6], 'released')
wake(name, released and mode == 'x')
if released then return 1 end
return 0`,
);

/** Withdraw a claim (abort, timeout). ARGV: prefix, sid, claim, mode, name. */
const WITHDRAW = script(
  ['withdraw_claim'],
  String.raw`
withdraw_claim(ARGV[5], ARGV[2], ARGV[3], ARGV[4])
return 1`,
);

/**
 * Renew the session and the locks the client holds. ARGV: prefix, sid, ttl,
 * n, then n × (mode, claim, token, name) held, then the other claims the
 * client knows (any waiting claim of the session not among them is withdrawn).
 * Replies: {'gone'} | {'ok', claim, reason, ...} for every listed lock that is
 * no longer ours.
 */
const KEEPALIVE = script(
  ['split', 'waits_set', 'renew', 'why_gone', 'withdraw_claim'],
  String.raw`
local sid, ttl, n = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('PEXPIRE', P .. 'session:' .. sid, ttl) == 0 then return {'gone'} end
local reply = {'ok'}
for i = 5, 4 + 4 * n, 4 do
  local mode, claim, token, name = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if not renew(name, sid, claim, mode, token, ttl) then
    reply[#reply + 1] = claim
    reply[#reply + 1] = why_gone(name, token)
  end
end
local ws = waits_set(sid)
if redis.call('PEXPIRE', ws, ttl) == 1 then
  local known = {}
  for i = 5 + 4 * n, #ARGV do known[ARGV[i]] = true end
  for _, m in ipairs(redis.call('SMEMBERS', ws)) do
    local f = split(m, 2)
    if not known[f[1]] then withdraw_claim(f[3], sid, f[1], f[2]) end
  end
end
return reply`,
);

/**
 * End a session: release the locks the client lists and withdraw every
 * waiting claim. ARGV: prefix, sid, then (mode, claim, token, name) per lock held.
 */
const REVOKE = script(
  ['split', 'waits_set', 'withdraw_claim', 'release_claim', 'wake'],
  String.raw`
local sid = ARGV[2]
local ws = waits_set(sid)
local waiting = redis.call('SMEMBERS', ws)
-- first, so that waking skips this session's own waiters
redis.call('DEL', P .. 'session:' .. sid, ws)
for _, m in ipairs(waiting) do
  local f = split(m, 2)
  withdraw_claim(f[3], sid, f[1], f[2])
end
for i = 3, #ARGV - 3, 4 do
  local mode, name = ARGV[i], ARGV[i + 3]
  wake(name, release_claim(name, sid, ARGV[i + 1], mode, ARGV[i + 2], 'released') and mode == 'x')
end
return 1`,
);

/**
 * Current holders. ARGV: prefix, 'one', name | prefix, 'range', lex min, lex
 * max, limit. Reply: flat rows name, mode, record, expiresAt; in 'range' mode
 * the last name of a full page follows (the cursor), or '' after the last page.
 */
const INSPECT = script(
  ['num', 'now', 'holder', 'foreign', 'read_lock', 'prune_readers'],
  String.raw`
local out = {}
local function holders_of(name)
  local lk = P .. 'lock:' .. name
  local v = read_lock(name)
  if holder(v) then
    out[#out + 1] = name; out[#out + 1] = 'x'; out[#out + 1] = v
    out[#out + 1] = num(now() + redis.call('PTTL', lk))
    return true
  end
  if foreign(v) then
    -- someone else's value: never sent back (untrusted); '' stands for it, and its expiry
    -- is '' when it has none
    local pttl = redis.call('PTTL', lk)
    out[#out + 1] = name; out[#out + 1] = 'x'; out[#out + 1] = ''
    if pttl > 0 then out[#out + 1] = num(now() + pttl) else out[#out + 1] = '' end
    return true
  end
  if prune_readers(name) == 0 then return false end
  local rs = redis.call('ZRANGE', P .. 'readers:' .. name, 0, -1, 'WITHSCORES')
  for i = 1, #rs, 2 do
    local record = redis.call('HGET', P .. 'rinfo:' .. name, rs[i])
    if record then
      out[#out + 1] = name; out[#out + 1] = 's'; out[#out + 1] = record; out[#out + 1] = rs[i + 1]
    end
  end
  return true
end
if ARGV[2] == 'one' then
  holders_of(ARGV[3])
  return out
end
local names = redis.call('ZRANGEBYLEX', P .. 'names', ARGV[3], ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
for _, name in ipairs(names) do
  -- names nobody holds any more leave the index here (releases do not touch it)
  if not holders_of(name) then redis.call('ZREM', P .. 'names', name) end
end
-- a full page may have more after it: its last name is where the next one starts
if #names == tonumber(ARGV[5]) then out[#out + 1] = names[#names] else out[#out + 1] = '' end
return out`,
);

/**
 * Read only (but for pruning its indexes): the waiters and break records of a
 * page of names. ARGV: prefix, index (`names` or `broken`), min, max, page
 * size. Reply: rows `name, 'w', mode, owner JSON` (waiters of live sessions,
 * queue order) or `name, 'b', break record JSON`, then the page's last name
 * ('' when it was the last page).
 */
const QUEUES = script(
  ['alive', 'split', 'last_gone'],
  String.raw`
local out = {}
local index = P .. ARGV[2]
local names = redis.call('ZRANGEBYLEX', index, ARGV[3], ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
for _, name in ipairs(names) do
  if ARGV[2] == 'names' then
    for _, m in ipairs(redis.call('ZRANGE', P .. 'queue:' .. name, 0, -1)) do
      local c = split(m, 2)
      local owner = redis.call('GET', P .. 'session:' .. c[1])
      if owner then
        out[#out + 1] = name; out[#out + 1] = 'w'; out[#out + 1] = c[3]; out[#out + 1] = owner
      end
    end
  else
    local v = last_gone(name)
    if v and string.sub(v, 1, 7) == 'broken|' then
      out[#out + 1] = name; out[#out + 1] = 'b'; out[#out + 1] = split(v, 2)[3]; out[#out + 1] = ''
    else
      redis.call('ZREM', index, name)
    end
  end
end
if #names == tonumber(ARGV[5]) then out[#out + 1] = names[#names] else out[#out + 1] = '' end
return out`,
);

/**
 * Break: displace the holders, if they are exactly the expected ones, and
 * leave the departure record broken|<highest token>|<record> in last:. A
 * foreign holder (token 0 in listings) is displaced by deleting its key: an
 * operator's break is the one thing that deletes what deadbolt did not write.
 * ARGV: prefix, name, break record JSON, expected tokens... Reply: 1 done, 0
 * the holders changed.
 */
const BREAK = script(
  ['split', 'holder', 'foreign', 'read_lock', 'prune_readers', 'wake', 'changed'],
  String.raw`
local name = ARGV[2]
local lk, rk, ik = P .. 'lock:' .. name, P .. 'readers:' .. name, P .. 'rinfo:' .. name
local holders = {}
local v = read_lock(name)
if holder(v) then holders[#holders + 1] = split(v, 3)
elseif foreign(v) then holders[#holders + 1] = {'0'} end
if prune_readers(name) > 0 then
  for _, m in ipairs(redis.call('ZRANGE', rk, 0, -1)) do
    local record = redis.call('HGET', ik, m)
    if record then holders[#holders + 1] = split(record, 3) end
  end
end
local expected = {}
for i = 4, #ARGV do expected[ARGV[i]] = true end
if #holders ~= #ARGV - 3 then return 0 end
for _, h in ipairs(holders) do if not expected[h[1]] then return 0 end end
if #holders == 0 then return 1 end
local top = holders[1][1]
for _, h in ipairs(holders) do
  if h[2] then
    redis.call('ZREM', rk, h[2] .. '|' .. h[3])
    redis.call('HDEL', ik, h[2] .. '|' .. h[3])
    redis.call('PUBLISH', P .. 'wake:' .. h[2], 'b|' .. h[3])
  end
  if tonumber(h[1]) > tonumber(top) then top = h[1] end
end
redis.call('DEL', lk)
redis.call('SET', P .. 'last:' .. name, 'broken|' .. top .. '|' .. ARGV[3])
redis.call('ZADD', P .. 'broken', 0, name)
changed(name)
wake(name, true)
return 1`,
);

/**
 * Replace the owner part (with the recipe data in it) of our holder record, if
 * it is still this grant (token, session and claim), keeping its since and its
 * expiry, and tell the name's watchers. The record's first three fields stay
 * as they were, so renewals and releases go on as before, and our own claim's
 * watch (the `b|` message, the keepalive) never takes it for a loss.
 * ARGV: prefix, sid, claim, mode, name, token, owner JSON. Reply: 1 written,
 * 0 the grant is gone (nothing written).
 */
const UPDATE = script(
  ['split', 'starts', 'now', 'changed'],
  String.raw`
local sid, claim, mode, name, token, owner = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local mine = token .. '|' .. sid .. '|' .. claim .. '|'
if mode == 'x' then
  local lk = P .. 'lock:' .. name
  local v = redis.call('GET', lk)
  if not (v and starts(v, mine)) then return 0 end
  redis.call('SET', lk, mine .. split(v, 4)[4] .. '|' .. owner, 'KEEPTTL')
else
  local member, ik = sid .. '|' .. claim, P .. 'rinfo:' .. name
  local score = redis.call('ZSCORE', P .. 'readers:' .. name, member)
  if not (score and tonumber(score) > now()) then return 0 end
  local v = redis.call('HGET', ik, member)
  if not (v and starts(v, mine)) then return 0 end
  redis.call('HSET', ik, member, mine .. split(v, 4)[4] .. '|' .. owner)
end
changed(name)
return 1`,
);

/**
 * The scripts, each with the helpers it uses in front of it.
 *
 * @example
 * ```ts
 * await client.run('release', [prefix, sid, claim, 'x', name, token]);
 * ```
 */
export const SCRIPTS = Object.freeze({
  open: OPEN,
  acquire: ACQUIRE,
  release: RELEASE,
  withdraw: WITHDRAW,
  keepAlive: KEEPALIVE,
  revoke: REVOKE,
  inspect: INSPECT,
  queues: QUEUES,
  break: BREAK,
  update: UPDATE,
});

/**
 * The name of one of {@link SCRIPTS}.
 *
 * @example
 * ```ts
 * const name: ScriptName = 'keepAlive';
 * ```
 */
export type ScriptName = keyof typeof SCRIPTS;
