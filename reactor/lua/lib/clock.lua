-- The clock (reactor/clock.py): a job recorded pending until its start time, and deadlines.

-- Give job j a deadline (Unix seconds, text) unless it has one: the first one given stays
-- (an executor that starts a job twice computes its deadline twice).
local function arm_deadline(j, deadline, on_deadline)
  if not deadline or deadline == '' then return end
  local jk = K.job(j)
  if redis.call('HEXISTS', jk, 'deadline') == 1 then return end
  redis.call('HSET', jk, 'deadline', deadline, 'on_deadline', on_deadline or 'flag')
  redis.call('ZADD', K.deadlines, deadline, j)
end

-- Record job j as pending until d.not_before (Unix seconds, text), with everything its start
-- needs (its workflow stored under its digest, the checkpoint of its start node, its input):
-- at that time the clock starts it as start.lua would have (defer_start.lua). d: digest,
-- workflow, name, version, checkpoint, input, not_before, deadline, on_deadline, now, at, build,
-- detail, and optionally schedule, fire_time and priority (kept for its start: as start.lua). A job that exists is left as it is (one job
-- per id), except a pending record of intake.lua (no job yet: no `not_before`).
-- Returns whether the job was created, and its status.
local function defer_job(j, d)
  local jk = K.job(j)
  local cur = redis.call('HMGET', jk, 'status', 'not_before', 'created')
  if cur[1] and not (cur[1] == 'pending' and not cur[2]) then return false, cur[1] end
  if cur[1] then redis.call('HDEL', jk, 'waiting_for', 'waiting_reason') end
  local wk = K.workflow(d.digest)
  if redis.call('EXISTS', wk) == 0 then redis.call('SET', wk, d.workflow) end
  redis.call('HSET', jk, 'status', 'pending', 'name', d.name, 'version', d.version, 'digest', d.digest,
    'fence', 0, 'checkpoint', d.checkpoint, 'input', d.input, 'created', cur[3] or d.at, 'updated', d.at,
    'build', d.build, 'not_before', d.not_before)
  if d.priority and d.priority ~= 5 then redis.call('HSET', jk, 'priority', d.priority) end  -- absent: 5
  if d.schedule and d.schedule ~= '' then
    redis.call('HSET', jk, 'schedule', d.schedule, 'fire_time', d.fire_time)
  end
  redis.call('ZADD', K.jobs, d.now, j)
  index_status(j, cur[1], 'pending')
  redis.call('ZADD', K.deferred, d.not_before, j)
  arm_deadline(j, d.deadline, d.on_deadline)
  history(j, d.at, '', 'deferred', d.build, d.detail)
  return true, 'pending'
end

