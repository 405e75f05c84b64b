-- Bot pool bookkeeping. ARGV: prefix, mode, bot, at, lease_at (wake), ...
--   heartbeat: pool, worker, lease_until, stopping (1/0), now, lease_s, held (JSON [[event, attempt], ...]:
--              the attempts the bot holds, claimed and not reported or reported just now)
--   lapse: now                 (the bot's lease ran out)
--   grace: now, default lease_s (bot ''; the reactor may have missed heartbeats: see below)
-- Returns {n, wake items...}: wakes for jobs granted a bot or failed because a bot was lost;
-- grace returns {number of leases extended}.
local mode, bot, at, lease_at = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local bk = K.bot(bot)
local out = {0}

local function take_out(reason)
  local b = redis.call('HMGET', bk, 'pool', 'holder', 'alive')
  redis.call('HSET', bk, 'alive', '0', 'down_reason', reason)
  redis.call('ZREM', K.bot_leases, bot)
  if b[1] then redis.call('LREM', K.pool_free(b[1]), 0, bot) end
  if b[2] and b[2] ~= '' then
    -- The holder's activities on this bot can no longer finish: fail their attempt now.
    local events = redis.call('SMEMBERS', K.job_events(b[2]))
    for _, e in ipairs(events) do
      local f = redis.call('HMGET', K.event(e), 'kind', 'status', 'bot', 'phase')
      if f[1] == 'activity' and f[2] == 'parked' and f[3] == bot and f[4] == 'running' then
        local msg = 'bot ' .. bot .. ' lost: ' .. reason
        local w = lapse_attempt(e, bot, cjson.encode({ok = false, error = msg}), tonumber(ARGV[10] or ARGV[6]),
          at, lease_at, msg)
        if w[1] == 1 then
          for _, v in ipairs(w) do out[#out + 1] = v end
          out[1] = out[1] + 1
        end
      end
    end
  end
end

-- Attempts failed when this bot was lost that it says it still holds go on (see lapse_attempt).
local function resume_held(held)
  local ok, pairs_ = pcall(cjson.decode, held or '')
  if not ok or type(pairs_) ~= 'table' then return end
  for i = 1, math.min(#pairs_, 64) do
    local pair = pairs_[i]
    if type(pair) == 'table' and type(pair[1]) == 'string' then
      local l = lapsed_attempt(pair[1], pair[2])
      if l and l.bot == bot then
        resume_lapsed(pair[1], l, at, 'attempt ' .. l.attempt .. ' goes on: bot ' .. bot ..
          ' is back and still holds it (its retry never ran)')
      end
    end
  end
end

if mode == 'heartbeat' then
  local pool, worker, lease_until, stopping, now = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
  resume_held(ARGV[12])
  if stopping == '1' then
    take_out('stopped')
    return out
  end
  local b = redis.call('HMGET', bk, 'alive', 'holder', 'pool')
  if b[3] and b[3] ~= pool then
    redis.call('LREM', K.pool_free(b[3]), 0, bot)
    redis.call('SREM', K.pool_bots(b[3]), bot)
  end
  redis.call('HSET', bk, 'pool', pool, 'alive', '1', 'worker', worker, 'lease_until', lease_until,
    'last_seen', at)
  if ARGV[11] then redis.call('HSET', bk, 'lease_s', ARGV[11]) end
  if not b[2] then redis.call('HSET', bk, 'holder', '') end
  redis.call('SADD', K.bots, bot)
  redis.call('SADD', K.pool_bots(pool), bot)
  redis.call('ZADD', K.bot_leases, lease_until, bot)
  if b[1] ~= '1' or b[3] ~= pool then
    if not b[2] or b[2] == '' then
      redis.call('LREM', K.pool_free(pool), 0, bot)
      redis.call('RPUSH', K.pool_free(pool), bot)
    end
    redis.call('HDEL', bk, 'down_reason')
    out[1] = out[1] + grant(pool, at, lease_at, out)
  end
  return out
end

if mode == 'lapse' then
  local due = redis.call('ZSCORE', K.bot_leases, bot)
  if not due or tonumber(due) > tonumber(ARGV[6]) then return out end
  take_out('lease lapsed')
  return out
end

if mode == 'grace' then
  -- Heartbeats travel on core NATS: while no reactor listens (it is down, or cut off from
  -- NATS or Redis) they are lost, and the leases run out for the reactor's absence, not the
  -- bots'. So once it listens again every lease runs at least one lease period (the bot's
  -- own, from its heartbeats) from now: only heartbeats missed while listening lapse a bot.
  -- One step for all bots, so no lapse pass sees some leases extended and others not.
  local now, default = tonumber(ARGV[6]), tonumber(ARGV[7])
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
  return {n}
end

if mode == 'grant' then
  local pool = ARGV[6]
  out[1] = grant(pool, at, lease_at, out)
  return out
end
return out
