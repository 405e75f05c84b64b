-- Shared by every script: the steps several scripts take. Written ahead of this prelude by
-- reactor/scripts.py: the key builders (table K, from shared/layout.py: no script spells a key),
-- the reply codes (table C, from reactor/outcomes.py), HISTORY_MAX, the call's arguments (table
-- A, unpacked from the one msgpack table of ARGV[1]) and reply(code, fields), which every script
-- answers with. Keys of one job share the hash tag {job id}; see docs/architecture.md for the others.

-- A field as read by HMGET: a missing one (false) becomes nil, absent from a reply.
local function opt(v)
  if v then return v end
  return nil
end
local function event_job(e)
  local j = string.match(e, '^(.*)~[^~]*$')
  return j or e
end

-- A job's history is a stream capped at about HISTORY_MAX entries (EE_HISTORY_MAX, written
-- ahead of this prelude by reactor/scripts.py). Below the cap an entry is a plain XADD (one
-- XLEN more); at the cap the oldest entries are trimmed and their number added to the job's
-- `history_trimmed` field, so that `ee status` says the history shown is not whole.
local function history(j, at, node, what, build, detail)
  local hk = K.job_history(j)
  local entry = {'at', at, 'node', node, 'event', what, 'build', build or '', 'detail', detail or ''}
  local len = redis.call('XLEN', hk)
  if len < HISTORY_MAX then
    redis.call('XADD', hk, '*', unpack(entry))
  else
    redis.call('XADD', hk, 'MAXLEN', '~', HISTORY_MAX, '*', unpack(entry))
    local dropped = len + 1 - redis.call('XLEN', hk)
    if dropped > 0 then redis.call('HINCRBY', K.job(j), 'history_trimmed', dropped) end
  end
end

-- Mark job j stranded with `reason`: the field, the index, and a history entry unless the
-- job was stranded for this very reason already (not one entry per re-offer). The stranded
-- index (job ids by the time they were stranded) follows the `stranded` field: the scripts
-- that clear the field when the job moves on (park, finish) take it out in the same step.
local function mark_stranded(j, reason, at, build)
  local jk = K.job(j)
  local before = redis.call('HGET', jk, 'stranded')
  redis.call('HSET', jk, 'stranded', reason)
  local t = redis.call('TIME')
  redis.call('ZADD', K.stranded, 'NX', tonumber(t[1]) + tonumber(t[2]) / 1e6, j)
  if before ~= reason then history(j, at, '', 'stranded', build, reason) end
end

