/**
 * The lock protocol on Redis, as Lua scripts: each step is one script, so each
 * is atomic on the server and costs one round trip.
 *
 * Keys (`P` = `<namespace>:`; a name is used as is, Redis keys are binary-safe):
 * ```
 * P session:<sid>           the session: owner record, PX = TTL, renewed by keepalive
 * P session:<sid>:locks     set of the session's claims: x|claim|token|name, s|claim|token|name, w|claim|mode|name
 * P token:<name>            fencing counter (INCR), never expires
 * P lock:<name>             the exclusive holder: token|sid|claim|since|owner, PX = the session's PTTL
 * P readers:<name>          shared holders: zset sid|claim → lease expiry (server ms)
 * P rinfo:<name>            shared holders' records: hash sid|claim → token|sid|claim|since|owner
 * P queue:<name>            waiters: zset sid|claim|x-or-s → arrival number (FIFO)
 * P last:<name>             how the last holder let go: released|token, expired|token, broken|token|record
 * P names                   zset (score 0) of names with holders, for list(prefix) by lex range
 * ```
 *
 * Ordering. A claim is granted when the holders allow its mode (exclusive: no
 * holder; shared: no exclusive holder) and no live waiter ahead of it in the
 * queue must go first (any waiter, for an exclusive claim; an exclusive one,
 * for a shared claim). Otherwise it joins the queue's tail. Waiters of dead
 * sessions are dropped whenever a script meets them.
 *
 * Tokens. `INCR P token:<name>` in the granting script, floored by the server
 * clock in µs since the epoch: while Redis keeps its data the counter makes
 * tokens strictly increasing; if the data is lost (a restart without
 * persistence, a failover that lost writes) the floor keeps new tokens above
 * the old ones as long as the server clock did not go back.
 *
 * What "held" means. The holder's record is in `lock:` (or in `readers:` with
 * an expiry in the future) with its token, session and claim number. Its
 * expiry is the session key's: a lock is granted with PX = the session's PTTL,
 * and one keepalive script renews the session and every lock in its set.
 * Release, renewal and withdrawal are conditional on token, session and claim
 * number, never a blind delete.
 *
 * How loss is detected. A lock is lost at its PX deadline, which is the
 * session's: the Session's local deadline comes first. A break publishes
 * `b|<claim>` to the holder's channel; a keepalive reports every claim of its
 * set that is no longer the session's, with the reason read from `last:`.
 *
 * Waking. A script that frees a name publishes `w|<claim>` to the channel
 * `P wake:<sid>` of the first live waiter (a run of shared waiters: each one),
 * and nobody else: one waiter per release, no herd. The waiter re-runs the
 * acquire script, which re-checks its own claim. Expiries publish nothing, so
 * each waiting script returns how long until the lease in its way runs out,
 * and the waiter looks again then (never later than one TTL): the bounded
 * fallback that also covers lost messages.
 *
 * Claims the client no longer knows (a request whose answer was lost) are
 * withdrawn or released by the next keepalive, which lists the claims the
 * client knows.
 *
 * @internal
 * @module
 */

