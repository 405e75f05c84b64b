-- A due deadline: flag the job overdue (field, index, one history entry). A job with
-- on_deadline "fail" stays on the clock a little longer (A.retry_s) until the reactor's finish
-- (status failed, "deadline passed") is recorded: a reactor that dies in between fails it after
-- its restart. A finished or purged job only leaves the clock.
-- A: job_id, now, at, retry_s
-- Replies recorded (on_deadline, first: flagged by this call) or nothing.
local j = A.job_id
local jk = K.job(j)
local f = redis.call('HMGET', jk, 'status', 'deadline', 'on_deadline', 'overdue')
if not f[1] or is_final(f[1]) or not f[2] then
  redis.call('ZREM', K.deadlines, j)
  return reply(C.nothing)
end
local now = tonumber(A.now)
if tonumber(f[2]) > now then return reply(C.nothing) end
local first = not f[4]
if first then
  redis.call('HSET', jk, 'overdue', A.at)
  redis.call('ZADD', K.overdue, now, j)
  history(j, A.at, '', 'overdue', '', 'deadline passed')
end
local on = f[3] or 'flag'
if on == 'fail' then
  redis.call('ZADD', K.deadlines, now + tonumber(A.retry_s), j)
else
  redis.call('ZREM', K.deadlines, j)
end
return reply(C.recorded, {on_deadline = on, first = first})
