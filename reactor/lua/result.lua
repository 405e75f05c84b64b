-- Apply one activity result. A duplicate, late or old-attempt result changes nothing.
-- A: event_id, attempt, ok, result (json), error, now, at, lease_at, token, business
--   token: true when the result carried the attempt's valid token (checked by the caller,
--   reactor/result_tokens.py), false when it carried none.
--   business: a business error (the worker SDK's BusinessError, reactor/error_classes.py): it
--   is never retried, so it fires at once, attempts left or not.
-- Replies ignored (reason), refused (reason: not an activity, or no token for an attempt that
-- was sent with one), retry (attempt) or fired (wake).
local e = A.event_id
local k = K.event(e)
local f = redis.call('HMGET', k, 'status', 'attempt', 'phase', 'kind', 'signed')
if not f[1] then return reply(C.ignored, {reason = 'unknown'}) end
-- Results fire activities only: never a signal wait, a bot lock or a timer.
if f[4] ~= 'activity' then return reply(C.refused, {reason = 'not an activity event'}) end
-- An attempt parked by a reactor that signs its tasks needs its token back; a tokenless result
-- is taken only for an event parked before tokens (a rolling upgrade).
if not A.token and f[5] == '1' then return reply(C.refused, {reason = 'no attempt token'}) end
if f[1] ~= 'parked' then return reply(C.ignored, {reason = 'late'}) end
if f[3] == 'backoff' and tonumber(f[2]) ~= A.attempt then
  -- The attempt failed when its bot was lost and the next one has not run: its result counts.
  local l = lapsed_attempt(e, A.attempt)
  if l then
    if not A.ok and not A.business then
      redis.call('HDEL', k, 'lapsed')  -- it failed after all: the retry already scheduled stands
      return reply(C.ignored, {reason = 'late'})
    end
    resume_lapsed(e, l, A.at, 'attempt ' .. l.attempt .. ' finished after bot ' .. tostring(l.bot) ..
      ' was taken for lost (its retry never ran)')
    return reply(C.fired, {wake = fire(e, A.result, A.at, A.lease_at, '')})
  end
end
if tonumber(f[2]) ~= A.attempt then return reply(C.ignored, {reason = 'old-attempt'}) end
if f[3] == 'backoff' then return reply(C.ignored, {reason = 'late'}) end
-- An attempt waiting for a limit's slot was never sent: no result of it can be its own.
if f[3] == 'waiting_capacity' then return reply(C.ignored, {reason = 'late'}) end
if A.ok then
  return reply(C.fired, {wake = fire(e, A.result, A.at, A.lease_at, '')})
end
if A.business then
  return reply(C.fired, {wake = fire(e, A.result, A.at, A.lease_at, 'business error (never retried): ' .. A.error)})
end
local w, attempt = fail_attempt(e, A.result, tonumber(A.now), A.at, A.lease_at, A.error)
if w then return reply(C.fired, {wake = w}) end
return reply(C.retry, {attempt = attempt})