-- Jobs by status (`jobs:status:<status>`, for `ee jobs --status`): one zset per value of a job's
-- `status` field, scored by when that value was last written (Unix seconds, Redis's clock). Every
-- script that writes a job's `status` calls this in the same step, so a job is in exactly the
-- index of the status `ee status` shows (a job whose wait fired stays `parked` until its executor
-- parks or finishes it). Nothing deletes job records; whatever comes to must ZREM the job here.
local function index_status(j, before, after)
  if before and before ~= after then redis.call('ZREM', K.job_status(before), j) end
  local t = redis.call('TIME')
  redis.call('ZADD', K.job_status(after), tonumber(t[1]) + tonumber(t[2]) / 1e6, j)
end

-- Secondary indexes of open events (parked, or fired and not consumed yet), like the per-kind
-- ones (`events:<kind>`): per activity, per lock pool and per bot, each a zset scored by the
-- time the event was parked, for `ee events --activity/--pool/--bot [--older-than]`. An event
-- enters them when parked (park.lua), its bot's index when granted a bot (grant below), and
-- leaves them all in drop_event, the only place an event goes.

local function index_event(e, score, activity, pool, bot)
  if activity and activity ~= '' then redis.call('ZADD', K.activity_events(activity), score, e) end
  if pool and pool ~= '' then redis.call('ZADD', K.pool_events(pool), score, e) end
  if bot and bot ~= '' then redis.call('ZADD', K.bot_events(bot), score, e) end
end

local function release_bot(bot, j)
  local bk = K.bot(bot)
  if redis.call('HGET', bk, 'holder') == j then
    redis.call('HSET', bk, 'holder', '')
    local pool = redis.call('HGET', bk, 'pool')
    if pool and redis.call('HGET', bk, 'alive') == '1' then
      redis.call('RPUSH', K.pool_free(pool), bot)
    end
    return 1
  end
  return 0
end

-- Remove an event and every trace of it in the global sets.
local function drop_event(e)
  local k = K.event(e)
  local f = redis.call('HMGET', k, 'kind', 'pool', 'job', 'signal', 'activity', 'bot')
  if f[1] then
    redis.call('ZREM', K.event_index(f[1]), e)
    if f[5] then redis.call('ZREM', K.activity_events(f[5]), e) end
    if f[2] then redis.call('ZREM', K.pool_events(f[2]), e) end
    if f[6] and f[6] ~= '' then redis.call('ZREM', K.bot_events(f[6]), e) end
    if f[1] == 'bot_lock' and f[2] then
      redis.call('LREM', K.pool_waiting(f[2]), 0, e)
    end
    if f[1] == 'signal' and f[4] and f[3] then
      redis.call('HDEL', K.job(f[3]), 'signal:' .. f[4])
    end
  end
  redis.call('DEL', k)
  redis.call('SREM', K.job_events(event_job(e)), e)
  redis.call('ZREM', K.timers, e)
  redis.call('ZREM', K.dispatch, e)
  return f[1]
end

-- An item of a job's signal inbox: a JSON object {"name", "expires", "result" (the result's JSON
-- text, as a string)}, encoded by cjson, never pasted. Items stored by earlier versions are
-- 'name\nexpires\nresult json' or, older still, 'name\nresult json' (a result is a JSON object,
-- so it never starts with a digit); they are read as before. An old item never starts with '{'
-- followed by valid JSON of that shape: signal names never held a newline on purpose.
-- Returns name, result json, expiry (nil for none).
local function inbox_encode(name, expires, result)
  return cjson.encode({name = name, expires = expires, result = result})
end