/** Helpers every script starts with. ARGV[1] is always the key prefix. */
const LIBRARY = String.raw`
local P = ARGV[1]
local T = redis.call('TIME')
local NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)

-- integers as exact decimal text (tostring would print 1.7e+15)
local function num(n) return string.format('%.0f', n) end

-- the first n '|'-separated fields of s, then the rest
local function split(s, n)
  local out, pos = {}, 1
  for i = 1, n do
    local bar = string.find(s, '|', pos, true)
    if not bar then out[i] = string.sub(s, pos); return out end
    out[i] = string.sub(s, pos, bar - 1)
    pos = bar + 1
  end
  out[n + 1] = string.sub(s, pos)
  return out
end

local function starts(s, prefix) return string.sub(s, 1, #prefix) == prefix end
local function alive(sid) return redis.call('EXISTS', P .. 'session:' .. sid) == 1 end
local function publish(sid, message) redis.call('PUBLISH', P .. 'wake:' .. sid, message) end
local function session_set(sid) return P .. 'session:' .. sid .. ':locks' end

-- PEXPIRE key ms unless it already lives longer (PEXPIRE GT needs Redis 7)
local function keep_for(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end

-- shared holders whose lease ran out are dropped
local function prune_readers(name)
  local rk = P .. 'readers:' .. name
  local gone = redis.call('ZRANGEBYSCORE', rk, '-inf', NOW)
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', rk, '-inf', NOW)
    redis.call('HDEL', P .. 'rinfo:' .. name, unpack(gone))
  end
end

-- the next fencing token: INCR, floored by the server clock in microseconds
local function next_token(name)
  local k = P .. 'token:' .. name
  local floor = T[1] .. string.format('%06d', tonumber(T[2]))
  if tonumber(redis.call('GET', k) or '0') < tonumber(floor) then redis.call('SET', k, floor) end
  return redis.call('INCR', k)
end

-- the record of the grant claim made, if it holds name now: token, since
local function own_grant(name, sid, claim, mode)
  local v
  if mode == 'x' then
    v = redis.call('GET', P .. 'lock:' .. name)
  else
    local score = redis.call('ZSCORE', P .. 'readers:' .. name, sid .. '|' .. claim)
    if score and tonumber(score) > NOW then v = redis.call('HGET', P .. 'rinfo:' .. name, sid .. '|' .. claim) end
  end
  if v then
    local f = split(v, 4)
    if f[2] == sid and f[3] == claim then return f[1], f[4] end
  end
  return nil
end

-- nil if the holders allow mode, else ms until the lease in the way runs out (-1: no expiry)
local function holder_wait(name, mode)
  local pt = redis.call('PTTL', P .. 'lock:' .. name)
  if pt ~= -2 then return pt end
  if mode == 's' then return nil end
  prune_readers(name)
  local first = redis.call('ZRANGE', P .. 'readers:' .. name, 0, 0, 'WITHSCORES')
  if first[1] then return tonumber(first[2]) - NOW end
  return nil
end

-- the session of the first live waiter ahead of me (nil: a newcomer) that mode may not
-- overtake; waiters of dead sessions met on the way are dropped
local function queue_blocker(name, me, mode)
  local qk = P .. 'queue:' .. name
  local i = 0
  while true do
    local e = redis.call('ZRANGE', qk, i, i)[1]
    if not e or e == me then return nil end
    local f = split(e, 2)
    if not alive(f[1]) then redis.call('ZREM', qk, e)
    elseif mode == 'x' or f[3] == 'x' then return f[1]
    else i = i + 1 end
  end
end

-- tell the first live waiter (a run of shared ones: each) that it may be granted now
local function wake(name)
  if redis.call('EXISTS', P .. 'lock:' .. name) == 1 then return end
  prune_readers(name)
  local readers = redis.call('ZCARD', P .. 'readers:' .. name)
  local qk = P .. 'queue:' .. name
  local i = 0
  while true do
    local e = redis.call('ZRANGE', qk, i, i)[1]
    if not e then return end
    local f = split(e, 2)
    if not alive(f[1]) then redis.call('ZREM', qk, e)
    elseif f[3] == 'x' then
      if i == 0 and readers == 0 then publish(f[1], 'w|' .. f[2]) end
      return
    else
      publish(f[1], 'w|' .. f[2])
      i = i + 1
    end
  end
end

-- after a departure: wake who is next, and drop the name from the index once nobody holds it
local function settle_name(name)
  wake(name)
  if redis.call('EXISTS', P .. 'lock:' .. name) == 0 and redis.call('EXISTS', P .. 'readers:' .. name) == 0 then
    redis.call('ZREM', P .. 'names', name)
  end
end

local function grant(name, sid, claim, mode, owner, spt, was_queued)
  local token = num(next_token(name))
  local record = token .. '|' .. sid .. '|' .. claim .. '|' .. num(NOW) .. '|' .. owner
  if mode == 'x' then
    redis.call('SET', P .. 'lock:' .. name, record, 'PX', spt)
  else
    local rk, ik = P .. 'readers:' .. name, P .. 'rinfo:' .. name
    redis.call('ZADD', rk, NOW + spt, sid .. '|' .. claim)
    redis.call('HSET', ik, sid .. '|' .. claim, record)
    keep_for(rk, spt)
    keep_for(ik, spt)
  end
  local set = session_set(sid)
  if was_queued then redis.call('SREM', set, 'w|' .. claim .. '|' .. mode .. '|' .. name) end
  redis.call('SADD', set, mode .. '|' .. claim .. '|' .. token .. '|' .. name)
  redis.call('PEXPIRE', set, spt)
  -- until the holder says otherwise, its successor will read that it expired
  local pred = redis.call('SET', P .. 'last:' .. name, 'expired|' .. token, 'GET') or ''
  redis.call('ZADD', P .. 'names', 0, name)
  return {'granted', token, num(NOW), pred, spt}
end

-- remove a holder if it is still this grant (token, session and claim all match)
local function release_claim(name, sid, claim, mode, token, outcome)
  local mine = token .. '|' .. sid .. '|' .. claim .. '|'
  local released = false
  if mode == 'x' then
    local lk = P .. 'lock:' .. name
    local v = redis.call('GET', lk)
    if v and starts(v, mine) then redis.call('DEL', lk); released = true end
  else
    local m = sid .. '|' .. claim
    local v = redis.call('HGET', P .. 'rinfo:' .. name, m)
    if v and starts(v, mine) then
      redis.call('ZREM', P .. 'readers:' .. name, m)
      redis.call('HDEL', P .. 'rinfo:' .. name, m)
      released = true
    end
  end
  if released then redis.call('SET', P .. 'last:' .. name, outcome .. '|' .. token) end
  redis.call('SREM', session_set(sid), mode .. '|' .. claim .. '|' .. token .. '|' .. name)
  return released
end

-- take a claim back: out of the queue, and released if it was granted unbeknown to us
local function withdraw_claim(name, sid, claim, mode)
  redis.call('ZREM', P .. 'queue:' .. name, sid .. '|' .. claim .. '|' .. mode)
  redis.call('SREM', session_set(sid), 'w|' .. claim .. '|' .. mode .. '|' .. name)
  local token = own_grant(name, sid, claim, mode)
  if token then release_claim(name, sid, claim, mode, token, 'released') end
  settle_name(name)
end

-- why a holder's record is gone, from the name's last outcome
local function why_gone(name, token)
  local last = redis.call('GET', P .. 'last:' .. name)
  if last then
    if starts(last, 'broken|') and string.find(last, '"token":"' .. token .. '"', 1, true) then return 'broken' end
    if last == 'expired|' .. token then return 'expired' end
  end
  return 'deleted'
end
`;

