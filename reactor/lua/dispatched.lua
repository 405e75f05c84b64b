-- Activity tasks JetStream acknowledged (or that are not to be sent): their events leave the
-- dispatch set, each only while it still waits on the attempt that was sent. So a reactor that
-- lost its lease cannot take out an event another reactor put back for its next attempt (it is
-- fenced anyway), and a late acknowledgement of attempt 1 leaves attempt 2 to the sweep.
-- A: sent = {{event_id, attempt}, ...}. Replies count (events taken out).
local n = 0
for _, s in ipairs(A.sent) do
  local e, attempt = s[1], s[2]
  local f = redis.call('HMGET', K.event(e), 'status', 'attempt')
  if f[1] ~= 'parked' or tonumber(f[2]) == attempt then
    n = n + redis.call('ZREM', K.dispatch, e)
  end
end
return reply(C.count, {n = n})
