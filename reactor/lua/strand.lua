-- An executor reports it cannot run a job (say, a workflow version its build does not know).
-- The job stays offered to other executors; the reason is shown in ee jobs, ee events and
-- ee status, the job is in the stranded index, and its history gets one entry per new reason.
-- ARGV: prefix, job, reason, at, build
local j = ARGV[2]
if redis.call('EXISTS', K.job(j)) == 0 then return {-1} end
mark_stranded(j, ARGV[3], ARGV[4], ARGV[5])
return {1}
