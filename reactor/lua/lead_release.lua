-- A stopping reactor gives its lease up, so that a standby takes over at once; the prelude's
-- fence check has refused a lease it no longer holds (another reactor's is left alone).
redis.call('DEL', K.reactor_leader)
return reply(C.ok)
