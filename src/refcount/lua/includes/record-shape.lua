-- The shape check of a stored volume record (refcount-model.ts VolumeRecord, checked the same
-- way by recordShapeProblem there): a record is input like any other, since whoever can write to
-- Redis can write this key. Anything this code would not have written — holders that are not a
-- list of holder entries, an epoch that is not a non-negative safe integer (1e308, -7.5), a
-- state outside the four, a JSON null — makes every script answer ERR_BAD_RECORD, so that
-- nothing is granted, renewed or released on a record nobody understands. cjson reads JSON
-- null as cjson.null (not nil) and writes an empty list as {}, so both an empty object and an
-- empty array are an empty list here; a non-empty object is not.

-- 2^53: beyond it a double no longer holds every integer (an epoch must be able to grow by one).
local MAX_SAFE_INTEGER = 9007199254740992
local MAX_TEXT = 4096

local function isCount(x)
  return type(x) == 'number' and x == x and x >= 0 and x <= MAX_SAFE_INTEGER and math.floor(x) == x
end

-- Store times (ms) and lease ends: finite integers within the safe range (may not be negative:
-- Redis TIME never is).
local isTime = isCount

local function isText(x)
  return type(x) == 'string' and #x > 0 and #x <= MAX_TEXT
end

local function isOptionalText(x)
  return x == nil or isText(x)
end

-- A Lua table read from a JSON list: keys exactly 1..n (an empty table is an empty list).
local function isList(t)
  if type(t) ~= 'table' then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return true
end

local NODE_STATES = { absent = true, mounting = true, mounted = true, unmounting = true }
local ROLES = { holder = true, unmounter = true }
local MODES = { exclusive = true, shared = true }

local function holderProblem(h)
  if type(h) ~= 'table' then return 'a holder is not an object' end
  if not isText(h.token) or not isText(h.node) then return 'a holder lacks token/node strings' end
  if type(h.task) ~= 'string' or #h.task > MAX_TEXT then return 'a holder task is not a string' end
  if not ROLES[h.role] then return 'a holder role is not holder/unmounter' end
  if not isTime(h.expiresAt) then return 'a holder expiresAt is not a time' end
  return nil
end

local function nodeProblem(n)
  if type(n) ~= 'table' then return 'a node entry is not an object' end
  if not isText(n.node) then return 'a node entry lacks its node' end
  if not NODE_STATES[n.state] then return 'a node state is not absent/mounting/mounted/unmounting' end
  if not isTime(n.lastLiveAt) then return 'a node lastLiveAt is not a time' end
  if not isOptionalText(n.performer) or not isOptionalText(n.mountId) or not isOptionalText(n.staleMountId) then
    return 'a node performer/mountId is not a string'
  end
  if n.mountpoint ~= nil and (type(n.mountpoint) ~= 'string' or #n.mountpoint > MAX_TEXT) then return 'a node mountpoint is not a string' end
  return nil
end

-- nil when v has the shape of a VolumeRecord, else what is wrong (for logs; callers answer the code).
local function recordShapeProblem(v)
  if type(v) ~= 'table' then return 'not an object' end
  if not isCount(v.epoch) then return 'epoch is not a non-negative integer' end
  if type(v.driver) ~= 'string' or type(v.name) ~= 'string' then return 'driver/name are not strings' end
  if v.mode ~= nil and not MODES[v.mode] then return 'mode is not exclusive/shared' end
  if v.lastGrantNode ~= nil and not isText(v.lastGrantNode) then return 'lastGrantNode is not a string' end
  if not isList(v.holders) then return 'holders is not a list' end
  if not isList(v.nodes) then return 'nodes is not a list' end
  for _, h in ipairs(v.holders) do
    local p = holderProblem(h)
    if p then return p end
  end
  for _, n in ipairs(v.nodes) do
    local p = nodeProblem(n)
    if p then return p end
  end
  return nil
end
