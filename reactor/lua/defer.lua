-- Accept a job that starts later (a delayed start): recorded pending with its start time.
-- A: job_id, d (see defer_job in lib/clock.lua)
-- Replies created (status pending) or existing (status): one job per id.
local created, status = defer_job(A.job_id, A.d)
if created then return reply(C.created, {status = status}) end
return reply(C.existing, {status = status})
