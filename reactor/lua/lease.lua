-- Offer a job again: a lapsed wake lease (A.lapsed) or an executor's redrive.
-- What is offered: its fired events (wake_of), or, for a job started but never parked, its checkpoint.
-- A: job_id, now, at, lease_s, lapsed, strand_after
-- After `strand_after` lapses in a row the job is marked stranded (field, index, one history
-- entry) and still offered. Replies nothing when the job has nothing to wake, else fired (wake).
local j = A.job_id
local jk = K.job(j)
local now = tonumber(A.now)
if A.lapsed then
  local due = redis.call('ZSCORE', K.wakes, j)
  if not due or tonumber(due) > now then return reply(C.nothing) end
end
if #fired_ids(j, 1) == 0 and redis.call('HGET', jk, 'status') ~= 'running' then
  -- (A job started but never parked is offered from its checkpoint, with nothing fired.)
  redis.call('ZREM', K.wakes, j)
  return reply(C.nothing)
end
local lapses = tonumber(redis.call('HGET', jk, 'lapses') or '0')
if A.lapsed then
  lapses = lapses + 1
  redis.call('HSET', jk, 'lapses', lapses)
  -- Marked once: a reason already given (by this or by an executor that cannot run the job) stays.
  if lapses >= A.strand_after and redis.call('HEXISTS', jk, 'stranded') == 0 then
    mark_stranded(j, 'wake lease lapsed ' .. lapses .. ' times: no executor resumed the job', A.at, '')
  end
end
local backoff = 2 ^ math.min(lapses, 5)
redis.call('ZADD', K.wakes, now + A.lease_s * backoff, j)
return reply(C.fired, {wake = wake_of(j)})
