-- Jobs: a field read by HMGET, the job of an event, history, stranded, the status indexes, retention.

-- A field as read by HMGET: a missing one (false) becomes nil, absent from a reply.
local function opt(v)
  if v then return v end
  return nil
end
local function event_job(e)
  local j = string.match(e, '^(.*)~[^~]*$')
  return j or e
end

-- A job's history is a stream capped at about HISTORY_MAX entries (EE_HISTORY_MAX, written
-- into the prelude by reactor/scripts.py). Below the cap an entry is a plain XADD (one
-- XLEN more); at the cap the oldest entries are trimmed and their number added to the job's
-- `history_trimmed` field, so that `ee status` says the history shown is not whole.
local function history(j, at, node, what, build, detail)
  local hk = K.job_history(j)
  local entry = {'at', at, 'node', node, 'event', what, 'build', build or '', 'detail', detail or ''}
  local len = redis.call('XLEN', hk)
  if len < HISTORY_MAX then
    redis.call('XADD', hk, '*', unpack(entry))
  else
    redis.call('XADD', hk, 'MAXLEN', '~', HISTORY_MAX, '*', unpack(entry))
    local dropped = len + 1 - redis.call('XLEN', hk)
    if dropped > 0 then redis.call('HINCRBY', K.job(j), 'history_trimmed', dropped) end
  end
end

-- Mark job j stranded with `reason`: the field, the index, and a history entry unless the
-- job was stranded for this very reason already (not one entry per re-offer). The stranded
-- index (job ids by the time they were stranded) follows the `stranded` field: the scripts
-- that clear the field when the job moves on (park, finish) take it out in the same step.
local function mark_stranded(j, reason, at, build)
  local jk = K.job(j)
  local before = redis.call('HGET', jk, 'stranded')
  redis.call('HSET', jk, 'stranded', reason)
  local t = redis.call('TIME')
  redis.call('ZADD', K.stranded, 'NX', tonumber(t[1]) + tonumber(t[2]) / 1e6, j)
  if before ~= reason then history(j, at, '', 'stranded', build, reason) end
end

-- Jobs by status (`jobs:status:<status>`, for `ee jobs --status`): one zset per value of a job's
-- `status` field, scored by when that value was last written (Unix seconds, Redis's clock). Every
-- script that writes a job's `status` calls this in the same step, so a job is in exactly the
-- index of the status `ee status` shows (a job whose wait fired stays `parked` until its executor
-- parks or finishes it). A finished job leaves its index through purge.lua, with its keys.
local function index_status(j, before, after)
  if before and before ~= after then redis.call('ZREM', K.job_status(before), j) end
  local t = redis.call('TIME')
  redis.call('ZADD', K.job_status(after), tonumber(t[1]) + tonumber(t[2]) / 1e6, j)
end

-- A finished job's keys expire RETENTION_MS after it finished (EE_RETENTION, written into the
-- prelude; 0 keeps them). Called by every script that writes a final status, after its last
-- write to the job (a missing key is left alone). TTLs do not clean the job indexes: purge.lua
-- takes the job out of them (the reactor's retention sweep, ee purge).
local function expire_finished(j)
  if RETENTION_MS <= 0 then return end
  for _, k in ipairs({K.job(j), K.job_history(j), K.job_inbox(j), K.job_events(j)}) do
    redis.call('PEXPIRE', k, RETENTION_MS)
  end
end

-- Job j, finished with `status`, runs again from the checkpoint it holds (ee retry, and the
-- failed or cancelled child of a parent run again): the next fence, status running, under a
-- wake lease with nothing fired, as a job just started is (lease.lua offers it again while it
-- stays so). Its keys no longer expire; a deadline not judged yet holds again (its end took it
-- off the clock), one already flagged stays flagged. Returns the new fence.
local function run_again(j, status, at, lease_at)
  local jk = K.job(j)
  local fence = tonumber(redis.call('HGET', jk, 'fence')) + 1
  redis.call('HDEL', jk, 'output', 'error', 'finished', 'wake_event', 'stranded', 'lapses', 'bots')
  redis.call('HSET', jk, 'fence', fence, 'status', 'running', 'updated', at)
  for _, key in ipairs({jk, K.job_history(j), K.job_inbox(j), K.job_events(j)}) do redis.call('PERSIST', key) end
  index_status(j, status, 'running')
  redis.call('ZREM', K.stranded, j)
  redis.call('ZADD', K.wakes, lease_at, j)
  local dl = redis.call('HMGET', jk, 'deadline', 'overdue')
  if dl[1] and not dl[2] then redis.call('ZADD', K.deadlines, dl[1], j) end
  return fence
end
