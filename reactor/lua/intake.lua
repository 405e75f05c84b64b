-- An executor could not start a job; record why, so that ee status and ee jobs show it.
-- ARGV: prefix, job, verdict ('waiting' | 'refused'), reason, now, at, build, name, version
-- 'waiting': the executor's build cannot read the workflow (a node kind or field from a newer
--   build) and gave the job message back to JetStream: the job is recorded `pending`, with
--   `waiting_for` and `waiting_reason`, and one history entry per new reason (not one per
--   redelivery). start.lua creates the job over such a record and clears both fields.
-- 'refused': no build could accept the workflow: the job is recorded `failed`, with the reason
--   in `refused` and `error`.
-- Either way the record is a job hash with fence 0, listed in the jobs index, so cancel
-- (finish.lua) and signal (kept in the inbox) treat it like any job not finished.
-- Returns {1, status} recorded, or {0, status}: the job had started or finished (left as is).
local j = ARGV[2]
local jk = K.job(j)
local status = redis.call('HGET', jk, 'status')
if status and status ~= 'pending' then return {0, status} end
if not status then
  redis.call('HSET', jk, 'fence', 0, 'created', ARGV[6])
  redis.call('ZADD', K.jobs, ARGV[5], j)
end
redis.call('HSET', jk, 'updated', ARGV[6], 'name', ARGV[8], 'version', ARGV[9])
if ARGV[3] == 'waiting' then
  local before = redis.call('HGET', jk, 'waiting_reason')
  redis.call('HSET', jk, 'status', 'pending', 'waiting_for', 'a capable executor', 'waiting_reason', ARGV[4])
  index_status(j, status, 'pending')
  if before ~= ARGV[4] then history(j, ARGV[6], '', 'waiting', ARGV[7], ARGV[4]) end
  return {1, 'pending'}
end
redis.call('HDEL', jk, 'waiting_for', 'waiting_reason')
redis.call('HSET', jk, 'status', 'failed', 'refused', ARGV[4], 'error', ARGV[4], 'output', 'null',
  'finished', ARGV[6])
index_status(j, status, 'failed')
history(j, ARGV[6], '', 'refused', ARGV[7], ARGV[4])
return {1, 'failed'}
