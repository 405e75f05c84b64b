-- Remove one batch of finished jobs of one final status that took it more than A.older_than_s
-- seconds ago (Redis's clock, the clock of the status index's scores): their keys (UNLINK: freed
-- off the main thread) and their ids in every index of job ids. Called by the reactor's
-- retention sweep (after the keys' TTL, EE_RETENTION) and by `ee purge`, a bounded batch per
-- call so that Redis is never blocked for long.
-- A: status (completed, failed or cancelled), older_than_s, limit
-- Replies purged (removed: jobs removed, more: the batch was full, call again).
if A.status ~= 'completed' and A.status ~= 'failed' and A.status ~= 'cancelled' then
  error('purge: not a final status: ' .. tostring(A.status))
end
local t = redis.call('TIME')
local before = tonumber(t[1]) + tonumber(t[2]) / 1e6 - A.older_than_s
local index = K.job_status(A.status)
local ids = redis.call('ZRANGEBYSCORE', index, '-inf', before, 'LIMIT', 0, A.limit)
local removed = 0
for _, j in ipairs(ids) do
  local status = redis.call('HGET', K.job(j), 'status')
  -- The index follows the status field (index_status); a job that moved on since (not possible
  -- for a final status, but never assumed) only leaves this index. A missing hash expired.
  if status == A.status or not status then
    redis.call('UNLINK', K.job(j), K.job_history(j), K.job_inbox(j), K.job_events(j))
    redis.call('ZREM', K.jobs, j)
    redis.call('ZREM', K.stranded, j)
    removed = removed + 1
  end
  redis.call('ZREM', index, j)
end
return reply(C.purged, {removed = removed, more = #ids >= A.limit})
