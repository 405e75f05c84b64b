-- Bots: releasing, granting and losing them.

local function release_bot(bot, j)
  local bk = K.bot(bot)
  if redis.call('HGET', bk, 'holder') == j then
    redis.call('HSET', bk, 'holder', '')
    local pool = redis.call('HGET', bk, 'pool')
    if pool and redis.call('HGET', bk, 'alive') == '1' then
      redis.call('RPUSH', K.pool_free(pool), bot)
    end
    return 1
  end
  return 0
end

-- Grant free bots of a pool to waiting lock requests, the most urgent first, then the earliest
-- (lib/queues.lua). Appends each resulting wake to the list `out` and returns how many.
local function grant(pool, at, lease_at, out)
  pool_queue_migrate(pool)
  local waiting = K.pool_queue(pool)
  local free = K.pool_free(pool)
  local granted = 0
  while redis.call('ZCARD', waiting) > 0 and redis.call('LLEN', free) > 0 do
    local bot = redis.call('LPOP', free)
    local bk = K.bot(bot)
    local b = redis.call('HMGET', bk, 'alive', 'holder', 'pool')
    if b[1] == '1' and (not b[2] or b[2] == '') and b[3] == pool then
      local e = redis.call('ZPOPMIN', waiting)[1]
      local f = redis.call('HMGET', K.event(e), 'status', 'job')
      if f[1] == 'parked' then
        local j = f[2]
        redis.call('HSET', bk, 'holder', j, 'held_since', at)
        local held = redis.call('HGET', K.job(j), 'bots')
        if held and held ~= '' then held = held .. ',' .. bot else held = bot end
        redis.call('HSET', K.job(j), 'bots', held)
        redis.call('HSET', K.event(e), 'bot', bot)
        local parked = redis.call('ZSCORE', K.event_index('bot_lock'), e)
        if parked then redis.call('ZADD', K.bot_events(bot), parked, e) end
        out[#out + 1] = fire(e, cjson.encode({ok = true, output = {bot = bot, pool = pool}}), at, lease_at,
          'granted bot ' .. bot)
        granted = granted + 1
      else
        -- A stale request: give the bot back and look at the next one.
        redis.call('LPUSH', free, bot)
      end
    end
  end
  return granted
end

-- Release the listed bots (a list, or a comma separated text) held by job j and grant them
-- onwards; wakes go to the list `out`.
local function release_and_grant(j, bots, at, lease_at, out)
  local n = 0
  local keep = {}
  local release = {}
  if type(bots) == 'table' then
    for _, bot in ipairs(bots) do release[bot] = true end
  else
    for bot in string.gmatch(bots, '[^,]+') do release[bot] = true end
  end
  local held = redis.call('HGET', K.job(j), 'bots') or ''
  local pools = {}
  for bot in string.gmatch(held, '[^,]+') do
    if release[bot] then
      if release_bot(bot, j) == 1 then
        local pool = redis.call('HGET', K.bot(bot), 'pool')
        if pool then pools[#pools + 1] = pool end
      end
    else
      keep[#keep + 1] = bot
    end
  end
  -- Written before granting: a grant may give a bot back to this very job (another of its waits).
  redis.call('HSET', K.job(j), 'bots', table.concat(keep, ','))
  for _, pool in ipairs(pools) do n = n + grant(pool, at, lease_at, out) end
  return n
end

-- Take a bot out of its pool (its heartbeats stopped, or its lease lapsed). The holder's
-- activities running on it can no longer finish: their attempt fails now; the wakes of those
-- that failed for good go to the list `out`.
local function take_bot_out(bot, reason, now, at, lease_at, out)
  local bk = K.bot(bot)
  local b = redis.call('HMGET', bk, 'pool', 'holder', 'alive')
  redis.call('HSET', bk, 'alive', '0', 'down_reason', reason)
  redis.call('ZREM', K.bot_leases, bot)
  if b[1] then redis.call('LREM', K.pool_free(b[1]), 0, bot) end
  if b[2] and b[2] ~= '' then
    for _, e in ipairs(redis.call('SMEMBERS', K.job_events(b[2]))) do
      local f = redis.call('HMGET', K.event(e), 'kind', 'status', 'bot', 'phase')
      if f[1] == 'activity' and f[2] == 'parked' and f[3] == bot and f[4] == 'running' then
        local msg = 'bot ' .. bot .. ' lost: ' .. reason
        local w = lapse_attempt(e, bot, cjson.encode({ok = false, error = msg}), now, at, lease_at, msg)
        if w then out[#out + 1] = w end
      end
    end
  end
end
