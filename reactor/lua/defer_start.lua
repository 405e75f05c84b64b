-- Start a pending job whose start time came: as start.lua starts a job, under a wake lease,
-- offered from the checkpoint of its start node (the wake this replies with; if it is lost,
-- the lease offers it again). A job that is not pending with a start time any more (started,
-- cancelled, purged) only leaves the clock.
-- A: job_id, now, at, lease_at
-- Replies fired (wake) or nothing.
local j = A.job_id
local jk = K.job(j)
local f = redis.call('HMGET', jk, 'status', 'not_before')
if f[1] ~= 'pending' or not f[2] then
  redis.call('ZREM', K.deferred, j)
  return reply(C.nothing)
end
if tonumber(f[2]) > tonumber(A.now) then return reply(C.nothing) end
redis.call('ZREM', K.deferred, j)
redis.call('HSET', jk, 'status', 'running', 'updated', A.at, 'started', A.at)
index_status(j, 'pending', 'running')
redis.call('ZADD', K.wakes, A.lease_at, j)
history(j, A.at, '', 'started', '', 'start time reached')
return reply(C.fired, {wake = wake_of(j)})
