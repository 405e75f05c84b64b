-- An executor reports it cannot run a job (say, a workflow version its build does not know).
-- The job stays offered to other executors; the reason is shown in ee jobs and ee status.
-- ARGV: prefix, job, reason, at, build
local jk = jkey(ARGV[2])
if redis.call('EXISTS', jk) == 0 then return {-1} end
redis.call('HSET', jk, 'stranded', ARGV[3])
history(ARGV[2], ARGV[4], '', 'stranded', ARGV[5], ARGV[3])
return {1}
