-- An operator's action on one parked wait. Acts only while the event is still parked.
-- ARGV: prefix, event, op (resolve|fail|extend), result json, now, at, lease_at, timeout_s
-- Returns a wake (resolve/fail), {4} extended, {0, status} not parked, {-1} unknown,
-- {5, attempt, retry at} refused: extend of an activity waiting out a retry backoff (its timer
-- is the next attempt's start, not a timeout: moving it would only delay the retry).
local e, op = ARGV[2], ARGV[3]
local k = K.event(e)
local f = redis.call('HMGET', k, 'status', 'job', 'node', 'kind', 'pool', 'phase', 'attempt', 'deadline')
if not f[1] then return {-1} end
if f[1] ~= 'parked' then return {0, f[1]} end
if op == 'extend' and f[4] == 'activity' and f[6] == 'backoff' then return {5, f[7], f[8] or ARGV[5]} end
if op == 'extend' then
  local due = tonumber(ARGV[5]) + tonumber(ARGV[8])
  redis.call('ZADD', K.timers, due, e)
  redis.call('HSET', k, 'deadline', due)
  history(f[2], ARGV[6], f[3], 'extended', 'operator', 'timeout ' .. ARGV[8] .. ' s from now')
  return {4}
end
if f[4] == 'bot_lock' and f[5] then
  redis.call('LREM', K.pool_waiting(f[5]), 0, e)
end
if f[4] == 'signal' then
  local name = redis.call('HGET', k, 'signal')
  if name then redis.call('HDEL', K.job(f[2]), 'signal:' .. name) end
end
return fire(e, ARGV[4], ARGV[6], ARGV[7], 'operator ' .. op)
