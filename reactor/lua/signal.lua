-- Deliver a signal: fire the job's wait for it, or keep it in the job's bounded inbox.
-- ARGV: prefix, job, name, result json, now, at, lease_at, inbox_max, inbox_ttl_s, inbox_max_bytes
-- Returns a wake, {3} kept in the inbox, {-1} unknown job, {-2, status} finished, {-4} inbox full,
-- {-7, bytes held} inbox over its byte budget.
local j = ARGV[2]
local jk = K.job(j)
local st = redis.call('HGET', jk, 'status')
if not st then return {-1} end
if st == 'completed' or st == 'failed' or st == 'cancelled' then return {-2, st} end
local e = redis.call('HGET', jk, 'signal:' .. ARGV[3])
if e and redis.call('HGET', K.event(e), 'status') == 'parked' then
  redis.call('HDEL', jk, 'signal:' .. ARGV[3])
  return fire(e, ARGV[4], ARGV[6], ARGV[7], 'signal ' .. ARGV[3])
end
-- Each item (inbox_encode in the prelude) carries its own expiry: it lives inbox_ttl_s from its
-- own arrival, whatever arrives after it; the key's TTL only follows its newest item (see
-- park.lua for the reading).
local inbox = K.job_inbox(j)
local now = tonumber(ARGV[5])
local held = 0
for _, item in ipairs(redis.call('LRANGE', inbox, 0, -1)) do
  if inbox_expired(item, now) then redis.call('LREM', inbox, 1, item) else held = held + #item end
end
if redis.call('LLEN', inbox) >= tonumber(ARGV[8]) then return {-4} end
local budget = tonumber(ARGV[10])  -- absent: no byte budget (a caller from before it)
if budget and held + #ARGV[3] + #ARGV[4] > budget then return {-7, held} end
redis.call('RPUSH', inbox, inbox_encode(ARGV[3], string.format('%.3f', now + tonumber(ARGV[9])), ARGV[4]))
redis.call('EXPIRE', inbox, ARGV[9])
history(j, ARGV[6], '', 'signal-kept', '', ARGV[3])
return {3}
