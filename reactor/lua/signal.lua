-- Deliver a signal: fire the job's wait for it, or keep it in the job's bounded inbox.
-- A: job_id, name, result (json), now, at, lease_at, inbox_max, inbox_ttl_s, inbox_max_bytes
-- Replies fired (wake), kept, unknown, finished (status), inbox_full, or over_budget (held:
-- the bytes the inbox holds).
local j = A.job_id
local jk = K.job(j)
local st = redis.call('HGET', jk, 'status')
if not st then return reply(C.unknown) end
if st == 'completed' or st == 'failed' or st == 'cancelled' then return reply(C.finished, {status = st}) end
local e = signal_waiter(j, A.name)
if e then
  local wake = fire(e, A.result, A.at, A.lease_at, 'signal ' .. A.name)
  local after = signal_waiter(j, A.name, e)  -- another branch waiting for the same name: the next signal's
  if after then redis.call('HSET', jk, 'signal:' .. A.name, after) else redis.call('HDEL', jk, 'signal:' .. A.name) end
  return reply(C.fired, {wake = wake})
end
-- Each item (inbox_encode in the prelude) carries its own expiry: it lives inbox_ttl_s from its
-- own arrival, whatever arrives after it; the key's TTL only follows its newest item (see
-- park.lua for the reading).
local inbox = K.job_inbox(j)
local now = tonumber(A.now)
local held = 0
for _, item in ipairs(redis.call('LRANGE', inbox, 0, -1)) do
  if inbox_expired(item, now) then redis.call('LREM', inbox, 1, item) else held = held + #item end
end
if redis.call('LLEN', inbox) >= A.inbox_max then return reply(C.inbox_full) end
if held + #A.name + #A.result > A.inbox_max_bytes then return reply(C.over_budget, {held = held}) end
redis.call('RPUSH', inbox, inbox_encode(A.name, string.format('%.3f', now + A.inbox_ttl_s), A.result))
redis.call('EXPIRE', inbox, A.inbox_ttl_s)
history(j, A.at, '', 'signal-kept', '', A.name)
return reply(C.kept)
