/**
 * The Lua helpers the protocol's scripts are made of (protocol.ts has the
 * protocol itself). Each helper names the helpers it calls; a script includes
 * only what it uses, because every helper is a closure created anew on every
 * call of a script, and that cost is paid on every lock request.
 *
 * Conventions: `P` is the key prefix (ARGV[1]); `v` is a name's `lock:` value;
 * mode is `x` (exclusive) or `s` (shared); a member `sid|claim|mode` names a
 * claim in a queue.
 *
 * Every helper that creates, deletes or rewrites a claim of a name (a holder
 * or a waiter, reaped ones too) calls `changed(name)`: one PUBLISH on
 * `P claims:<name>` per name and script, for Engine.watchName. Nobody
 * subscribes to it for a plain lock, and a PUBLISH to a channel without
 * subscribers is a dictionary lookup on the server.
 *
 * @internal
 * @module
 */

/**
 * Lua helpers, each with the helpers it uses. A script includes only what it
 * needs: every helper is a closure created on every call of the script.
 */
/**
 * How much longer than its readers' leases the shared marker on `lock:` lives:
 * the marker must never lapse under a live reader (a foreign SET NX would then
 * succeed), and Redis's expiry and the scripts' `now()` are the same clock, so
 * a few ms cover the rounding.
 */
const MARKER_SLACK_MS = 50;

