-- Retry a failed job (ee retry): it runs again from its checkpoint, under a wake lease with
-- nothing fired, as a job just started does (start.lua), so that an executor runs it from there
-- (lease.lua offers it again while it stays so).
-- A: job_id, fence (as the caller read it), checkpoint (JSON; '' keeps the one stored: what the
--   failing finish stored, else the last park's), node (where it resumes), by, at, lease_at
-- Replies retried (fence, retries, wake), unknown, not_failed (status) or stale (fence): of two
-- retries at once one wins, the other finds the job running (or its fence moved on).
local j = A.job_id
local jk = K.job(j)
local cur = redis.call('HMGET', jk, 'fence', 'status', 'retries')
if not cur[1] then return reply(C.unknown) end
if cur[2] ~= 'failed' then return reply(C.not_failed, {status = cur[2]}) end
if tonumber(cur[1]) ~= A.fence then return reply(C.stale, {fence = tonumber(cur[1])}) end
local retries = (tonumber(cur[3]) or 0) + 1
if A.checkpoint ~= '' then redis.call('HSET', jk, 'checkpoint', A.checkpoint) end
local fence = run_again(j, 'failed', A.at, A.lease_at)
redis.call('HSET', jk, 'retries', retries)
history(j, A.at, A.node, 'retried', '', 'by ' .. A.by .. ' from ' .. A.node)
return reply(C.retried, {fence = fence, retries = retries, wake = wake_of(j, nil)})
