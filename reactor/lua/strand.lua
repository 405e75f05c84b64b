-- An executor reports it cannot run a job (say, a workflow version its build does not know).
-- The job stays offered to other executors; the reason is shown in ee jobs, ee events and
-- ee status, the job is in the stranded index, and its history gets one entry per new reason.
-- A: job_id, reason, at, build. Replies ok or unknown.
if redis.call('EXISTS', K.job(A.job_id)) == 0 then return reply(C.unknown) end
mark_stranded(A.job_id, A.reason, A.at, A.build)
return reply(C.ok)
