-- Give an open human task to another user or group: it moves to their inbox, and any claim is
-- released (the new assignee claims it afresh). Recorded in the job's history.
-- A: task_id, to, by, now, at
-- Replies ok, or a refusal of open_task.
local e = A.task_id
local refused, t = open_task(e)
if refused then return refused end
local score = tonumber(A.now)
if t.assignee ~= '' then
  score = tonumber(redis.call('ZSCORE', K.task_assignee(t.assignee), e)) or score
  redis.call('ZREM', K.task_assignee(t.assignee), e)
end
redis.call('ZADD', K.task_assignee(A.to), score, e)
redis.call('HSET', K.event(e), 'assignee', A.to)
redis.call('HDEL', K.event(e), 'claimed_by', 'claimed_at')
history(t.job, A.at, t.node, 'task reassigned', 'operator', 'from ' .. t.assignee .. ' to ' .. A.to .. ' by ' .. A.by)
return reply(C.ok)
