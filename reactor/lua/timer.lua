-- A due timer: claim it (one winner) and act by the event's kind and phase.
-- ARGV: prefix, event, now, at, lease_at, timeout result json (per kind prepared by caller)
-- Returns {0} nothing to do, {2, attempt} retry scheduled, {3, event} dispatch the next attempt, or a wake.
local e = ARGV[2]
-- Due now, not merely seen due: a step since the caller looked may have set it later (a lapsed
-- attempt resumed, an operator's extend).
local due = redis.call('ZSCORE', K.timers, e)
if not due or tonumber(due) > tonumber(ARGV[3]) then return {0} end
redis.call('ZREM', K.timers, e)
local k = K.event(e)
local f = redis.call('HMGET', k, 'status', 'kind', 'phase', 'timeout_s', 'attempt', 'pool', 'bot')
if f[1] ~= 'parked' then return {0} end
local now = tonumber(ARGV[3])
if f[2] == 'activity' then
  if f[3] == 'backoff' then
    if f[7] and f[7] ~= '' and redis.call('HGET', K.bot(f[7]), 'alive') ~= '1' then
      -- The retry of an on-bot activity whose bot is gone can run nowhere: that attempt fails
      -- too (the next one is tried after its backoff, in case the bot is back by then).
      local reason = 'bot ' .. f[7] .. ' is not alive (attempt ' .. f[5] .. ')'
      return fail_attempt(e, cjson.encode({ok = false, error = reason}), now, ARGV[4], ARGV[5], reason)
    end
    redis.call('HSET', k, 'phase', 'running', 'dispatched', '')
    redis.call('HDEL', k, 'lapsed')  -- a later attempt runs: the lapsed one can no longer count
    redis.call('ZADD', K.dispatch, now, e)
    if f[4] and f[4] ~= '' then
      redis.call('ZADD', K.timers, now + tonumber(f[4]), e)
      redis.call('HSET', k, 'deadline', now + tonumber(f[4]))
    end
    return {3, e}
  end
  local reason = 'activity timed out after ' .. (f[4] or '?') .. ' s (attempt ' .. f[5] .. ')'
  local result = cjson.encode({ok = false, error = reason})
  return fail_attempt(e, result, now, ARGV[4], ARGV[5], reason)
end
if f[2] == 'timer' then
  return fire(e, '{"ok":true}', ARGV[4], ARGV[5], '')
end
if f[2] == 'bot_lock' then
  redis.call('LREM', K.pool_waiting(f[6]), 0, e)
end
return fire(e, ARGV[6], ARGV[4], ARGV[5], 'timed out')
