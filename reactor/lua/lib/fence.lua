-- The fence, ahead of every other step (reactor/leader.py); uses K, C and reply only. A reactor's
-- call names the lease it holds (ARGV[2], "<epoch>:<instance>"; the lease and epoch keys are the
-- last of KEYS) and is refused, before anything is written, unless that lease is the one stored,
-- or no lease is stored and none was taken since (the epoch counter is still the caller's: its
-- lease ran out while it was paused or Redis was away, and no standby took over). So a reactor
-- whose lease another took changes nothing. One GET per call (two when no lease is stored).
-- Tests and tools call unfenced (ARGV[2] empty).
if ARGV[2] ~= '' then
  local lease = redis.call('GET', K.reactor_leader)
  if lease ~= ARGV[2] then
    if lease or redis.call('GET', K.reactor_epoch) ~= string.match(ARGV[2], '^(%d+):') then
      return reply(C.fenced, {holder = lease or ''})
    end
  end
end
