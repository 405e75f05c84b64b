-- Child jobs (a `call` wait, kind `child`): the parent's park creates the child, the child's end
-- fires the parent's wait, the end of a parent (or a drop of the wait) cancels the child and its
-- own children. A child's keys are another job's, so another hash slot: one of the documented
-- cross-slot steps (docs/architecture.md, Redis Cluster).

-- The result a child's end gives its parent's wait (JSON text). The output is the JSON the
-- child's record holds, written by the reactor (finish.lua): put in as it is, never re-encoded.
local function child_result(c, status, output, err)
  if status == 'completed' then
    if not output or output == '' then output = 'null' end
    return '{"ok":true,"output":' .. output .. '}'
  end
  if status == 'cancelled' then
    return cjson.encode({ok = false, error = 'child job ' .. c .. ' was cancelled'})
  end
  return cjson.encode({ok = false, error = 'child job ' .. c .. ' failed: ' .. (err or '')})
end

-- The child wait e of job j (just registered by its park): start child job `c` (a table: job_id,
-- digest, name, version, checkpoint, input) under a wake lease, once. A child that exists is
-- this wait's: a finished one fires it at once with its outcome, a running one ends into it now
-- (its `parent_event`, a park after a stale one parks the wait again). A failed or cancelled
-- child of a parent run again since it ended (ee retry: the parent's `retries` passed the
-- child's `parent_retries`) runs again too, from where it ended, as a retried job does. A job
-- of that id that is not this job's child, or a workflow not stored under the digest, fails
-- the wait at once. Wakes (the child's first, or the parent's) go to `wakes`.
local function start_child(j, e, c, now, at, build, lease_at, wakes)
  local cj = c.job_id
  local ck = K.job(cj)
  local cur = redis.call('HMGET', ck, 'status', 'parent', 'output', 'error', 'parent_retries')
  local retries = tonumber(redis.call('HGET', K.job(j), 'retries')) or 0
  if cur[1] then
    if cur[2] ~= j then
      local msg = 'job ' .. cj .. ' exists and is not a child of job ' .. j
      wakes[#wakes + 1] = fire(e, cjson.encode({ok = false, error = msg}), at, lease_at, msg)
    elseif (cur[1] == 'failed' or cur[1] == 'cancelled') and retries > (tonumber(cur[5]) or 0) then
      run_again(cj, cur[1], at, lease_at)
      redis.call('HSET', ck, 'parent_event', e, 'parent_retries', retries)
      history(cj, at, '', 'retried', build, 'with its parent job ' .. j .. ' (retry ' .. retries .. ')')
      wakes[#wakes + 1] = wake_of(cj)
    elseif is_final(cur[1]) then
      wakes[#wakes + 1] = fire(e, child_result(cj, cur[1], cur[3], cur[4]), at, lease_at,
        'child job ' .. cj .. ' ' .. cur[1])
    else
      redis.call('HSET', ck, 'parent_event', e)
    end
    return
  end
  if redis.call('EXISTS', K.workflow(c.digest)) == 0 then
    local msg = 'child job ' .. cj .. ' not started: workflow ' .. c.name .. ' v' .. c.version ..
      ' (digest ' .. c.digest .. ') is not stored; deploy it'
    wakes[#wakes + 1] = fire(e, cjson.encode({ok = false, error = msg}), at, lease_at, msg)
    return
  end
  redis.call('HSET', ck, 'status', 'running', 'name', c.name, 'version', c.version, 'digest', c.digest,
    'fence', 0, 'checkpoint', c.checkpoint, 'input', c.input, 'created', at, 'updated', at, 'build', build,
    'parent', j, 'parent_event', e)
  if retries > 0 then redis.call('HSET', ck, 'parent_retries', retries) end
  local priority = redis.call('HGET', K.job(j), 'priority')
  if priority then redis.call('HSET', ck, 'priority', priority) end  -- a call's child inherits it
  redis.call('ZADD', K.jobs, now, cj)
  index_status(cj, nil, 'running')
  redis.call('ZADD', K.wakes, lease_at, cj)
  history(cj, at, '', 'created', build, c.name .. ' v' .. c.version .. ' (child of job ' .. j .. ')')
  -- Nobody holds the child yet (a submitted job comes with its message): offered now.
  wakes[#wakes + 1] = wake_of(cj)
end

-- Job c just ended with `status`: the parent's wait for it, if still parked, fires.
local function end_into_parent(c, status, output, err, at, lease_at, wakes)
  local f = redis.call('HMGET', K.job(c), 'parent', 'parent_event')
  local p, pe = f[1], f[2]
  if not p or p == '' or not pe or pe == '' or event_job(pe) ~= p then return end
  local ef = redis.call('HMGET', K.event(pe), 'status', 'kind', 'child')
  if ef[1] == 'parked' and ef[2] == 'child' and ef[3] == c then
    wakes[#wakes + 1] = fire(pe, child_result(c, status, output, err), at, lease_at, 'child job ' .. c .. ' ' .. status)
  end
end

-- Cancel the child jobs in out.children (their parents' waits for them are gone, and no other
-- wait of the parent took them over) and, through
-- the same queue, their own children: at most CHILDREN_MAX jobs in one step, the ones beyond
-- go to out.left (the caller cancels each of those in a step of its own).
local function cancel_children(at, build, lease_at, out)
  local i, n = 1, 0
  while i <= #out.children do
    local c, p = out.children[i][1], out.children[i][2]
    i = i + 1
    local f = redis.call('HMGET', K.job(c), 'status', 'parent', 'parent_event')
    -- Not when a wait of the parent still waits for it (the same park parked it again).
    local waited = f[3] and redis.call('HGET', K.event(f[3]), 'status') == 'parked'
    if f[1] and not is_final(f[1]) and f[2] == p and not waited then
      if n >= CHILDREN_MAX then
        out.left[#out.left + 1] = c
      else
        n = n + 1
        local why = 'parent job ' .. p .. ' no longer waits for it'
        close_job(c, 'cancelled', 'null', why, at, build, lease_at, {{node = '', event = 'cancelled', detail = why}},
          out)
      end
    end
  end
end
