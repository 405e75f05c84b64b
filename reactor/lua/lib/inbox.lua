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
