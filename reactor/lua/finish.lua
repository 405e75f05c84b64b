-- Finish a job: fence check, drop every event, release its bots, record the outcome.
-- ARGV: prefix, job, fence ('' = no fence check: cancel; 'before-start': see below), status, output,
--   error, at, build, nhist, lease_at, per history entry: node, event, detail; with 'before-start'
--   one more: now (the job's score in the jobs index)
-- Returns {fence, n, n dropped activity events, wakes of jobs granted its bots...}
-- or {-1} / {-2, status} / {-3, fence}.
-- 'before-start' (a cancel that came before the job): for a job not created yet, record it with
-- this status, so that its start (start.lua) finds it finished and no executor runs it; returns
-- {0, 0}, or {-5} when the job exists by now (then it is to be finished the ordinary way).
local j = ARGV[2]
local jk = K.job(j)
local cur = redis.call('HMGET', jk, 'fence', 'status')
local nhist = tonumber(ARGV[9])
if ARGV[3] == 'before-start' then
  if cur[1] then return {-5} end
  redis.call('HSET', jk, 'status', ARGV[4], 'fence', 0, 'output', ARGV[5], 'error', ARGV[6],
    'created', ARGV[7], 'updated', ARGV[7], 'finished', ARGV[7], 'build', ARGV[8])
  redis.call('ZADD', K.jobs, ARGV[11 + 3 * nhist], j)
  index_status(j, nil, ARGV[4])
  local i = 11
  for _ = 1, nhist do
    history(j, ARGV[7], ARGV[i], ARGV[i + 1], ARGV[8], ARGV[i + 2])
    i = i + 3
  end
  return {0, 0}
end
if not cur[1] then return {-1} end
if cur[2] == 'completed' or cur[2] == 'failed' or cur[2] == 'cancelled' then return {-2, cur[2]} end
if ARGV[3] ~= '' and tonumber(cur[1]) ~= tonumber(ARGV[3]) then return {-3, cur[1]} end
local fence = tonumber(cur[1]) + 1
local dropped = {}
local events = redis.call('SMEMBERS', K.job_events(j))
for _, e in ipairs(events) do
  -- Only the job's own events (the set holds nothing else, unless written by hand): another
  -- job's wait is never dropped by this one's end.
  if event_job(e) == j then
    local st = redis.call('HMGET', K.event(e), 'kind', 'status')
    if st[1] == 'activity' and st[2] == 'parked' then dropped[#dropped + 1] = e end
    drop_event(e)
  end
end
redis.call('DEL', K.job_events(j), K.job_inbox(j))
redis.call('ZREM', K.wakes, j)
local wakes = {}
local bots = redis.call('HGET', jk, 'bots')
if bots and bots ~= '' then release_and_grant(j, bots, ARGV[7], ARGV[10], wakes) end
redis.call('HDEL', jk, 'wake_event', 'stranded', 'lapses', 'bots')
redis.call('ZREM', K.stranded, j)
redis.call('HSET', jk, 'fence', fence, 'status', ARGV[4], 'output', ARGV[5], 'error', ARGV[6],
  'updated', ARGV[7], 'finished', ARGV[7])
index_status(j, cur[2], ARGV[4])
local i = 11
for _ = 1, nhist do
  history(j, ARGV[7], ARGV[i], ARGV[i + 1], ARGV[8], ARGV[i + 2])
  i = i + 3
end
local out = {fence, #dropped}
for _, e in ipairs(dropped) do out[#out + 1] = e end
for _, v in ipairs(wakes) do out[#out + 1] = v end
return out
