-- The signal inbox: its items, of this build and of older ones.

-- An item of a job's signal inbox: a JSON object {"name", "expires", "result" (the result's JSON
-- text, as a string)}, encoded by cjson, never pasted. Items stored by earlier versions are
-- 'name\nexpires\nresult json' or, older still, 'name\nresult json' (a result is a JSON object,
-- so it never starts with a digit); they are read as before. An old item never starts with '{'
-- followed by valid JSON of that shape: signal names never held a newline on purpose.
-- Returns name, result json, expiry (nil for none).
local function inbox_encode(name, expires, result)
  return cjson.encode({name = name, expires = expires, result = result})
end

local function inbox_item(item)
  if string.sub(item, 1, 1) == '{' then
    local ok, v = pcall(cjson.decode, item)
    if ok and type(v) == 'table' and type(v.name) == 'string' and type(v.result) == 'string' then
      return v.name, v.result, tonumber(v.expires)
    end
  end
  local sep = string.find(item, '\n', 1, true)
  if not sep then return nil end
  local name, rest = string.sub(item, 1, sep - 1), string.sub(item, sep + 1)
  local expires = string.match(rest, '^([%d%.]+)\n')
  if expires then return name, string.sub(rest, #expires + 2), tonumber(expires) end
  return name, rest, nil
end

local function inbox_expired(item, now)
  local _, _, expires = inbox_item(item)
  return expires ~= nil and expires <= now
end

-- The parked wait of job j for signal `name` that the next such signal goes to: the one the
-- job's `signal:<name>` field names while it is parked, else the oldest parked one (branches of
-- a parallel or map bodies may wait for the same name: each signal goes to one of them, the
-- earliest parked first). The field is a hint kept by park.lua and signal.lua; a drop, timeout
-- or operator's hand that ended the wait it named leaves it stale or gone, and this finds the
-- next one. Returns the event id or nil.
local function signal_waiter(j, name, except)
  local e = redis.call('HGET', K.job(j), 'signal:' .. name)
  if e and e ~= except and redis.call('HGET', K.event(e), 'status') == 'parked' then return e end
  local best, best_fence, best_index = nil, nil, nil
  for _, id in ipairs(redis.call('SMEMBERS', K.job_events(j))) do
    if id ~= except then
      local f = redis.call('HMGET', K.event(id), 'kind', 'status', 'signal')
      if f[1] == 'signal' and f[2] == 'parked' and f[3] == name then
        local fence, index = string.match(id, '~(%d+)%.(%d+)$')
        fence, index = tonumber(fence) or 0, tonumber(index) or 0
        if not best or fence < best_fence or (fence == best_fence and index < best_index) then
          best, best_fence, best_index = id, fence, index
        end
      end
    end
  end
  return best
end
