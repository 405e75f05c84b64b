-- One step of a schedule, atomic with its next fire time: the job a fire starts is recorded in
-- the same step (pending, due now: the clock starts it, defer_start.lua), so a fire time is
-- fired once whatever dies when. Its job id derives from the schedule and the fire time.
-- A.op:
--   fire     the fire time A.due (the schedule's `next`, else nothing: fired already, paused or
--            changed) by the overlap policy: a job (allow_all, or no job of the schedule runs),
--            skipped (skip; buffer_one with one buffered already) or buffered (buffer_one)
--   missed   A.n fire times from A.due on, outside the catch-up window: counted, not fired
--   buffered the buffered fire A.due, once the schedule's last job has ended
--   trigger  a job now, whatever runs (an operator's `ee schedule trigger`)
-- Every op but buffered and trigger moves `next` to A.next.
-- A: name, op, due, next, n, job_id, d (see defer_job, lib/clock.lua), fire_at, at
-- Replies done (result: fired, skipped, buffered or missed; job_id, created), nothing or unknown.
local name = A.name
local sk = K.schedule(name)
local s = redis.call('HMGET', sk, 'next', 'paused', 'overlap', 'last_job', 'buffered')
if redis.call('EXISTS', sk) == 0 then return reply(C.unknown) end

local function running()
  if not s[4] or s[4] == '' then return false end
  local st = redis.call('HGET', K.job(s[4]), 'status')
  return st ~= false and not is_final(st)  -- a purged job has ended
end

local function start(j)
  local created = defer_job(j, A.d)
  redis.call('HSET', sk, 'last_job', j, 'last_fire', A.fire_at, 'updated', A.at)
  if created then redis.call('HINCRBY', sk, 'fired', 1) end  -- a job of that id already there: not a fire
  return created
end

local function advance()
  redis.call('HSET', sk, 'next', A.next)
  redis.call('ZADD', K.schedules, A.next, name)
end

if A.op == 'trigger' then
  local created = start(A.job_id)
  return reply(C.done, {result = 'fired', job_id = A.job_id, created = created})
end
if A.op == 'buffered' then
  if s[5] ~= A.due then
    redis.call('SREM', K.schedules_buffered, name)
    return reply(C.nothing)
  end
  if running() then return reply(C.nothing) end
  redis.call('HDEL', sk, 'buffered')
  redis.call('SREM', K.schedules_buffered, name)
  local created = start(A.job_id)
  return reply(C.done, {result = 'fired', job_id = A.job_id, created = created})
end
if s[2] == '1' or s[1] ~= A.due then return reply(C.nothing) end
advance()
if A.op == 'missed' then
  redis.call('HINCRBY', sk, 'missed', A.n)
  redis.call('HSET', sk, 'last_missed', A.fire_at, 'updated', A.at)
  return reply(C.done, {result = 'missed'})
end
if s[3] == 'allow_all' or not running() then
  local created = start(A.job_id)
  return reply(C.done, {result = 'fired', job_id = A.job_id, created = created})
end
if s[3] == 'buffer_one' and (not s[5] or s[5] == '') then
  redis.call('HSET', sk, 'buffered', A.due, 'updated', A.at)
  redis.call('SADD', K.schedules_buffered, name)
  return reply(C.done, {result = 'buffered'})
end
redis.call('HINCRBY', sk, 'skipped', 1)
redis.call('HSET', sk, 'last_skipped', A.fire_at, 'updated', A.at)
return reply(C.done, {result = 'skipped'})
