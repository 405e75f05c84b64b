-- Human tasks (kind task): their inbox indexes, and the checks every task step opens with.
-- A task is its event (event:{J}~F.i, kind task); while open it is in the index of its
-- assignee (tasks:assignee:<assignee>, by park time) and, with a due time, in tasks:due (by due
-- time). It leaves both when completed, fired or dropped (drop_event). Its completion is kept
-- in task-done:{J}~F.i for the retention time, after the job consumed the event.

local function index_task(e, score, assignee, due)
  if assignee and assignee ~= '' then redis.call('ZADD', K.task_assignee(assignee), score, e) end
  if due and due ~= '' then redis.call('ZADD', K.task_due, due, e) end
end

local function unindex_task(e, assignee)
  if assignee and assignee ~= '' then redis.call('ZREM', K.task_assignee(assignee), e) end
  redis.call('ZREM', K.task_due, e)
end

-- The open task e: nil and its fields, or the refusal to reply with (unknown, completed (by,
-- at), not_task (kind), not_parked (status)).
local function open_task(e)
  local done = redis.call('HMGET', K.task_done(e), 'completed_by', 'completed_at')
  if done[1] then return reply(C.completed, {by = done[1], at = done[2] or ''}) end
  local f = redis.call('HMGET', K.event(e), 'status', 'kind', 'job', 'node', 'assignee', 'claimed_by',
    'claimed_at', 'title')
  if not f[1] then return reply(C.unknown) end
  if f[2] ~= 'task' then return reply(C.not_task, {kind = f[2] or ''}) end
  if f[1] ~= 'parked' then return reply(C.not_parked, {status = f[1]}) end
  return nil, {job = f[3], node = f[4], assignee = f[5] or '', claimed_by = f[6] or '', claimed_at = f[7] or '',
    title = f[8] or ''}
end
