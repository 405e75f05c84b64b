-- The fence, ahead of every other step (reactor/leader.py); uses K, C and reply only. A reactor's call names the lease it holds (ARGV[2], "<epoch>:<instance>"; the lease
-- key is the last of KEYS), and is refused, before anything is written, unless that lease is
-- the one stored: a reactor that lost its lease to a standby, or let it run out, changes
-- nothing. One GET per call. Tests and tools call unfenced (ARGV[2] empty).
if ARGV[2] ~= '' then
  local lease = redis.call('GET', K.reactor_leader)
  if lease ~= ARGV[2] then return reply(C.fenced, {holder = lease or ''}) end
end

