-- Offer a job again: a lapsed wake lease (ARGV[6] = '1') or an executor's redrive ('0').
-- What is offered: its fired event, or, for a job started but never parked, its checkpoint.
-- ARGV: prefix, job, now, at, lease_s, lapsed, strand_after
-- After `strand_after` lapses in a row the job is marked stranded (field, index, one history
-- entry) and still offered. Returns {0} when the job has nothing to wake, else a wake.
local j = ARGV[2]
local jk = K.job(j)
local now = tonumber(ARGV[3])
if ARGV[6] == '1' then
  local due = redis.call('ZSCORE', K.wakes, j)
  if not due or tonumber(due) > now then return {0} end
end
local e = redis.call('HGET', jk, 'wake_event')
if not e or redis.call('HGET', K.event(e), 'status') ~= 'fired' then
  if redis.call('HGET', jk, 'status') == 'running' then
    e = ''
  else
    redis.call('ZREM', K.wakes, j)
    return {0}
  end
end
local lapses = tonumber(redis.call('HGET', jk, 'lapses') or '0')
if ARGV[6] == '1' then
  lapses = lapses + 1
  redis.call('HSET', jk, 'lapses', lapses)
  -- Marked once: a reason already given (by this or by an executor that cannot run the job) stays.
  if lapses >= tonumber(ARGV[7]) and redis.call('HEXISTS', jk, 'stranded') == 0 then
    mark_stranded(j, 'wake lease lapsed ' .. lapses .. ' times: no executor resumed the job', ARGV[4], '')
  end
end
local backoff = 2 ^ math.min(lapses, 5)
redis.call('ZADD', K.wakes, now + tonumber(ARGV[5]) * backoff, j)
if e == '' then
  -- Started but never parked: offer it from its checkpoint, with nothing fired.
  local jf = redis.call('HMGET', jk, 'fence', 'checkpoint', 'digest', 'input')
  return {1, j, jf[1], jf[2], jf[3], jf[4], '', '', 'null'}
end
return wake_of(j, e)