/**
 * Claim a name. ARGV: prefix, sid, claim, mode (x|s), name, owner JSON, op.
 * op `try`: grant or answer busy, leaving nothing; `first`: grant or queue;
 * `again` (after a wake): our grant if one was made, else grant or stay queued
 * (queue again if our entry vanished). Replies: {'granted', token, since,
 * last outcome, pttl} | {'waiting', ms until the lease in the way runs out}
 * | {'busy'} | {'lost'} (our session is gone).
 */
const ACQUIRE = String.raw`
local sid, claim, mode, name, owner, op = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local spt = redis.call('PTTL', P .. 'session:' .. sid)
if spt <= 0 then return {'lost'} end
local me = sid .. '|' .. claim .. '|' .. mode
local qk = P .. 'queue:' .. name
local queued = false
if op == 'again' then
  local token, since = own_grant(name, sid, claim, mode)
  if token then return {'granted', token, since, '', spt} end
  queued = redis.call('ZSCORE', qk, me) ~= false
end
local wait = holder_wait(name, mode)
local blocker = nil
if wait == nil then
  blocker = queue_blocker(name, queued and me or nil, mode)
  if blocker == nil then
    if queued then redis.call('ZREM', qk, me) end
    return grant(name, sid, claim, mode, owner, spt, queued)
  end
end
if op == 'try' then return {'busy'} end
if not queued then
  redis.call('ZADD', qk, next_token(name), me)
  local set = session_set(sid)
  redis.call('SADD', set, 'w|' .. claim .. '|' .. mode .. '|' .. name)
  redis.call('PEXPIRE', set, spt)
end
if wait == nil then wait = redis.call('PTTL', P .. 'session:' .. blocker) end
return {'waiting', wait}
`;

