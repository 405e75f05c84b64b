-- An operator's action on one parked wait. Acts only while the event is still parked.
-- A: event_id, op (resolve|fail|extend), result (json), now, at, lease_at, timeout_s (extend),
--   by (who acted: named in the history entry; '' for an operator who gave no name)
-- Replies fired (wake: resolve/fail), extended, unknown, not_parked (status), or in_backoff
-- (attempt, retry_at): extend of an activity waiting out a retry backoff (its timer is the next
-- attempt's start, not a timeout: moving it would only delay the retry).
local e, op = A.event_id, A.op
local who = (A.by and A.by ~= '') and (' by ' .. A.by) or ''
local k = K.event(e)
local f = redis.call('HMGET', k, 'status', 'job', 'node', 'kind', 'pool', 'phase', 'attempt', 'deadline')
if not f[1] then return reply(C.unknown) end
if f[1] ~= 'parked' then return reply(C.not_parked, {status = f[1]}) end
if op == 'extend' and f[4] == 'activity' and f[6] == 'backoff' then
  return reply(C.in_backoff, {attempt = tonumber(f[7]), retry_at = tonumber(f[8] or A.now)})
end
if op == 'extend' then
  local due = tonumber(A.now) + tonumber(A.timeout_s)
  redis.call('ZADD', K.timers, due, e)
  redis.call('HSET', k, 'deadline', due)
  history(f[2], A.at, f[3], 'extended', 'operator', 'timeout ' .. A.timeout_s .. ' s from now' .. who)
  return reply(C.extended)
end
if f[4] == 'bot_lock' and f[5] then pool_unqueue(f[5], e) end
if f[4] == 'signal' then
  local name = redis.call('HGET', k, 'signal')
  if name then redis.call('HDEL', K.job(f[2]), 'signal:' .. name) end
end
return reply(C.fired, {wake = fire(e, A.result, A.at, A.lease_at, 'operator ' .. op .. who)})
