-- Apply one activity result. A duplicate, late or old-attempt result changes nothing.
-- ARGV: prefix, event, attempt, ok (1/0), result json, error text, now, at, lease_at, token (1/0)
--   token: '1' when the result carried the attempt's valid token (checked by the caller,
--   reactor/result_tokens.py), '0' when it carried none.
-- Returns {0, why} ignored, {-1, why} refused (not an activity, or no token for an attempt that
-- was sent with one), {2, attempt} retry scheduled, or a wake.
local e = ARGV[2]
local k = K.event(e)
local f = redis.call('HMGET', k, 'status', 'attempt', 'phase', 'kind', 'signed')
if not f[1] then return {0, 'unknown'} end
-- Results fire activities only: never a signal wait, a bot lock or a timer.
if f[4] ~= 'activity' then return {-1, 'not an activity event'} end
-- An attempt parked by a reactor that signs its tasks needs its token back; a tokenless result
-- is taken only for an event parked before tokens (a rolling upgrade).
if ARGV[10] ~= '1' and f[5] == '1' then return {-1, 'no attempt token'} end
if f[1] ~= 'parked' then return {0, 'late'} end
if f[3] == 'backoff' and f[2] ~= ARGV[3] then
  -- The attempt failed when its bot was lost and the next one has not run: its result counts.
  local l = lapsed_attempt(e, ARGV[3])
  if l then
    if ARGV[4] ~= '1' then
      redis.call('HDEL', k, 'lapsed')  -- it failed after all: the retry already scheduled stands
      return {0, 'late'}
    end
    resume_lapsed(e, l, ARGV[8], 'attempt ' .. l.attempt .. ' finished after bot ' .. tostring(l.bot) ..
      ' was taken for lost (its retry never ran)')
    return fire(e, ARGV[5], ARGV[8], ARGV[9], '')
  end
end
if f[2] ~= ARGV[3] then return {0, 'old-attempt'} end
if f[3] == 'backoff' then return {0, 'late'} end
if ARGV[4] == '1' then
  return fire(e, ARGV[5], ARGV[8], ARGV[9], '')
end
return fail_attempt(e, ARGV[5], tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[6])
