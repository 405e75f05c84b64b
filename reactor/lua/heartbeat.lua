-- A bot's heartbeat: keep it in its pool (and grant it to a waiting lock request when it just
-- became free there), or, when it says it is stopping, take it out.
-- A: bot, pool, worker, lease_until, stopping, now, at, lease_at, lease_s, held ([event, attempt]
--   pairs: the attempts the bot holds, claimed and not reported or reported just now)
-- Replies wakes: of jobs granted a bot, or whose attempts failed because a bot was lost.
local bot, pool = A.bot, A.pool
local bk = K.bot(bot)
local out = {}

-- Attempts failed when this bot was lost that it says it still holds go on (see lapse_attempt).
for i = 1, math.min(#A.held, 64) do
  local pair = A.held[i]
  if type(pair) == 'table' and type(pair[1]) == 'string' then
    local l = lapsed_attempt(pair[1], pair[2])
    if l and l.bot == bot then
      resume_lapsed(pair[1], l, A.at, 'attempt ' .. l.attempt .. ' goes on: bot ' .. bot ..
        ' is back and still holds it (its retry never ran)')
    end
  end
end

if A.stopping then
  take_bot_out(bot, 'stopped', tonumber(A.now), A.at, A.lease_at, out)
  return reply(C.wakes, {wakes = out})
end
local b = redis.call('HMGET', bk, 'alive', 'holder', 'pool')
if b[3] and b[3] ~= pool then
  redis.call('LREM', K.pool_free(b[3]), 0, bot)
  redis.call('SREM', K.pool_bots(b[3]), bot)
end
redis.call('HSET', bk, 'pool', pool, 'alive', '1', 'worker', A.worker, 'lease_until', A.lease_until,
  'last_seen', A.at, 'lease_s', A.lease_s)
if not b[2] then redis.call('HSET', bk, 'holder', '') end
redis.call('SADD', K.bots, bot)
redis.call('SADD', K.pool_bots(pool), bot)
redis.call('ZADD', K.bot_leases, A.lease_until, bot)
if b[1] ~= '1' or b[3] ~= pool then
  if not b[2] or b[2] == '' then
    redis.call('LREM', K.pool_free(pool), 0, bot)
    redis.call('RPUSH', K.pool_free(pool), bot)
  end
  redis.call('HDEL', bk, 'down_reason')
  grant(pool, A.at, A.lease_at, out)
end
return reply(C.wakes, {wakes = out})
