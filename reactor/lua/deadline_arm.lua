-- Give a started job its deadline (the first one given stays; see arm_deadline, lib/clock.lua).
-- A: job_id, deadline, on_deadline
-- Replies ok, unknown or finished (status).
local st = redis.call('HGET', K.job(A.job_id), 'status')
if not st then return reply(C.unknown) end
if is_final(st) then return reply(C.finished, {status = st}) end
arm_deadline(A.job_id, A.deadline, A.on_deadline)
return reply(C.ok)