/** Release a grant. ARGV: prefix, sid, claim, mode, name, token. Reply: 1 released, 0 it was not ours any more. */
const RELEASE = String.raw`
local released = release_claim(ARGV[5], ARGV[2], ARGV[3], ARGV[4], ARGV[6], 'released')
settle_name(ARGV[5])
if released then return 1 end
return 0
`;

/** Withdraw a claim (abort, timeout). ARGV: prefix, sid, claim, mode, name. */
const WITHDRAW = String.raw`
withdraw_claim(ARGV[5], ARGV[2], ARGV[3], ARGV[4])
return 1
`;

/**
 * Renew the session and everything it holds. ARGV: prefix, sid, ttl, the
 * claims the client knows... Claims the client does not know are withdrawn.
 * Replies: {'gone'} | {'ok', claim, reason, claim, reason...} for every held
 * claim that is no longer ours.
 */
const KEEPALIVE = String.raw`
local sid, ttl = ARGV[2], tonumber(ARGV[3])
if redis.call('PEXPIRE', P .. 'session:' .. sid, ttl) == 0 then return {'gone'} end
local set = session_set(sid)
redis.call('PEXPIRE', set, ttl)
local known = {}
for i = 4, #ARGV do known[ARGV[i]] = true end
local reply = {'ok'}
for _, m in ipairs(redis.call('SMEMBERS', set)) do
  local f = split(m, 3)
  local kind, claim, third, name = f[1], f[2], f[3], f[4]
  if not known[claim] then
    if kind == 'w' then withdraw_claim(name, sid, claim, third)
    else release_claim(name, sid, claim, kind, third, 'released'); settle_name(name) end
    redis.call('SREM', set, m)
  elseif kind == 'x' then
    local lk = P .. 'lock:' .. name
    local v = redis.call('GET', lk)
    if v and starts(v, third .. '|' .. sid .. '|' .. claim .. '|') then
      redis.call('PEXPIRE', lk, ttl)
    else
      reply[#reply + 1] = claim
      reply[#reply + 1] = why_gone(name, third)
      redis.call('SREM', set, m)
    end
  elseif kind == 's' then
    local rk, member = P .. 'readers:' .. name, sid .. '|' .. claim
    local score = redis.call('ZSCORE', rk, member)
    if score and tonumber(score) > NOW then
      redis.call('ZADD', rk, 'XX', NOW + ttl, member)
      keep_for(rk, ttl)
      keep_for(P .. 'rinfo:' .. name, ttl)
    else
      reply[#reply + 1] = claim
      reply[#reply + 1] = why_gone(name, third)
      redis.call('SREM', set, m)
    end
  end
end
return reply
`;

/** End a session: release and withdraw all its claims. ARGV: prefix, sid. */
const REVOKE = String.raw`
local sid = ARGV[2]
local set = session_set(sid)
local members = redis.call('SMEMBERS', set)
-- first, so that waking skips this session's own waiters
redis.call('DEL', P .. 'session:' .. sid, set)
for _, m in ipairs(members) do
  local f = split(m, 3)
  if f[1] == 'w' then withdraw_claim(f[4], sid, f[2], f[3])
  else release_claim(f[4], sid, f[2], f[1], f[3], 'released'); settle_name(f[4]) end
end
return #members
`;

