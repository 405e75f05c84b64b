-- Finish a job: fence check, drop every event, release its bots, record the outcome; a child
-- job's end fires its parent's wait, and the job's own children still waited for are cancelled.
-- A: job_id, fence (absent: no fence check, a cancel), status, output, error, at, build, lease_at,
--   history (node, event, detail each), checkpoint (absent: the last park's stays; ee retry resumes it)
-- Replies done (fence, dropped: the activities still in flight of it and of its cancelled
-- children, wakes: of its parent and of jobs granted the bots released, left: children beyond
-- CHILDREN_MAX, to cancel in steps of their own), unknown, finished (status) or stale (fence).
local j = A.job_id
local jk = K.job(j)
local cur = redis.call('HMGET', jk, 'fence', 'status')
if not cur[1] then return reply(C.unknown) end
if is_final(cur[2]) then return reply(C.finished, {status = cur[2]}) end
if A.fence and tonumber(cur[1]) ~= A.fence then return reply(C.stale, {fence = tonumber(cur[1])}) end
if A.checkpoint then redis.call('HSET', jk, 'checkpoint', A.checkpoint) end
local out = new_ending()
local fence = close_job(j, A.status, A.output, A.error, A.at, A.build, A.lease_at, A.history, out)
end_into_parent(j, A.status, A.output, A.error, A.at, A.lease_at, out.wakes)
cancel_children(A.at, A.build, A.lease_at, out)
return reply(C.done, {fence = fence, dropped = out.dropped, wakes = out.wakes, left = out.left})
