-- Set a limit's settings, all of them at once (a cap not given is lifted), or delete them (op
-- 'delete': unlimited from now). Either takes effect for the next admission: the head of each
-- of its keys' lines is nudged (lib/limits.lua), so that a raised or lifted cap lets more go.
-- A: op (set|delete), name, concurrency (0: none), rate (0: none), period_s, at
-- Replies limit_set (existed: whether it had settings before).
local name = A.name
local lk = K.limit(name)
local existed = redis.call('EXISTS', lk) == 1
redis.call('DEL', lk)
if A.op == 'set' then
  local fields = {'updated', A.at}
  if A.concurrency > 0 then
    fields[#fields + 1] = 'concurrency'
    fields[#fields + 1] = A.concurrency
  end
  if A.rate > 0 then
    fields[#fields + 1] = 'rate'
    fields[#fields + 1] = A.rate
    fields[#fields + 1] = 'period_s'
    fields[#fields + 1] = tostring(A.period_s)
  end
  redis.call('HSET', lk, unpack(fields))
  redis.call('SADD', K.limits, name)
end
for _, key in ipairs(redis.call('SMEMBERS', K.limit_keys(name))) do limit_nudge(name, key) end
if A.op == 'delete' and redis.call('SCARD', K.limit_keys(name)) == 0 then redis.call('SREM', K.limits, name) end
return reply(C.limit_set, {existed = existed})
