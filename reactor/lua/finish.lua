-- Finish a job: fence check, drop every event, release its bots, record the outcome.
-- A: job_id, fence (absent: no fence check, a cancel), status, output, error, at, build, lease_at,
--   history (node, event, detail each), checkpoint (absent: the last park's stays; ee retry resumes it)
-- Replies done (fence, dropped: its activities still in flight, wakes: of jobs granted its bots),
-- unknown, finished (status) or stale (fence).
local j = A.job_id
local jk = K.job(j)
local cur = redis.call('HMGET', jk, 'fence', 'status')
if not cur[1] then return reply(C.unknown) end
if cur[2] == 'completed' or cur[2] == 'failed' or cur[2] == 'cancelled' then
  return reply(C.finished, {status = cur[2]})
end
if A.fence and tonumber(cur[1]) ~= A.fence then return reply(C.stale, {fence = tonumber(cur[1])}) end
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
if bots and bots ~= '' then release_and_grant(j, bots, A.at, A.lease_at, wakes) end
redis.call('HDEL', jk, 'wake_event', 'stranded', 'lapses', 'bots')
redis.call('ZREM', K.stranded, j)
if A.checkpoint then redis.call('HSET', jk, 'checkpoint', A.checkpoint) end
redis.call('HSET', jk, 'fence', fence, 'status', A.status, 'output', A.output, 'error', A.error,
  'updated', A.at, 'finished', A.at)
index_status(j, cur[2], A.status)
for _, h in ipairs(A.history) do history(j, A.at, h.node, h.event, A.build, h.detail) end
expire_finished(j)
return reply(C.done, {fence = fence, dropped = dropped, wakes = wakes})
