-- Record a park: fence check, consume fired events, register new waits, store the checkpoint.
-- ARGV: prefix, job, fence, checkpoint, now, at, build, lease_at, ncons, nwait, nhist, release csv,
--   consumed ids..., per wait: id, kind, timer_at ('' for none), dispatch (0/1), nfields, fields...,
--   per history entry: node, event, detail
-- Returns {fence, n, undispatched ids (n)..., wakes...}: the undispatched are activities whose
-- first attempt already failed here (their bot is not alive), so no task goes out for them;
-- 9 items per wake: a signal met in the inbox, a bot granted at once, an on-bot activity failed
-- for good because its bot is not alive, or another job granted a released bot.
-- Or {-1} unknown, {-2, status} finished, {-3, fence} stale, {-6, event} a consumed event that is
-- not this job's (refused before anything is written: a park drops only its own job's events).
local j = ARGV[2]
local jk = K.job(j)
local cur = redis.call('HMGET', jk, 'fence', 'status')
if not cur[1] then return {-1} end
if cur[2] == 'completed' or cur[2] == 'failed' or cur[2] == 'cancelled' then return {-2, cur[2]} end
if tonumber(cur[1]) ~= tonumber(ARGV[3]) then return {-3, cur[1]} end
local fence = tonumber(cur[1]) + 1
local now = tonumber(ARGV[5])
local at = ARGV[6]
local build = ARGV[7]
local ncons, nwait, nhist = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local i = 13
local out = {}
for n = 0, ncons - 1 do
  local e = ARGV[i + n]
  if event_job(e) ~= j then return {-6, e} end
end
for _ = 1, ncons do
  drop_event(ARGV[i])
  i = i + 1
end
redis.call('ZREM', K.wakes, j)
redis.call('HDEL', jk, 'wake_event', 'stranded', 'lapses')
redis.call('ZREM', K.stranded, j)
redis.call('HSET', jk, 'fence', fence, 'status', 'parked', 'checkpoint', ARGV[4],
  'updated', at, 'build', build)
index_status(j, cur[2], 'parked')
if ARGV[12] ~= '' then release_and_grant(j, ARGV[12], at, ARGV[8], out) end
local events = K.job_events(j)
local inboxed = nil
local grants = {}
local lost = {}
for _ = 1, nwait do
  local e, kind, timer_at, dispatch, nf = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  i = i + 5
  local k = K.event(e)
  local fields = {}
  for f = 0, nf - 1 do fields[#fields + 1] = ARGV[i + f] end
  i = i + nf
  redis.call('HSET', k, 'job', j, 'kind', kind, 'status', 'parked', 'parked_at', at, unpack(fields))
  redis.call('SADD', events, e)
  redis.call('ZADD', K.event_index(kind), now, e)
  local by = {}
  for f = 1, #fields - 1, 2 do by[fields[f]] = fields[f + 1] end
  index_event(e, now, by.activity, by.pool, by.bot)
  if timer_at ~= '' then
    redis.call('ZADD', K.timers, timer_at, e)
    redis.call('HSET', k, 'deadline', timer_at)
  end
  if dispatch == '1' then redis.call('ZADD', K.dispatch, now, e) end
  if kind == 'signal' then
    local name = redis.call('HGET', k, 'signal')
    redis.call('HSET', jk, 'signal:' .. name, e)
    local inbox = K.job_inbox(j)
    local items = redis.call('LRANGE', inbox, 0, -1)
    for _, item in ipairs(items) do
      local iname, result, expires = inbox_item(item)
      if expires and expires <= now then
        redis.call('LREM', inbox, 1, item)  -- kept too long: dropped unread
      elseif iname == name then
        redis.call('LREM', inbox, 1, item)
        inboxed = {e, result}
        break
      end
    end
  end
  if kind == 'bot_lock' then
    local pool = redis.call('HGET', k, 'pool')
    redis.call('RPUSH', K.pool_waiting(pool), e)
    grants[#grants + 1] = pool
  end
  if kind == 'activity' then
    local bot = redis.call('HGET', k, 'bot')
    if bot and redis.call('HGET', K.bot(bot), 'alive') ~= '1' then
      lost[#lost + 1] = {e, bot}
    end
  end
end
for _ = 1, nhist do
  history(j, at, ARGV[i], ARGV[i + 1], build, ARGV[i + 2])
  i = i + 3
end
local function append(w) for _, v in ipairs(w) do out[#out + 1] = v end end
if inboxed then
  redis.call('HDEL', jk, 'signal:' .. redis.call('HGET', K.event(inboxed[1]), 'signal'))
  append(fire(inboxed[1], inboxed[2], at, ARGV[8], 'signal from inbox'))
end
for _, pool in ipairs(grants) do grant(pool, at, ARGV[8], out) end
for _, pair in ipairs(lost) do
  -- The job's bot is gone: this attempt fails at once, then retries or fails per its policy
  -- (a retry whose bot is still not alive fails too: see timer.lua).
  local msg = 'bot ' .. pair[2] .. ' is not alive (attempt 1)'
  redis.call('ZREM', K.dispatch, pair[1])
  local w = fail_attempt(pair[1], cjson.encode({ok = false, error = msg}), now, at, ARGV[8], msg)
  if w[1] == 1 then append(w) end
end
table.insert(out, 1, #lost)
for n = #lost, 1, -1 do table.insert(out, 2, lost[n][1]) end
table.insert(out, 1, fence)
return out
