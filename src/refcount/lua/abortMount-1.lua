--[[
  The mount performer gives up a mount it could not complete (refcount-model.ts abortMount).

  Input:
    KEYS[1]  volume record key
    ARGV[1]  node
    ARGV[2]  token

  Output:
    resultJson  a MarkResult: {"kind":"ok"} | {"kind":"lost"} | {"kind":"not-performer",state,performer?}
    -3          the stored record is not JSON this code wrote
]]
--- @include "clock"
--- @include "volume-record"
--- @include "holders"

local key = KEYS[1]
local node, token = ARGV[1], ARGV[2]
local now = nowMs()
local v = loadVolume(key)
if v == false then return ERR_BAD_RECORD end
if not v then return cjson.encode({ kind = 'ok' }) end
local self = findHolder(v, node, token)
local rec = nodeRecord(v, node)
if rec and rec.state == 'mounting' and rec.performer == token then
  -- Always allowed, even after the lease ended: it only moves toward absent.
  setAbsent(rec)
  if self then removeHolder(v, self, now) end
  tidy(v)
  saveVolume(key, v, now)
  return cjson.encode({ kind = 'ok' })
end
-- Already aborted (or never registered): nothing held, nothing performed.
if not self then return cjson.encode({ kind = 'ok' }) end
if not isLive(self, now) then return cjson.encode({ kind = 'lost' }) end
return cjson.encode(notPerformer(rec))
