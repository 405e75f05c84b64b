-- One step of the one-time fill of the status indexes (`jobs:status:<status>`) with the jobs
-- recorded before those indexes existed: the next `count` jobs of the jobs index, by rank.
-- A: count
-- The cursor (`jobs:indexed`) is the next rank to read, `done` once every job was read. Ranks
-- only grow (no job record is ever deleted; new jobs are scored now, at the end), so no job is
-- skipped. A job already in the index of its status (every job the scripts wrote since) is left
-- as it is; the others go in scored by their creation time. Replies step (read, added).
local cursor = redis.call('GET', K.job_status_backfill)
if cursor == 'done' then return reply(C.step, {read = 0, added = 0}) end
local from = tonumber(cursor or '0')
local count = A.count
local batch = redis.call('ZRANGE', K.jobs, from, from + count - 1, 'WITHSCORES')
local added = 0
for n = 1, #batch, 2 do
  local j = batch[n]
  local status = redis.call('HGET', K.job(j), 'status')
  if status and not redis.call('ZSCORE', K.job_status(status), j) then
    redis.call('ZADD', K.job_status(status), batch[n + 1], j)
    added = added + 1
  end
end
local read = #batch / 2
if read < count then
  redis.call('SET', K.job_status_backfill, 'done')
else
  redis.call('SET', K.job_status_backfill, from + read)
end
return reply(C.step, {read = read, added = added})
