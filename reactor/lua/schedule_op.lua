-- Pause, resume or delete a schedule. A paused schedule stays listed with the score +inf (never
-- due); resume sets its next fire time from now on (fire times while paused are not caught up);
-- delete removes it (the jobs it started are left as they are).
-- A: name, op, next (resume), at
-- Replies ok or unknown.
local sk = K.schedule(A.name)
if redis.call('EXISTS', sk) == 0 then return reply(C.unknown) end
if A.op == 'delete' then
  redis.call('DEL', sk)
  redis.call('ZREM', K.schedules, A.name)
  redis.call('SREM', K.schedules_buffered, A.name)
elseif A.op == 'pause' then
  redis.call('HSET', sk, 'paused', 1, 'updated', A.at)
  redis.call('HDEL', sk, 'next')
  redis.call('ZADD', K.schedules, '+inf', A.name)
elseif A.op == 'resume' and tonumber(A.next) then
  redis.call('HSET', sk, 'paused', 0, 'next', A.next, 'updated', A.at)
  redis.call('ZADD', K.schedules, A.next, A.name)
else
  error('schedule_op: op ' .. tostring(A.op) .. ' with next ' .. tostring(A.next))  -- before any write
end
return reply(C.ok)
