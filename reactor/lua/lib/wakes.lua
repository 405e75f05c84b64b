-- Firing a wait and failing an attempt: what puts a job under a wake lease.

-- A job's fired events not consumed yet (`job_fired`, a zset scored by fire order): fire adds
-- each, drop_event (a park consuming or dropping it, a finish) removes it. A wake carries them
-- all, oldest first, so that two waits of a job firing before its executor parks lose neither.
-- A job whose wait fired under a build before this record has only its `wake_event`: taken in
-- here the first time the record is read. The first `limit` ids, oldest first.
local function fired_ids(j, limit)
  local fk = K.job_fired(j)
  local ids = redis.call('ZRANGE', fk, 0, limit - 1)
  if #ids == 0 then
    local e = redis.call('HGET', K.job(j), 'wake_event')
    if e and e ~= '' and event_job(e) == j and redis.call('HGET', K.event(e), 'status') == 'fired' then
      redis.call('ZADD', fk, 1, e)
      ids = {e}
    end
  end
  return ids
end

-- The job's `wake_event`: the oldest of its fired events (gauges, older readers), or none.
local function sync_wake_event(j)
  local first = redis.call('ZRANGE', K.job_fired(j), 0, 0)
  if first[1] then
    redis.call('HSET', K.job(j), 'wake_event', first[1])
  else
    redis.call('HDEL', K.job(j), 'wake_event')
  end
end

-- Everything a wake carries (reactor.outcomes.WakeData), read from the job and its fired events:
-- at most FIRED_MAX of them, and no more once their results pass FIRED_BYTES (the first always
-- goes), so that a wake stays under the payload limit; the rest ride with the next wake (the
-- park that consumes these offers it at once). The oldest is also the wake's own event_id, kind
-- and result, for executors older than `fired`. With nothing fired (a job started but never
-- parked) the job is offered from its checkpoint.
local function wake_of(j)
  local jf = redis.call('HMGET', K.job(j), 'fence', 'checkpoint', 'digest', 'input')
  local w = {job_id = j, fence = tonumber(jf[1]) or 0, checkpoint = opt(jf[2]), digest = opt(jf[3]),
    input = opt(jf[4])}
  local fired = {}
  local bytes = 0
  for _, e in ipairs(fired_ids(j, FIRED_MAX)) do
    local ef = redis.call('HMGET', K.event(e), 'kind', 'node', 'branch', 'result', 'status')
    if ef[5] == 'fired' then
      local size = #(ef[4] or '')
      if #fired > 0 and bytes + size > FIRED_BYTES then break end
      bytes = bytes + size
      fired[#fired + 1] = {event_id = e, kind = opt(ef[1]), node = opt(ef[2]), branch = opt(ef[3]),
        result = opt(ef[4])}
    else
      redis.call('ZREM', K.job_fired(j), e)  -- gone or not fired (written by hand): nothing to offer
    end
  end
  if #fired > 0 then
    w.event_id, w.kind, w.result, w.fired = fired[1].event_id, fired[1].kind, fired[1].result, fired
  end
  return w
end

-- Mark a parked event fired with its result, record it in its job's fired events, and put the
-- job under a wake lease. When the job is under a fresh wake lease already (a wake is out: an
-- executor works on it and has not parked; `lapses` 0), the lease is left as it is and the wake
-- returned is `held`, only the job and its fence: not sent (reactor.dispatch), since that
-- executor's park offers every event still fired at once (park.lua), and its lapse does. So
-- results that arrive while a job is being advanced are batched into its next wake instead of
-- racing it, and such a fire reads nothing more (a wake read per fire would cost each fire the
-- whole fired record).
local function fire(e, result, at, lease_at, detail)
  local k = K.event(e)
  local f = redis.call('HMGET', k, 'job', 'node')
  limit_release(e)  -- an attempt's end, for good: its slot goes back (nothing for other kinds)
  redis.call('HSET', k, 'status', 'fired', 'result', result, 'fired_at', at)
  redis.call('ZREM', K.timers, e)
  redis.call('ZREM', K.dispatch, e)
  local j = f[1]
  local jk = K.job(j)
  local fk = K.job_fired(j)
  fired_ids(j, 1)  -- an older build's wake_event first
  local last = redis.call('ZRANGE', fk, -1, -1, 'WITHSCORES')
  redis.call('ZADD', fk, 'NX', (tonumber(last[2]) or 0) + 1, e)
  history(j, at, f[2], 'fired', '', detail)
  local held = redis.call('ZSCORE', K.wakes, j) and (tonumber(redis.call('HGET', jk, 'lapses') or '0') or 0) == 0
  sync_wake_event(j)
  if held then
    redis.call('HSET', jk, 'updated', at)
    local w = {job_id = j, fence = tonumber(redis.call('HGET', jk, 'fence')) or 0, checkpoint = '', held = true}
    return w
  end
  redis.call('HSET', jk, 'updated', at, 'lapses', 0)
  redis.call('ZADD', K.wakes, lease_at, j)
  return wake_of(j)
end

-- A failed attempt of an activity: schedule the next attempt or fire the failure.
-- Returns nil and the next attempt's number for a retry, or the wake of the failure.
-- Its limit slot goes back for the backoff, unless `keep_slot` (a lapsed attempt, which may
-- still be running on a bot cut off: its retry goes out on the same slot).
local function fail_attempt(e, result, now, at, lease_at, reason, keep_slot)
  local k = K.event(e)
  local f = redis.call('HMGET', k, 'attempt', 'max_attempts', 'backoff_s', 'multiplier',
    'max_backoff_s', 'job', 'node')
  local attempt = tonumber(f[1])
  if attempt < tonumber(f[2] or '1') then
    local delay = tonumber(f[3]) * (tonumber(f[4]) ^ (attempt - 1))
    if delay > tonumber(f[5]) then delay = tonumber(f[5]) end
    if not keep_slot then limit_release(e) end  -- before the phase changes: it reads it
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
  local w, attempt = fail_attempt(e, result, now, at, lease_at, reason, true)
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
