-- Limits: named caps on how many attempts of the activities naming one run at once
-- (concurrency) and how often one starts (a rate), per key of the limit.
--
-- `limit:<name>` holds the settings (none: unlimited). Per key, `limit-running:<name>:<key>` is
-- the set of attempts holding a slot (a set: a slot is freed once, whoever frees it first),
-- `limit-waiting:<name>:<key>` the line of those waiting (phase `waiting_capacity`, in
-- priority then arrival order: queues.lua), `limit-bucket:<name>:<key>` the token bucket of
-- the rate. `limits` and `limit-keys:<name>` name what is set or in use, for `ee limit list`.
--
-- An attempt takes its slot when it is dispatched (limit_enter: the first attempt in park.lua,
-- a retry in timer.lua) or waits in line. The head of a line is put on the timers (score 0: due
-- at once, or the time its token frees) whenever it may go, and timer.lua admits it
-- (limit_admit): so every admission is decided in one place, by the reactor's clock, inside
-- scripts that run anyway. A slot goes back in limit_release: the attempt's result or final
-- failure (fire), a failed attempt (fail_attempt), or its event's end (drop_event: a park
-- consuming or dropping it, a cancel, the job's end).

-- The rate: a bucket of one token refilled at rate/period per second, so that the starts in any
-- window of W seconds are at most 1 + W * rate / period. `now` is the reactor's clock (an
-- argument of the script): a clock that went back refills nothing. Returns 0 when a token is
-- there (taken when `take`), else the time one will be.
local function limit_token(name, key, rate, period, now, take)
  if not rate or not period or period <= 0 then return 0 end
  local bk = K.limit_bucket(name, key)
  local b = redis.call('HMGET', bk, 'tokens', 'at')
  local tokens = tonumber(b[1]) or 1
  local at = tonumber(b[2]) or now
  local per = rate / period
  if now > at then
    tokens = math.min(1, tokens + (now - at) * per)
    at = now
  end
  if tokens >= 1 - 1e-9 then
    if take then
      redis.call('HSET', bk, 'tokens', tostring(tokens - 1), 'at', tostring(at))
      -- Full again after 1/per seconds: kept a second longer, then a missing bucket is a full one.
      redis.call('PEXPIRE', bk, math.ceil(1000 / per) + 1000)
    end
    return 0
  end
  return at + (1 - tokens) / per
end

local function limit_settings(name)
  local c = redis.call('HMGET', K.limit(name), 'concurrency', 'rate', 'period_s')
  return tonumber(c[1]), tonumber(c[2]), tonumber(c[3])
end

-- Room for one more attempt now: 0, or false (no slot: wait for a release), or the time a token
-- frees; `take`: when there is room, the slot and token are e's.
local function limit_room(name, key, now, take, e)
  local conc, rate, period = limit_settings(name)
  if conc and redis.call('SCARD', K.limit_running(name, key)) >= conc then return false end
  local room = limit_token(name, key, rate, period, now, take)
  if room == 0 and take then
    redis.call('SADD', K.limit_running(name, key), e)
    redis.call('HSET', K.event(e), 'limit_held', '1')
  end
  return room
end

-- Put the head of a line on the timers, due at once: timer.lua decides whether it goes.
local function limit_nudge(name, key)
  local head = redis.call('ZRANGE', K.limit_waiting(name, key), 0, 0)[1]
  if head then redis.call('ZADD', K.timers, 0, head) end
end

-- A key with nobody running or waiting leaves the lists (a limit never set, once unused, too).
local function limit_tidy(name, key)
  if redis.call('SCARD', K.limit_running(name, key)) == 0 and redis.call('ZCARD', K.limit_waiting(name, key)) == 0 then
    redis.call('SREM', K.limit_keys(name), key)
    if redis.call('SCARD', K.limit_keys(name)) == 0 and redis.call('EXISTS', K.limit(name)) == 0 then
      redis.call('SREM', K.limits, name)
    end
  end
end

-- An attempt of e about to be dispatched: true when it may go (its slot taken, or it has none to
-- take), false when it waits in line instead (phase waiting_capacity, off the timers and the
-- dispatch set; its timeout starts when it is admitted).
local function limit_enter(e, now)
  local k = K.event(e)
  local f = redis.call('HMGET', k, 'limit', 'limit_key', 'priority', 'limit_held')
  if not f[1] or f[1] == '' then return true end
  if f[4] == '1' then return true end  -- still holds its slot (its lapsed attempt's, kept for the retry)
  local name, key = f[1], f[2] or ''
  local wk = K.limit_waiting(name, key)
  if redis.call('SADD', K.limit_keys(name), key) == 1 then redis.call('SADD', K.limits, name) end
  if redis.call('ZCARD', wk) == 0 and limit_room(name, key, now, true, e) == 0 then return true end
  redis.call('ZADD', wk, queue_score(f[3]), e)
  redis.call('HSET', k, 'phase', 'waiting_capacity', 'waiting_since', tostring(now))
  redis.call('HDEL', k, 'deadline')
  redis.call('ZREM', K.timers, e)
  redis.call('ZREM', K.dispatch, e)
  limit_nudge(name, key)
  return false
end

-- The waiting e's turn (its timer fell due): true when it is the head of its line and there is
-- room (its slot is taken, the next in line nudged); false otherwise (a token not there yet puts
-- it back on the timers for then; no slot: a release nudges it).
local function limit_admit(e, now)
  local f = redis.call('HMGET', K.event(e), 'limit', 'limit_key')
  local name, key = f[1], f[2] or ''
  if not name or name == '' then return true end
  local wk = K.limit_waiting(name, key)
  local head = redis.call('ZRANGE', wk, 0, 0)[1]
  if head ~= e then
    if redis.call('ZSCORE', wk, e) == false then return true end  -- in no line (written by hand): it goes
    if head then limit_nudge(name, key) end
    return false
  end
  local room = limit_room(name, key, now, true, e)
  if room == false then return false end
  if room > 0 then
    redis.call('ZADD', K.timers, room, e)
    return false
  end
  redis.call('ZREM', wk, e)
  redis.call('HDEL', K.event(e), 'waiting_since')
  limit_nudge(name, key)
  return true
end

-- e's slot back, or its place in line given up: at most once (SREM, ZREM), the next in line nudged.
local function limit_release(e)
  local k = K.event(e)
  local f = redis.call('HMGET', k, 'limit', 'limit_key', 'limit_held', 'phase')
  if not f[1] or f[1] == '' then return end
  -- Neither holding a slot nor in line (its slot given back already: a fired attempt consumed).
  if f[3] ~= '1' and f[4] ~= 'waiting_capacity' then return end
  local name, key = f[1], f[2] or ''
  local n
  if f[3] == '1' then
    n = redis.call('SREM', K.limit_running(name, key), e)
    redis.call('HDEL', k, 'limit_held')
  else
    n = redis.call('ZREM', K.limit_waiting(name, key), e)
  end
  if n > 0 then
    limit_nudge(name, key)
    limit_tidy(name, key)
  end
end
