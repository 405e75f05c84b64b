-- Events: the secondary indexes of open events, and the one way an event goes (drop_event).

-- Secondary indexes of open events (parked, or fired and not consumed yet), like the per-kind
-- ones (`events:<kind>`): per activity, per lock pool and per bot, each a zset scored by the
-- time the event was parked, for `ee events --activity/--pool/--bot [--older-than]`. An event
-- enters them when parked (park.lua), its bot's index when granted a bot (grant below), and
-- leaves them all in drop_event, the only place an event goes.

local function index_event(e, score, activity, pool, bot)
  if activity and activity ~= '' then redis.call('ZADD', K.activity_events(activity), score, e) end
  if pool and pool ~= '' then redis.call('ZADD', K.pool_events(pool), score, e) end
  if bot and bot ~= '' then redis.call('ZADD', K.bot_events(bot), score, e) end
end


-- Remove an event and every trace of it: the global sets, its job's open and fired events.
local function drop_event(e)
  local k = K.event(e)
  local f = redis.call('HMGET', k, 'kind', 'pool', 'job', 'signal', 'activity', 'bot')
  if f[1] then
    redis.call('ZREM', K.event_index(f[1]), e)
    if f[5] then redis.call('ZREM', K.activity_events(f[5]), e) end
    if f[2] then redis.call('ZREM', K.pool_events(f[2]), e) end
    if f[6] and f[6] ~= '' then redis.call('ZREM', K.bot_events(f[6]), e) end
    if f[1] == 'bot_lock' and f[2] then pool_unqueue(f[2], e) end
    if f[1] == 'activity' then limit_release(e) end
    if f[1] == 'signal' and f[4] and f[3] then
      redis.call('HDEL', K.job(f[3]), 'signal:' .. f[4])
    end
    if f[1] == 'task' then unindex_task(e, redis.call('HGET', k, 'assignee')) end
  end
  redis.call('DEL', k)
  redis.call('SREM', K.job_events(event_job(e)), e)
  redis.call('ZREM', K.job_fired(event_job(e)), e)
  redis.call('ZREM', K.timers, e)
  redis.call('ZREM', K.dispatch, e)
  return f[1]
end
