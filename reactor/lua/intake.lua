-- An executor could not start a job; record why, so that ee status and ee jobs show it.
-- A: job_id, verdict ('waiting' | 'refused'), reason, now, at, build, name, version
-- 'waiting': the executor's build cannot read the workflow (a node kind or field from a newer
--   build) and gave the job message back to JetStream: the job is recorded `pending`, with
--   `waiting_for` and `waiting_reason`, and one history entry per new reason (not one per
--   redelivery). start.lua creates the job over such a record and clears both fields.
-- 'refused': no build could accept the workflow: the job is recorded `failed`, with the reason
--   in `refused` and `error`.
-- Either way the record is a job hash with fence 0, listed in the jobs index, so cancel
-- (finish.lua) and signal (kept in the inbox) treat it like any job not finished.
-- Replies recorded (status), or untouched (status): the job had started or finished.
local j = A.job_id
local jk = K.job(j)
local status = redis.call('HGET', jk, 'status')
if status and status ~= 'pending' then return reply(C.untouched, {status = status}) end
if not status then
  redis.call('HSET', jk, 'fence', 0, 'created', A.at)
  redis.call('ZADD', K.jobs, A.now, j)
end
redis.call('HSET', jk, 'updated', A.at, 'name', A.name, 'version', A.version)
if A.verdict == 'waiting' then
  local before = redis.call('HGET', jk, 'waiting_reason')
  redis.call('HSET', jk, 'status', 'pending', 'waiting_for', 'a capable executor', 'waiting_reason', A.reason)
  index_status(j, status, 'pending')
  if before ~= A.reason then history(j, A.at, '', 'waiting', A.build, A.reason) end
  return reply(C.recorded, {status = 'pending'})
end
redis.call('HDEL', jk, 'waiting_for', 'waiting_reason')
redis.call('HSET', jk, 'status', 'failed', 'refused', A.reason, 'error', A.reason, 'output', 'null',
  'finished', A.at)
index_status(j, status, 'failed')
history(j, A.at, '', 'refused', A.build, A.reason)
expire_finished(j)
return reply(C.recorded, {status = 'failed'})