const HELPERS = {
  num: {
    uses: [],
    code: String.raw`
-- integers as exact decimal text (tostring would print 1.7e+15)
local function num(n) return string.format('%.0f', n) end`,
  },
  split: {
    uses: [],
    code: String.raw`
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
end`,
  },
  changed: {
    uses: [],
    code: String.raw`
-- a claim of name was created, deleted or rewritten: tell the name's watchers, once per script
local CHANGED = {}
local function changed(name)
  if CHANGED[name] then return end
  CHANGED[name] = true
  redis.call('PUBLISH', P .. 'claims:' .. name, 'c')
end`,
  },
  starts: {
    uses: [],
    code: String.raw`
local function starts(s, prefix) return string.sub(s, 1, #prefix) == prefix end`,
  },
  now: {
    uses: [],
    code: String.raw`
-- the server clock in ms, read once and only when needed (TIME costs as much as a write)
local NOW
local function now()
  if not NOW then
    local t = redis.call('TIME')
    NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return NOW
end`,
  },
  alive: {
    uses: [],
    code: String.raw`
local function alive(sid) return redis.call('EXISTS', P .. 'session:' .. sid) == 1 end`,
  },
  waits_set: {
    uses: [],
    code: String.raw`
local function waits_set(sid) return P .. 'session:' .. sid .. ':waits' end`,
  },
  holder: {
    uses: [],
    code: String.raw`
-- whether a lock: value is a deadbolt holder's record: token|sid|claim|since|owner, with the
-- token and since in digits (a foreign client's random value, a uuid or base64, has no '|')
local function holder(v)
  return v ~= nil and v ~= false and string.find(v, '^%d+|[^|]+|[^|]+|%d+|') ~= nil
end`,
  },
  tomb: {
    uses: [],
    code: String.raw`
-- whether a lock: value is a tombstone an older deadbolt left there (released|token,
-- broken|token|record); this version keeps them under last: instead
local function tomb(v)
  return v ~= nil and v ~= false and (string.find(v, '^released|%d+$') ~= nil or string.find(v, '^broken|%d+|') ~= nil)
end`,
  },
  foreign: {
    uses: ['holder', 'tomb'],
    code: String.raw`
-- whether a lock: value was written by someone else (redis-py's Lock, redlock, SET NX PX):
-- an exclusive holder to wait for, never to overwrite; read no further than this test
local function foreign(v)
  return v ~= nil and v ~= false and v ~= 'shared' and not holder(v) and not tomb(v)
end`,
  },
  read_lock: {
    uses: ['tomb'],
    code: String.raw`
-- the name's lock: value; an older deadbolt's tombstone found there moves to last: first, so
-- that the key name is free for a foreign SET NX (the value is then nil)
local function read_lock(name)
  local lk = P .. 'lock:' .. name
  local v = redis.call('GET', lk)
  if not tomb(v) then return v end
  redis.call('SET', P .. 'last:' .. name, v)
  redis.call('DEL', lk)
  return nil
end`,
  },
  shared_marker: {
    uses: ['keep_for'],
    code: String.raw`
-- the shared marker on lock: lives MARKER_SLACK ms longer than the reader lease just
-- granted or renewed, so that it never lapses under a live reader, and lapses by itself
-- once the readers are gone (a foreign client is then not locked out for good); v: the
-- name's lock: value
local function shared_marker(name, v, ms)
  local lk = P .. 'lock:' .. name
  if v == 'shared' then keep_for(lk, ms + ${MARKER_SLACK_MS})
  elseif not v then redis.call('SET', lk, 'shared', 'PX', ms + ${MARKER_SLACK_MS}) end
end`,
  },
  last_gone: {
    uses: [],
    code: String.raw`
-- the departure record of a name (outcome|token...), for the next grant and for loss
-- reasons: in last:, or on lock: where an older deadbolt left it
local function last_gone(name)
  local v = redis.call('GET', P .. 'last:' .. name)
  if v then return v end
  v = redis.call('GET', P .. 'lock:' .. name)
  if v and (string.sub(v, 1, 9) == 'released|' or string.sub(v, 1, 7) == 'broken|') then return v end
  return nil
end`,
  },
  keep_for: {
    uses: [],
    code: String.raw`
-- PEXPIRE key ms unless it already lives longer (PEXPIRE GT needs Redis 7)
local function keep_for(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end`,
  },
  prune_readers: {
    uses: ['now', 'changed'],
    code: String.raw`
-- drop the shared holders whose lease ran out; how many are left
local function prune_readers(name)
  local rk = P .. 'readers:' .. name
  local gone = redis.call('ZRANGEBYSCORE', rk, '-inf', now())
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', rk, '-inf', now())
    redis.call('HDEL', P .. 'rinfo:' .. name, unpack(gone))
    changed(name)
  end
  return redis.call('ZCARD', rk)
end`,
  },
  next_token: {
    uses: [],
    code: String.raw`
-- the next fencing token: INCR; a new counter (or one lost with the data) starts at the
-- server clock in microseconds, above every token issued before unless the clock went back
local function next_token(name)
  local k = P .. 'token:' .. name
  local t = redis.call('INCR', k)
  if t > 1 then return t, false end
  local c = redis.call('TIME')
  local floor = c[1] .. string.format('%06d', tonumber(c[2]))
  redis.call('SET', k, floor)
  return tonumber(floor), true
end`,
  },
  own_grant: {
    uses: ['split', 'now'],
    code: String.raw`
-- the token of the grant claim made, if it holds name now
local function own_grant(name, sid, claim, mode)
  local v
  if mode == 'x' then
    v = redis.call('GET', P .. 'lock:' .. name)
  else
    local score = redis.call('ZSCORE', P .. 'readers:' .. name, sid .. '|' .. claim)
    if score and tonumber(score) > now() then v = redis.call('HGET', P .. 'rinfo:' .. name, sid .. '|' .. claim) end
  end
  if v then
    local f = split(v, 4)
    if f[2] == sid and f[3] == claim then return f[1] end
  end
  return nil
end`,
  },
  holder_wait: {
    uses: ['holder', 'foreign', 'prune_readers', 'now'],
    code: String.raw`
-- nil if the holders allow mode, else ms until the lease in the way runs out (-1: no
-- expiry) and whether it is a foreign holder's; v is the name's lock: value. The readers
-- zset decides for an exclusive claim even without the marker (an older deadbolt's reader
-- does not renew a marker that expires)
local function holder_wait(name, mode, v)
  if holder(v) then return redis.call('PTTL', P .. 'lock:' .. name), false end
  if foreign(v) then return redis.call('PTTL', P .. 'lock:' .. name), true end
  if mode == 's' then return nil end
  if v ~= 'shared' and redis.call('EXISTS', P .. 'readers:' .. name) == 0 then return nil end
  if prune_readers(name) == 0 then return nil end
  local first = redis.call('ZRANGE', P .. 'readers:' .. name, 0, 0, 'WITHSCORES')
  return tonumber(first[2]) - now(), false
end`,
  },
  queue_blocker: {
    uses: ['split', 'alive', 'changed'],
    code: String.raw`
-- the session of the first live waiter ahead of me (nil: a newcomer) that mode may not
-- overtake; waiters of dead sessions met on the way are dropped
local function queue_blocker(name, me, mode)
  local qk = P .. 'queue:' .. name
  local i = 0
  while true do
    local e = redis.call('ZRANGE', qk, i, i)[1]
    if not e or e == me then return nil end
    local f = split(e, 2)
    if not alive(f[1]) then redis.call('ZREM', qk, e); changed(name)
    elseif mode == 'x' or f[3] == 'x' then return f[1]
    else i = i + 1 end
  end
end`,
  },
  wake: {
    uses: ['split', 'alive', 'holder', 'foreign', 'prune_readers', 'changed'],
    code: String.raw`
-- tell the first live waiter (a run of shared ones: each) that it may be granted now;
-- free: the caller knows nobody holds the name (it just removed the exclusive holder)
local function wake(name, free)
  local readers = 0
  if not free then
    local v = redis.call('GET', P .. 'lock:' .. name)
    if holder(v) or foreign(v) then return end
    if v == 'shared' or redis.call('EXISTS', P .. 'readers:' .. name) == 1 then readers = prune_readers(name) end
  end
  local qk = P .. 'queue:' .. name
  local i = 0
  while true do
    local e = redis.call('ZRANGE', qk, i, i)[1]
    if not e then return end
    local f = split(e, 2)
    if not alive(f[1]) then redis.call('ZREM', qk, e); changed(name)
    elseif f[3] == 'x' then
      if i == 0 and readers == 0 then redis.call('PUBLISH', P .. 'wake:' .. f[1], 'w|' .. f[2]) end
      return
    else
      redis.call('PUBLISH', P .. 'wake:' .. f[1], 'w|' .. f[2])
      i = i + 1
    end
  end
end`,
  },
  grant: {
    uses: ['num', 'next_token', 'waits_set', 'keep_for', 'shared_marker', 'now', 'changed'],
    code: String.raw`
-- v: the name's lock: value before the grant (nil, or the shared marker: never a holder's)
local function grant(name, sid, claim, mode, owner, since, spt, v, was_queued)
  local t, fresh = next_token(name)
  local token = num(t)
  local record = token .. '|' .. sid .. '|' .. claim .. '|' .. since .. '|' .. owner
  if mode == 'x' then
    redis.call('SET', P .. 'lock:' .. name, record, 'PX', spt)
  else
    local rk, ik = P .. 'readers:' .. name, P .. 'rinfo:' .. name
    redis.call('ZADD', rk, now() + spt, sid .. '|' .. claim)
    redis.call('HSET', ik, sid .. '|' .. claim, record)
    keep_for(rk, spt)
    keep_for(ik, spt)
    shared_marker(name, v, spt)
  end
  if was_queued then redis.call('SREM', waits_set(sid), claim .. '|' .. mode .. '|' .. name) end
  redis.call('ZADD', P .. 'names', 0, name)
  changed(name)
  -- how the predecessor left: its departure record (last:, read once: the grant consumes
  -- it, as it overwrote the tombstone on lock: before); or, if its record just vanished,
  -- its lease ran out (its token is the one before ours); readers joining readers report nothing
  local pred = ''
  if not (mode == 's' and v == 'shared') then
    local lastk = P .. 'last:' .. name
    local last = redis.call('GET', lastk)
    if last then
      pred = last
      redis.call('DEL', lastk)
    elseif not fresh then pred = 'expired|' .. num(t - 1) end
  end
  return {'granted', token, pred}
end`,
  },
  release_claim: {
    uses: ['starts', 'changed'],
    code: String.raw`
-- remove a holder if it is still this grant (token, session and claim all match), leaving
-- the departure record outcome|token in last: (a reader: only the last one out). The lock:
-- key itself is deleted, never left without an expiry: a foreign SET NX may take it now
local function release_claim(name, sid, claim, mode, token, outcome)
  local mine = token .. '|' .. sid .. '|' .. claim .. '|'
  local lk = P .. 'lock:' .. name
  if mode == 'x' then
    local v = redis.call('GET', lk)
    if not (v and starts(v, mine)) then return false end
    redis.call('DEL', lk)
    redis.call('SET', P .. 'last:' .. name, outcome .. '|' .. token)
    changed(name)
    return true
  end
  local rk, m = P .. 'readers:' .. name, sid .. '|' .. claim
  local v = redis.call('HGET', P .. 'rinfo:' .. name, m)
  if not (v and starts(v, mine)) then return false end
  redis.call('ZREM', rk, m)
  redis.call('HDEL', P .. 'rinfo:' .. name, m)
  if redis.call('ZCARD', rk) == 0 then
    -- only our own marker: a foreign value there is not ours to delete
    if redis.call('GET', lk) == 'shared' then redis.call('DEL', lk) end
    redis.call('SET', P .. 'last:' .. name, outcome .. '|' .. token)
  end
  changed(name)
  return true
end`,
  },
  withdraw_claim: {
    uses: ['waits_set', 'own_grant', 'release_claim', 'wake', 'changed'],
    code: String.raw`
-- take a claim back: out of the queue, and released if it was granted unbeknown to us
local function withdraw_claim(name, sid, claim, mode)
  if redis.call('ZREM', P .. 'queue:' .. name, sid .. '|' .. claim .. '|' .. mode) == 1 then changed(name) end
  redis.call('SREM', waits_set(sid), claim .. '|' .. mode .. '|' .. name)
  local token = own_grant(name, sid, claim, mode)
  local released = token and release_claim(name, sid, claim, mode, token, 'released')
  wake(name, released and mode == 'x')
end`,
  },
  renew: {
    uses: ['starts', 'now', 'keep_for', 'shared_marker'],
    code: String.raw`
-- extend a held lock by ms if it is still this grant; whether it was
local function renew(name, sid, claim, mode, token, ms)
  if mode == 'x' then
    local lk = P .. 'lock:' .. name
    local v = redis.call('GET', lk)
    if not (v and starts(v, token .. '|' .. sid .. '|' .. claim .. '|')) then return false end
    redis.call('PEXPIRE', lk, ms)
    return true
  end
  local rk, member = P .. 'readers:' .. name, sid .. '|' .. claim
  local score = redis.call('ZSCORE', rk, member)
  if not (score and tonumber(score) > now()) then return false end
  redis.call('ZADD', rk, 'XX', now() + ms, member)
  keep_for(rk, ms)
  keep_for(P .. 'rinfo:' .. name, ms)
  shared_marker(name, redis.call('GET', P .. 'lock:' .. name), ms)
  return true
end`,
  },
  why_gone: {
    uses: ['starts', 'last_gone'],
    code: String.raw`
-- why a holder's record is gone: broken if the name's departure record lists its token
local function why_gone(name, token)
  local v = last_gone(name)
  if v and starts(v, 'broken|') and string.find(v, '"token":"' .. token .. '"', 1, true) then return 'broken' end
  return 'deleted'
end`,
  },
} satisfies Record<string, { uses: readonly string[]; code: string }>;

/**
 * The name of a Lua helper.
 *
 * @example
 * ```ts
 * const uses: HelperName[] = ['release_claim', 'wake'];
 * ```
 */
export type HelperName = keyof typeof HELPERS;

/**
 * A script: `local P = ARGV[1]` (the key prefix), the helpers it uses (each
 * after the helpers it uses itself), then its body.
 *
 * @example
 * ```ts
 * const RELEASE = script(['release_claim', 'wake'], `… return 1`);
 * ```
 */
export function script(uses: HelperName[], body: string): string {
  const included = new Set<string>();
  const parts = ['local P = ARGV[1]'];
  const include = (name: HelperName): void => {
    if (included.has(name)) return;
    included.add(name);
    // `uses` hold helper names too: a typo fails when the scripts are built, at import
    const helper = HELPERS[name] as { uses: readonly HelperName[]; code: string };
    for (const dependency of helper.uses) include(dependency);
    parts.push(helper.code);
  };
  for (const name of uses) include(name);
  parts.push(body);
  return parts.join('\n');
}
