-- Heartbeats travel on core NATS: while no reactor listens (it is down, or cut off from
-- NATS or Redis) they are lost, and the leases run out for the reactor's absence, not the
-- bots'. So once it listens again every lease runs at least one lease period (the bot's
-- own, from its heartbeats) from now: only heartbeats missed while listening lapse a bot.
-- One step for all bots, so no lapse pass sees some leases extended and others not.
-- A: now, default_lease_s. Replies count (n: leases extended).
local now, default = tonumber(A.now), A.default_lease_s
local leases = redis.call('ZRANGE', K.bot_leases, 0, -1, 'WITHSCORES')
local n = 0
for i = 1, #leases, 2 do
  local b, due = leases[i], tonumber(leases[i + 1])
  local period = tonumber(redis.call('HGET', K.bot(b), 'lease_s') or '') or default
  if due < now + period then
    redis.call('ZADD', K.bot_leases, now + period, b)
    redis.call('HSET', K.bot(b), 'lease_until', string.format('%.3f', now + period))
    n = n + 1
  end
end
return reply(C.count, {n = n})
