-- A human task's due time (called instead of timer.lua for a task whose on_due is escalate or
-- overdue; one that fails at due goes through timer.lua with its timeout result). Claims the
-- timer (one winner), then: escalate reassigns it to escalate_to (its claim released, out of
-- tasks:due: the new assignee has no due time), overdue marks it (it stays in tasks:due, whose
-- score is now past). A history entry either way.
-- A: event_id, now, at
-- Replies escalated (to), overdue, or nothing (handled already, or not open).
local e = A.event_id
local due = redis.call('ZSCORE', K.timers, e)
if not due or tonumber(due) > tonumber(A.now) then return reply(C.nothing) end
redis.call('ZREM', K.timers, e)
local k = K.event(e)
local f = redis.call('HMGET', k, 'status', 'kind', 'job', 'node', 'assignee', 'escalate_to', 'on_due')
if f[1] ~= 'parked' or f[2] ~= 'task' then return reply(C.nothing) end
if f[7] == 'escalate' and f[6] and f[6] ~= '' then
  local score = tonumber(A.now)
  if f[5] and f[5] ~= '' then
    score = tonumber(redis.call('ZSCORE', K.task_assignee(f[5]), e)) or score
    redis.call('ZREM', K.task_assignee(f[5]), e)
  end
  redis.call('ZADD', K.task_assignee(f[6]), score, e)
  redis.call('ZREM', K.task_due, e)
  redis.call('HSET', k, 'assignee', f[6], 'escalated_at', A.at)
  redis.call('HDEL', k, 'claimed_by', 'claimed_at')
  history(f[3], A.at, f[4], 'escalated', '', 'due: from ' .. (f[5] or '') .. ' to ' .. f[6])
  return reply(C.escalated, {to = f[6]})
end
redis.call('HSET', k, 'overdue', '1')
history(f[3], A.at, f[4], 'overdue', '', 'task due, assigned to ' .. (f[5] or ''))
return reply(C.overdue)
