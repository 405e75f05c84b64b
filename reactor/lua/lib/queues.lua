-- Queues of waiters for a scarce thing (a bot of a pool, a slot of a limit): zsets scored by
-- priority, then arrival, so that ZPOPMIN serves the most urgent, then the earliest.
-- Arrival is a counter (`queue_seq`), not a clock: ties never depend on two reactors' clocks,
-- and the script stays replicable.

local PRIORITY_SPAN = 1099511627776  -- 2^40 arrivals per priority: exact in a double

local function queue_score(priority)
  local p = tonumber(priority) or 5
  if p < 1 or p > 9 then p = 5 end
  return p * PRIORITY_SPAN + redis.call('INCR', K.queue_seq)
end

-- A pool's lock requests were a FIFO list (pool_waiting) before this queue: a reactor upgraded
-- with requests in line moves them over, in their order and with their jobs' priorities, the
-- first time the pool is touched.
local function pool_queue_migrate(pool)
  local old = K.pool_waiting(pool)
  if redis.call('EXISTS', old) == 0 then return end
  local q = K.pool_queue(pool)
  for _, e in ipairs(redis.call('LRANGE', old, 0, -1)) do
    if redis.call('ZSCORE', q, e) == false then
      local j = redis.call('HGET', K.event(e), 'job')
      local p = j and redis.call('HGET', K.job(j), 'priority') or nil
      redis.call('ZADD', q, queue_score(p), e)
      redis.call('HSET', K.event(e), 'priority', tonumber(p) or 5)
    end
  end
  redis.call('DEL', old)
end

local function pool_enqueue(pool, e, priority)
  pool_queue_migrate(pool)
  redis.call('ZADD', K.pool_queue(pool), queue_score(priority), e)
end

local function pool_unqueue(pool, e)
  redis.call('ZREM', K.pool_queue(pool), e)
  redis.call('LREM', K.pool_waiting(pool), 0, e)
end