local function inbox_item(item)
  if string.sub(item, 1, 1) == '{' then
    local ok, v = pcall(cjson.decode, item)
    if ok and type(v) == 'table' and type(v.name) == 'string' and type(v.result) == 'string' then
      return v.name, v.result, tonumber(v.expires)
    end
  end
  local sep = string.find(item, '\n', 1, true)
  if not sep then return nil end
  local name, rest = string.sub(item, 1, sep - 1), string.sub(item, sep + 1)
  local expires = string.match(rest, '^([%d%.]+)\n')
  if expires then return name, string.sub(rest, #expires + 2), tonumber(expires) end
  return name, rest, nil
end

local function inbox_expired(item, now)
  local _, _, expires = inbox_item(item)
  return expires ~= nil and expires <= now
end

-- Everything a wake carries (reactor.outcomes.WakeData), read from the job and its fired event
-- (e nil: a job started but never parked, offered from its checkpoint with nothing fired).
local function wake_of(j, e)
  local jf = redis.call('HMGET', K.job(j), 'fence', 'checkpoint', 'digest', 'input')
  local w = {job_id = j, fence = tonumber(jf[1]) or 0, checkpoint = opt(jf[2]), digest = opt(jf[3]),
    input = opt(jf[4])}
  if e then
    local ef = redis.call('HMGET', K.event(e), 'kind', 'result')
    w.event_id, w.kind, w.result = e, opt(ef[1]), opt(ef[2])
  end
  return w
end

-- Mark a parked event fired with its result and put its job under a wake lease.
local function fire(e, result, at, lease_at, detail)
  local k = K.event(e)
  local f = redis.call('HMGET', k, 'job', 'node')
  redis.call('HSET', k, 'status', 'fired', 'result', result, 'fired_at', at)
  redis.call('ZREM', K.timers, e)
  redis.call('ZREM', K.dispatch, e)
  local j = f[1]
  redis.call('HSET', K.job(j), 'wake_event', e, 'updated', at, 'lapses', 0)
  redis.call('ZADD', K.wakes, lease_at, j)
  history(j, at, f[2], 'fired', '', detail)
  return wake_of(j, e)
end

-- A failed attempt of an activity: schedule the next attempt or fire the failure.
-- Returns nil and the next attempt's number for a retry, or the wake of the failure.
local function fail_attempt(e, result, now, at, lease_at, reason)
  local k = K.event(e)
  local f = redis.call('HMGET', k, 'attempt', 'max_attempts', 'backoff_s', 'multiplier',
    'max_backoff_s', 'job', 'node')
  local attempt = tonumber(f[1])
  if attempt < tonumber(f[2] or '1') then
    local delay = tonumber(f[3]) * (tonumber(f[4]) ^ (attempt - 1))
    if delay > tonumber(f[5]) then delay = tonumber(f[5]) end
    redis.call('HSET', k, 'attempt', attempt + 1, 'phase', 'backoff',
      'last_error', reason, 'deadline', now + delay, 'dispatched', '')
    redis.call('ZADD', K.timers, now + delay, e)
    redis.call('ZREM', K.dispatch, e)
    history(f[6], at, f[7], 'retry', '', 'attempt ' .. attempt .. ' failed: ' .. reason)
    return nil, attempt + 1
  end
  return fire(e, result, at, lease_at, reason)
end

-- An attempt whose bot was lost mid-run (its lease lapsed, or it said it stops) fails at once,
-- but the bot may be alive all along (cut off from NATS longer than its lease) and finish it.
-- Until a later attempt is dispatched the event keeps `lapsed` (JSON: attempt, bot, deadline),
-- and that attempt can still count: its result is taken during the backoff (result.lua), and a
-- heartbeat of the bot saying it still holds the attempt resumes it (heartbeat.lua), so its retry
-- never runs beside it. Returns what fail_attempt returns.
local function lapse_attempt(e, bot, result, now, at, lease_at, reason)
  local k = K.event(e)
  local f = redis.call('HMGET', k, 'attempt', 'deadline')
  local w, attempt = fail_attempt(e, result, now, at, lease_at, reason)
  if not w then
    redis.call('HSET', k, 'lapsed', cjson.encode({attempt = tonumber(f[1]), bot = bot, deadline = f[2] or ''}))
  end
  return w, attempt
end

-- The `lapsed` record of e when e is parked in the backoff after lapsed attempt `attempt`, else nil.
local function lapsed_attempt(e, attempt)
  local f = redis.call('HMGET', K.event(e), 'status', 'phase', 'lapsed')
  if f[1] ~= 'parked' or f[2] ~= 'backoff' or not f[3] then return nil end
  local ok, l = pcall(cjson.decode, f[3])
  if not ok or type(l) ~= 'table' or tonumber(l.attempt) == nil or tonumber(l.attempt) ~= tonumber(attempt) then
    return nil
  end
  return l
end

-- The lapsed attempt is the running one again: its timeout as it was, the retry (which never
-- ran: `lapsed` goes when a later attempt is dispatched) forgotten, one history entry.
local function resume_lapsed(e, l, at, detail)
  local k = K.event(e)
  redis.call('HSET', k, 'attempt', tonumber(l.attempt), 'phase', 'running', 'dispatched', '')
  redis.call('HDEL', k, 'lapsed')
  local deadline = tonumber(l.deadline)
  if deadline then
    redis.call('HSET', k, 'deadline', l.deadline)
    redis.call('ZADD', K.timers, deadline, e)
  else
    redis.call('HDEL', k, 'deadline')
    redis.call('ZREM', K.timers, e)
  end
  local f = redis.call('HMGET', k, 'job', 'node')
  history(f[1], at, f[2], 'resumed', '', detail)
end

-- Grant free bots of a pool to waiting lock requests, first come first served.
-- Appends each resulting wake to the list `out` and returns how many.
local function grant(pool, at, lease_at, out)
  local waiting = K.pool_waiting(pool)
  local free = K.pool_free(pool)
  local granted = 0
  while redis.call('LLEN', waiting) > 0 and redis.call('LLEN', free) > 0 do
    local bot = redis.call('LPOP', free)
    local bk = K.bot(bot)
    local b = redis.call('HMGET', bk, 'alive', 'holder', 'pool')
    if b[1] == '1' and (not b[2] or b[2] == '') and b[3] == pool then
      local e = redis.call('LPOP', waiting)
      local f = redis.call('HMGET', K.event(e), 'status', 'job')
      if f[1] == 'parked' then
        local j = f[2]
        redis.call('HSET', bk, 'holder', j, 'held_since', at)
        local held = redis.call('HGET', K.job(j), 'bots')
        if held and held ~= '' then held = held .. ',' .. bot else held = bot end
        redis.call('HSET', K.job(j), 'bots', held)
        redis.call('HSET', K.event(e), 'bot', bot)
        local parked = redis.call('ZSCORE', K.event_index('bot_lock'), e)
        if parked then redis.call('ZADD', K.bot_events(bot), parked, e) end
        out[#out + 1] = fire(e, cjson.encode({ok = true, output = {bot = bot, pool = pool}}), at, lease_at,
          'granted bot ' .. bot)
        granted = granted + 1
      else
        -- A stale request: give the bot back and look at the next one.
        redis.call('LPUSH', free, bot)
      end
    end
  end
  return granted
end

-- Release the listed bots (a list, or a comma separated text) held by job j and grant them
-- onwards; wakes go to the list `out`.
local function release_and_grant(j, bots, at, lease_at, out)
  local n = 0
  local keep = {}
  local release = {}
  if type(bots) == 'table' then
    for _, bot in ipairs(bots) do release[bot] = true end
  else
    for bot in string.gmatch(bots, '[^,]+') do release[bot] = true end
  end
  local held = redis.call('HGET', K.job(j), 'bots') or ''
  for bot in string.gmatch(held, '[^,]+') do
    if release[bot] then
      if release_bot(bot, j) == 1 then
        local pool = redis.call('HGET', K.bot(bot), 'pool')
        if pool then n = n + grant(pool, at, lease_at, out) end
      end
    else
      keep[#keep + 1] = bot
    end
  end
  redis.call('HSET', K.job(j), 'bots', table.concat(keep, ','))
  return n
end

-- Take a bot out of its pool (its heartbeats stopped, or its lease lapsed). The holder's
-- activities running on it can no longer finish: their attempt fails now; the wakes of those
-- that failed for good go to the list `out`.
local function take_bot_out(bot, reason, now, at, lease_at, out)
  local bk = K.bot(bot)
  local b = redis.call('HMGET', bk, 'pool', 'holder', 'alive')
  redis.call('HSET', bk, 'alive', '0', 'down_reason', reason)
  redis.call('ZREM', K.bot_leases, bot)
  if b[1] then redis.call('LREM', K.pool_free(b[1]), 0, bot) end
  if b[2] and b[2] ~= '' then
    for _, e in ipairs(redis.call('SMEMBERS', K.job_events(b[2]))) do
      local f = redis.call('HMGET', K.event(e), 'kind', 'status', 'bot', 'phase')
      if f[1] == 'activity' and f[2] == 'parked' and f[3] == bot and f[4] == 'running' then
        local msg = 'bot ' .. bot .. ' lost: ' .. reason
        local w = lapse_attempt(e, bot, cjson.encode({ok = false, error = msg}), now, at, lease_at, msg)
        if w then out[#out + 1] = w end
      end
    end
  end
end
