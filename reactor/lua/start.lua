-- Create a job record, or return the one that exists (submitting an id twice starts one job).
-- A: job_id, digest, workflow, name, version, checkpoint, input, now, at, build, lease_at, priority
-- A new job is put under a wake lease too: if its executor dies before the first park,
-- the lease offers it again. A `pending` record (intake.lua: an older build could not read the
-- workflow) is no job yet: the job is created over it, keeping its `created` time and history.
-- Replies created or existing (status, fence, checkpoint, input).
local j = A.job_id
local jk = K.job(j)
local cur = redis.call('HMGET', jk, 'status', 'fence', 'checkpoint', 'input', 'created')
if cur[1] and cur[1] ~= 'pending' then
  return reply(C.existing, {status = cur[1], fence = tonumber(cur[2]) or 0, checkpoint = opt(cur[3]),
    input = opt(cur[4])})
end
if cur[1] then redis.call('HDEL', jk, 'waiting_for', 'waiting_reason') end
local wk = K.workflow(A.digest)
if redis.call('EXISTS', wk) == 0 then
  redis.call('SET', wk, A.workflow)
end
redis.call('HSET', jk, 'status', 'running', 'name', A.name, 'version', A.version,
  'digest', A.digest, 'fence', 0, 'checkpoint', A.checkpoint, 'input', A.input,
  'created', cur[5] or A.at, 'updated', A.at, 'build', A.build)
if A.priority and A.priority ~= 5 then redis.call('HSET', jk, 'priority', A.priority) end  -- absent: 5
redis.call('ZADD', K.jobs, A.now, j)
index_status(j, cur[1], 'running')
redis.call('ZADD', K.wakes, A.lease_at, j)
history(j, A.at, '', 'created', A.build, A.name .. ' v' .. A.version)
return reply(C.created, {status = 'running', fence = 0, checkpoint = A.checkpoint, input = A.input})
