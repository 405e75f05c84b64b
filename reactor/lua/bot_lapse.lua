-- A bot whose heartbeat lease ran out: out of its pool, and the attempts of its holder's
-- activities running on it fail. A: bot, now, at, lease_at. Replies wakes.
local due = redis.call('ZSCORE', K.bot_leases, A.bot)
local out = {}
if due and tonumber(due) <= tonumber(A.now) then
  take_bot_out(A.bot, 'lease lapsed', tonumber(A.now), A.at, A.lease_at, out)
end
return reply(C.wakes, {wakes = out})
