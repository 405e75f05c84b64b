-- Take the reactor lease when nobody holds it: a new fencing epoch from the counter, stored
-- with the instance id as the lease, SET NX PX (reactor/leader.py). Called unfenced.
local held = redis.call('GET', K.reactor_leader)
if held then
  return reply(C.held, {holder = held, ttl_ms = redis.call('PTTL', K.reactor_leader)})
end
local epoch = redis.call('INCR', K.reactor_epoch)
local lease = epoch .. ':' .. A.instance
redis.call('SET', K.reactor_leader, lease, 'NX', 'PX', A.ttl_ms)
return reply(C.taken, {epoch = epoch, lease = lease})