/**
 * Current holders. ARGV: prefix, 'one', name | prefix, 'range', lex min, lex
 * max, limit. Reply: flat rows name, mode, record, expiresAt; in 'range' mode
 * the last name read follows (the cursor), or '' when none was left.
 */
const INSPECT = String.raw`
local out = {}
local function holders_of(name)
  prune_readers(name)
  local lk = P .. 'lock:' .. name
  local v = redis.call('GET', lk)
  if v then
    out[#out + 1] = name; out[#out + 1] = 'x'; out[#out + 1] = v
    out[#out + 1] = num(NOW + redis.call('PTTL', lk))
  end
  local rs = redis.call('ZRANGE', P .. 'readers:' .. name, 0, -1, 'WITHSCORES')
  for i = 1, #rs, 2 do
    local record = redis.call('HGET', P .. 'rinfo:' .. name, rs[i])
    if record then
      out[#out + 1] = name; out[#out + 1] = 's'; out[#out + 1] = record; out[#out + 1] = rs[i + 1]
    end
  end
  return v or #rs > 0
end
if ARGV[2] == 'one' then
  holders_of(ARGV[3])
  return out
end
local names = redis.call('ZRANGEBYLEX', P .. 'names', ARGV[3], ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
for _, name in ipairs(names) do
  if not holders_of(name) then redis.call('ZREM', P .. 'names', name) end
end
out[#out + 1] = names[#names] or ''
return out
`;

/**
 * Break: displace the holders, if they are exactly the expected ones. ARGV:
 * prefix, name, break record JSON, expected tokens... Reply: 1 done, 0 the
 * holders changed (read them again).
 */
const BREAK = String.raw`
local name = ARGV[2]
prune_readers(name)
local lk, rk, ik = P .. 'lock:' .. name, P .. 'readers:' .. name, P .. 'rinfo:' .. name
local holders = {}
local v = redis.call('GET', lk)
if v then holders[#holders + 1] = split(v, 3) end
for _, m in ipairs(redis.call('ZRANGE', rk, 0, -1)) do
  local record = redis.call('HGET', ik, m)
  if record then holders[#holders + 1] = split(record, 3) end
end
local expected = {}
for i = 4, #ARGV do expected[ARGV[i]] = true end
if #holders ~= #ARGV - 3 then return 0 end
for _, h in ipairs(holders) do if not expected[h[1]] then return 0 end end
if #holders == 0 then return 1 end
local top = holders[1][1]
redis.call('DEL', lk)
for _, h in ipairs(holders) do
  redis.call('ZREM', rk, h[2] .. '|' .. h[3])
  redis.call('HDEL', ik, h[2] .. '|' .. h[3])
  publish(h[2], 'b|' .. h[3])
  if tonumber(h[1]) > tonumber(top) then top = h[1] end
end
-- holders' session sets keep their entries: a keepalive that missed the message reports 'broken'
redis.call('SET', P .. 'last:' .. name, 'broken|' .. top .. '|' .. ARGV[3])
settle_name(name)
return 1
`;

/**
 * The scripts, each with the library in front of it.
 *
 * @example
 * ```ts
 * await client.run(SCRIPTS.release, [prefix, sid, claim, 'x', name, token]);
 * ```
 */
export const SCRIPTS = Object.freeze({
  acquire: LIBRARY + ACQUIRE,
  release: LIBRARY + RELEASE,
  withdraw: LIBRARY + WITHDRAW,
  keepAlive: LIBRARY + KEEPALIVE,
  revoke: LIBRARY + REVOKE,
  inspect: LIBRARY + INSPECT,
  break: LIBRARY + BREAK,
});

/** The name of one of {@link SCRIPTS}. */
export type ScriptName = keyof typeof SCRIPTS;
