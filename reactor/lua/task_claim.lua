-- Claim an open human task for one person: recorded in the task and the job's history. Claiming
-- a task one has claimed already changes nothing; one claimed by another is refused.
-- A: task_id, by, at
-- Replies ok, claimed (by, at: the claim that stands), or a refusal of open_task.
local e = A.task_id
local refused, t = open_task(e)
if refused then return refused end
if t.claimed_by ~= '' then
  if t.claimed_by == A.by then return reply(C.ok) end
  return reply(C.claimed, {by = t.claimed_by, at = t.claimed_at})
end
redis.call('HSET', K.event(e), 'claimed_by', A.by, 'claimed_at', A.at)
history(t.job, A.at, t.node, 'task claimed', 'operator', 'by ' .. A.by)
return reply(C.ok)
