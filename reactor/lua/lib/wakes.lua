-- Firing a wait and failing an attempt: what puts a job under a wake lease.

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
