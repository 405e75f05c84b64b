-- Apply one activity result. A duplicate, late or old-attempt result changes nothing.
-- ARGV: prefix, event, attempt, ok (1/0), result json, error text, now, at, lease_at
-- Returns {0, why} ignored, {2, attempt} retry scheduled, or a wake.
local e = ARGV[2]
local k = ekey(e)
local f = redis.call('HMGET', k, 'status', 'attempt', 'phase')
if not f[1] then return {0, 'unknown'} end
if f[1] ~= 'parked' then return {0, 'late'} end
if f[2] ~= ARGV[3] then return {0, 'old-attempt'} end
if f[3] == 'backoff' then return {0, 'late'} end
if ARGV[4] == '1' then
  return fire(e, ARGV[5], ARGV[8], ARGV[9], '')
end
return fail_attempt(e, ARGV[5], tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[6])
