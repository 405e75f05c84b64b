-- Extend the caller's reactor lease, or store it again when it ran out and nobody took it
-- since; lib/fence.lua has refused a lease another reactor took.
redis.call('SET', K.reactor_leader, ARGV[2], 'PX', A.ttl_ms)
return reply(C.ok)
