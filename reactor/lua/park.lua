-- Record a park: fence check, consume fired events, drop the waits it gives up, register new
-- waits, store the checkpoint.
-- A: job_id, fence, checkpoint, now, at, build, lease_at, consumed (event ids), drop (event ids:
--   waits given up, parked or fired), waits (id, kind, timer_at ('' for none), dispatch, fields:
--   the event hash's fields, child: the child job to start for a child wait), history (node,
--   event, detail each), release (bots)
-- Replies parked (fence, undispatched, wakes, dropped, left): the undispatched are activities
-- whose first attempt already failed here (their bot is not alive) or waits in a limit's line
-- (phase waiting_capacity: timer.lua sends it when admitted), so no task goes out for them;
-- the wakes: this job's own when fired events remain after the park (they fired while its
-- executor worked, or here: a signal met in the inbox, a bot granted at once, an on-bot activity
-- failed for good because its bot is not alive, a child found finished), a new child job's
-- first, or another job granted a released bot; dropped: activities in flight among the dropped
-- waits and in the cancelled children (their workers are told to cancel); left: children beyond
-- CHILDREN_MAX to cancel in steps of their own.
-- Or unknown, finished (status), stale (fence), or foreign (event): a consumed or dropped event
-- that is not this job's (refused before anything is written: a park drops only its own job's).
local j = A.job_id
local jk = K.job(j)
local cur = redis.call('HMGET', jk, 'fence', 'status')
if not cur[1] then return reply(C.unknown) end
if is_final(cur[2]) then return reply(C.finished, {status = cur[2]}) end
if tonumber(cur[1]) ~= A.fence then return reply(C.stale, {fence = tonumber(cur[1])}) end
local fence = tonumber(cur[1]) + 1
local now = tonumber(A.now)
local at = A.at
local build = A.build
local wakes = {}
for _, list in ipairs({A.consumed, A.drop}) do
  for _, e in ipairs(list) do
    if event_job(e) ~= j then return reply(C.foreign, {event = e}) end
  end
end
fired_ids(j, 1)  -- an older build's wake_event into the fired record, before consuming
for _, e in ipairs(A.consumed) do drop_event(e) end
local ending = new_ending()
for _, e in ipairs(A.drop) do drop_noting(j, e, ending) end
if #ending.bots > 0 then release_and_grant(j, ending.bots, at, A.lease_at, ending.wakes) end
redis.call('ZREM', K.wakes, j)
redis.call('HDEL', jk, 'stranded', 'lapses')
redis.call('ZREM', K.stranded, j)
redis.call('HSET', jk, 'fence', fence, 'status', 'parked', 'checkpoint', A.checkpoint,
  'updated', at, 'build', build)
index_status(j, cur[2], 'parked')
if #A.release > 0 then release_and_grant(j, A.release, at, A.lease_at, wakes) end
local events = K.job_events(j)
local inboxed = {}
local grants = {}
local lost = {}
local children = {}
local queued = {}
-- The job's priority (start.lua, 5 when none), which its waits for scarce things carry.
local priority = tonumber(redis.call('HGET', jk, 'priority')) or 5
for _, w in ipairs(A.waits) do
  local e, kind = w.id, w.kind
  local k = K.event(e)
  local fields = {'job', j, 'kind', kind, 'status', 'parked', 'parked_at', at, 'priority', priority}
  for name, value in pairs(w.fields) do
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
  redis.call('HSET', k, unpack(fields))
  redis.call('SADD', events, e)
  redis.call('ZADD', K.event_index(kind), now, e)
  local by = w.fields
  index_event(e, now, by.activity, by.pool, by.bot)
  if kind == 'task' then index_task(e, now, by.assignee, w.timer_at) end
  if w.timer_at and w.timer_at ~= '' then
    redis.call('ZADD', K.timers, w.timer_at, e)
    redis.call('HSET', k, 'deadline', w.timer_at)
  end
  if w.dispatch then redis.call('ZADD', K.dispatch, now, e) end
  if kind == 'signal' then
    local name = by.signal
    -- The earliest parked wait for a name gets its next signal (signal_waiter): a later one
    -- of another branch leaves the field alone.
    if signal_waiter(j, name, e) == nil then redis.call('HSET', jk, 'signal:' .. name, e) end
    local inbox = K.job_inbox(j)
    local items = redis.call('LRANGE', inbox, 0, -1)
    for _, item in ipairs(items) do
      local iname, result, expires = inbox_item(item)
      if expires and expires <= now then
        redis.call('LREM', inbox, 1, item)  -- kept too long: dropped unread
      elseif iname == name then
        redis.call('LREM', inbox, 1, item)  -- each wait takes an item of its own
        inboxed[#inboxed + 1] = {e, result, name}
        break
      end
    end
  end
  if kind == 'bot_lock' then
    pool_enqueue(by.pool, e, priority)
    grants[#grants + 1] = by.pool
  end
  if kind == 'child' and w.child then children[#children + 1] = {e, w.child} end
  if kind == 'activity' then
    local bot = by.bot
    if bot and redis.call('HGET', K.bot(bot), 'alive') ~= '1' then
      lost[#lost + 1] = {e, bot}
    elseif by.limit and by.limit ~= '' and not limit_enter(e, now) then
      queued[#queued + 1] = e  -- over its limit: in line, no task goes out (lib/limits.lua)
    end
  end
end
for _, h in ipairs(A.history) do history(j, at, h.node, h.event, build, h.detail) end
for _, got in ipairs(inboxed) do
  wakes[#wakes + 1] = fire(got[1], got[2], at, A.lease_at, 'signal from inbox')
  local after = signal_waiter(j, got[3], got[1])
  if after then redis.call('HSET', jk, 'signal:' .. got[3], after) else redis.call('HDEL', jk, 'signal:' .. got[3]) end
end
for _, pool in ipairs(grants) do grant(pool, at, A.lease_at, wakes) end
for _, pair in ipairs(children) do start_child(j, pair[1], pair[2], now, at, build, A.lease_at, wakes) end
local undispatched = queued
for _, pair in ipairs(lost) do
  -- The job's bot is gone: this attempt fails at once, then retries or fails per its policy
  -- (a retry whose bot is still not alive fails too: see timer.lua).
  local msg = 'bot ' .. pair[2] .. ' is not alive (attempt 1)'
  redis.call('ZREM', K.dispatch, pair[1])
  local w = fail_attempt(pair[1], cjson.encode({ok = false, error = msg}), now, at, A.lease_at, msg)
  if w then wakes[#wakes + 1] = w end
  undispatched[#undispatched + 1] = pair[1]
end
cancel_children(at, build, A.lease_at, ending)
for _, w in ipairs(ending.wakes) do wakes[#wakes + 1] = w end
-- Events of this job still fired (before the park or in it): the job goes straight back under a
-- wake lease and one wake, read now, carries them all (its other wakes in the list are older).
local out = {}
for _, w in ipairs(wakes) do
  if w.job_id ~= j then out[#out + 1] = w end
end
sync_wake_event(j)
if redis.call('ZCARD', K.job_fired(j)) > 0 then
  redis.call('ZADD', K.wakes, A.lease_at, j)
  out[#out + 1] = wake_of(j)
end
return reply(C.parked, {fence = fence, undispatched = undispatched, wakes = out, dropped = ending.dropped,
  left = ending.left})
