-- The end of a job: what every final status does to its keys (finish, and the cancel of a child).

local function is_final(status)
  return status == 'completed' or status == 'failed' or status == 'cancelled'
end

-- What ending jobs collects: `dropped` their activities still in flight (their workers are told
-- to cancel), `wakes` of jobs granted the bots they released, `children` the child jobs of their
-- child waits that were still parked ({child id, parent id} each: cancelled next, children.lua),
-- `bots` bots granted to dropped lock requests, to release, `left` children beyond the bound.
local function new_ending()
  local out = {dropped = {}, wakes = {}, children = {}, bots = {}, left = {}}
  return out
end

-- Drop one event of job j, noting in `out` what its going means: an activity in flight is told
-- to cancel, a child job waited for is cancelled, a bot granted to a lock request the job never
-- consumed is to be released (the executor never learnt it holds it; release_and_grant after
-- the drops, so that no bot goes to a request dropped next).
local function drop_noting(j, e, out)
  local f = redis.call('HMGET', K.event(e), 'kind', 'status', 'child', 'bot')
  if f[1] == 'activity' and f[2] == 'parked' then out.dropped[#out.dropped + 1] = e end
  if f[1] == 'child' and f[2] == 'parked' and f[3] and f[3] ~= '' then
    out.children[#out.children + 1] = {f[3], j}
  end
  if f[1] == 'bot_lock' and f[2] == 'fired' and f[4] and f[4] ~= '' then out.bots[#out.bots + 1] = f[4] end
  drop_event(e)
end

-- End job j (not finished yet) with `status`: drop every event of it, release its bots, record
-- the outcome and its history entries (node, event, detail each), expire its keys. Returns its
-- new fence.
local function close_job(j, status, output, err, at, build, lease_at, entries, out)
  local jk = K.job(j)
  local cur = redis.call('HMGET', jk, 'fence', 'status')
  for _, e in ipairs(redis.call('SMEMBERS', K.job_events(j))) do
    -- Only the job's own events (the set holds nothing else, unless written by hand): another
    -- job's wait is never dropped by this one's end.
    if event_job(e) == j then drop_noting(j, e, out) end
  end
  redis.call('DEL', K.job_events(j), K.job_inbox(j), K.job_fired(j))
  redis.call('ZREM', K.wakes, j)
  local bots = redis.call('HGET', jk, 'bots')
  if bots and bots ~= '' then release_and_grant(j, bots, at, lease_at, out.wakes) end
  redis.call('HDEL', jk, 'wake_event', 'stranded', 'lapses', 'bots')
  redis.call('ZREM', K.stranded, j)
  local fence = (tonumber(cur[1]) or 0) + 1
  redis.call('HSET', jk, 'fence', fence, 'status', status, 'output', output, 'error', err,
    'updated', at, 'finished', at)
  index_status(j, cur[2], status)
  for _, h in ipairs(entries) do history(j, at, h.node, h.event, build, h.detail) end
  expire_finished(j)
  return fence
end
