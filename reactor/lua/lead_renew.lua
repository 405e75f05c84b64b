-- Extend the caller's reactor lease; the prelude's fence check has refused a lease it lost.
redis.call('PEXPIRE', K.reactor_leader, A.ttl_ms)
return reply(C.ok)
