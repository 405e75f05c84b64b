-- Add a schedule, or replace one (A.replace): its fields as given, its next fire time on the
-- schedule clock. A replaced schedule keeps its counters and last fire; a buffered fire of the
-- old definition is dropped.
-- A: name, fields (flat list of field, value), next, replace
-- Replies created, existing (without replace) or ok (replaced).
local sk = K.schedule(A.name)
local exists = redis.call('EXISTS', sk) == 1
if exists and not A.replace then return reply(C.existing, {status = 'exists'}) end
if exists then
  redis.call('HDEL', sk, 'buffered', 'workflow', 'workflow_name', 'workflow_version')
  redis.call('SREM', K.schedules_buffered, A.name)
end
redis.call('HSET', sk, unpack(A.fields))
redis.call('HSET', sk, 'next', A.next, 'paused', 0)
redis.call('ZADD', K.schedules, A.next, A.name)
if exists then return reply(C.ok) end
return reply(C.created, {status = 'active'})
