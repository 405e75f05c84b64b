-- A due timer: claim it (one winner) and act by the event's kind and phase.
-- A: event_id, now, at, lease_at, timeout_result (json, per kind prepared by the caller: of the
--   error class timeout, reactor/store.py TIMEOUT_RESULTS)
-- Replies nothing, retry (attempt), redispatch (send the next attempt) or fired (wake).
local e = A.event_id
-- Due now, not merely seen due: a step since the caller looked may have set it later (a lapsed
-- attempt resumed, an operator's extend).
local due = redis.call('ZSCORE', K.timers, e)
if not due or tonumber(due) > tonumber(A.now) then return reply(C.nothing) end
redis.call('ZREM', K.timers, e)
local k = K.event(e)
local f = redis.call('HMGET', k, 'status', 'kind', 'phase', 'timeout_s', 'attempt', 'pool', 'bot')
if f[1] ~= 'parked' then return reply(C.nothing) end
local now = tonumber(A.now)
-- error_type: the class of the failure when it fires for good ('timeout' for a timed-out
-- attempt; none for any other, read as an application error).
local function failed(reason, error_type)
  local w, attempt = fail_attempt(e, cjson.encode({ok = false, error = reason, error_type = error_type}), now,
    A.at, A.lease_at, reason)
  if w then return reply(C.fired, {wake = w}) end
  return reply(C.retry, {attempt = attempt})
end
-- The attempt goes out now: in the dispatch set, its timeout from now.
local function dispatch_now()
  redis.call('HSET', k, 'phase', 'running', 'dispatched', '')
  redis.call('ZADD', K.dispatch, now, e)
  if f[4] and f[4] ~= '' then
    redis.call('ZADD', K.timers, now + tonumber(f[4]), e)
    redis.call('HSET', k, 'deadline', now + tonumber(f[4]))
  end
  return reply(C.redispatch)
end
if f[2] == 'activity' then
  if f[3] == 'backoff' then
    if f[7] and f[7] ~= '' and redis.call('HGET', K.bot(f[7]), 'alive') ~= '1' then
      -- The retry of an on-bot activity whose bot is gone can run nowhere: that attempt fails
      -- too (the next one is tried after its backoff, in case the bot is back by then).
      return failed('bot ' .. f[7] .. ' is not alive (attempt ' .. f[5] .. ')')
    end
    redis.call('HDEL', k, 'lapsed')  -- a later attempt runs: the lapsed one can no longer count
    if not limit_enter(e, now) then return reply(C.nothing) end  -- over its limit: in line
    return dispatch_now()
  end
  if f[3] == 'waiting_capacity' then
    -- Its turn in a limit's line may have come (a slot or a token freed: lib/limits.lua).
    if f[7] and f[7] ~= '' and redis.call('HGET', K.bot(f[7]), 'alive') ~= '1' then
      return failed('bot ' .. f[7] .. ' is not alive (attempt ' .. f[5] .. ')')
    end
    if not limit_admit(e, now) then return reply(C.nothing) end
    return dispatch_now()
  end
  return failed('activity timed out after ' .. (f[4] or '?') .. ' s (attempt ' .. f[5] .. ')', 'timeout')
end
if f[2] == 'timer' then
  return reply(C.fired, {wake = fire(e, '{"ok":true}', A.at, A.lease_at, '')})
end
if f[2] == 'bot_lock' then pool_unqueue(f[6], e) end
return reply(C.fired, {wake = fire(e, A.timeout_result, A.at, A.lease_at, 'timed out')})
