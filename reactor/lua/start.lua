-- Create a job record, or return the one that exists (submitting an id twice starts one job).
-- ARGV: prefix, job, digest, workflow, name, version, checkpoint, input, now, at, build, lease_at
-- A new job is put under a wake lease too: if its executor dies before the first park,
-- the lease offers it again. A `pending` record (intake.lua: an older build could not read the
-- workflow) is no job yet: the job is created over it, keeping its `created` time and history.
local j = ARGV[2]
local jk = K.job(j)
local cur = redis.call('HMGET', jk, 'status', 'fence', 'checkpoint', 'input', 'created')
if cur[1] and cur[1] ~= 'pending' then
  return {0, cur[1], cur[2], cur[3] or '', cur[4] or ''}
end
if cur[1] then redis.call('HDEL', jk, 'waiting_for', 'waiting_reason') end
local wk = K.workflow(ARGV[3])
if redis.call('EXISTS', wk) == 0 then
  redis.call('SET', wk, ARGV[4])
end
redis.call('HSET', jk, 'status', 'running', 'name', ARGV[5], 'version', ARGV[6],
  'digest', ARGV[3], 'fence', 0, 'checkpoint', ARGV[7], 'input', ARGV[8],
  'created', cur[5] or ARGV[10], 'updated', ARGV[10], 'build', ARGV[11])
redis.call('ZADD', K.jobs, ARGV[9], j)
index_status(j, cur[1], 'running')
redis.call('ZADD', K.wakes, ARGV[12], j)
history(j, ARGV[10], '', 'created', ARGV[11], ARGV[5] .. ' v' .. ARGV[6])
return {1, 'running', '0', ARGV[7], ARGV[8]}
