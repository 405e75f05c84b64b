-- Deploy a workflow version (ee workflow deploy): stored under its name and version once, for
-- good. The workflow itself goes to workflow:<digest>, the copy its jobs share.
-- A: name, version (decimal text: the hash field), digest, workflow (JSON text), record (JSON
--   text of a DeploymentRecord: digest, at, by), now (the name's score in the deployed index)
-- Replies deployed, unchanged (this version holds this very content already: nothing written)
-- or version_taken (digest: the other content the version holds).
local k = K.deployed_workflow(A.name)
local held = redis.call('HGET', k, A.version)
if held then
  local ok, r = pcall(cjson.decode, held)
  local digest = ''
  if ok and type(r) == 'table' and type(r.digest) == 'string' then digest = r.digest end
  if digest == A.digest then return reply(C.unchanged) end
  return reply(C.version_taken, {digest = digest})
end
local wk = K.workflow(A.digest)
if redis.call('EXISTS', wk) == 0 then redis.call('SET', wk, A.workflow) end
redis.call('HSET', k, A.version, A.record)
redis.call('ZADD', K.deployed, A.now, A.name)
return reply(C.deployed)
