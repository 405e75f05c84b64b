-- Complete an open human task with data (checked against its form by the caller): the
-- completion is recorded (task-done:{J}~F.i, kept for the retention time, and the job's
-- history), the task leaves the inbox, and its wait fires with the data as output.
-- A: task_id, by, data (json), result (json: the wait's result), at, lease_at
-- Replies fired (wake), ok (this very completion was recorded already: a request sent again after
-- its reply was lost), claimed (by, at: another's claim), or a refusal of open_task.
local e = A.task_id
local done = redis.call('HMGET', K.task_done(e), 'completed_by', 'data')
if done[1] and done[1] == A.by and done[2] == A.data then return reply(C.ok) end
local refused, t = open_task(e)
if refused then return refused end
if t.claimed_by ~= '' and t.claimed_by ~= A.by then
  return reply(C.claimed, {by = t.claimed_by, at = t.claimed_at})
end
local dk = K.task_done(e)
redis.call('HSET', dk, 'job', t.job, 'node', t.node, 'title', t.title, 'assignee', t.assignee,
  'completed_by', A.by, 'completed_at', A.at, 'data', A.data)
if RETENTION_MS > 0 then redis.call('PEXPIRE', dk, RETENTION_MS) end
unindex_task(e, t.assignee)
history(t.job, A.at, t.node, 'task completed', 'operator', 'by ' .. A.by)
return reply(C.fired, {wake = fire(e, A.result, A.at, A.lease_at, 'task completed by ' .. A.by)})
