-- A cancel that came before its job: record the job, not created yet, as finished with this
-- status, so that its start (start.lua) finds it finished and no executor runs it.
-- A: job_id, status, error, at, now (the job's score in the jobs index), history
-- Replies recorded (status), or exists: the job exists by now (finish it the ordinary way).
local j = A.job_id
local jk = K.job(j)
if redis.call('EXISTS', jk) == 1 then return reply(C.exists) end
redis.call('HSET', jk, 'status', A.status, 'fence', 0, 'output', 'null', 'error', A.error,
  'created', A.at, 'updated', A.at, 'finished', A.at, 'build', '')
redis.call('ZADD', K.jobs, A.now, j)
index_status(j, nil, A.status)
for _, h in ipairs(A.history) do history(j, A.at, h.node, h.event, '', h.detail) end
expire_finished(j)
return reply(C.recorded, {status = A.status})
