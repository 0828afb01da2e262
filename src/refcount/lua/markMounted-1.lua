--[[
  The mount performer reports the driver Mount and bind done (refcount-model.ts markMounted).

  Input:
    KEYS[1]  volume record key
    ARGV[1]  node
    ARGV[2]  token
    ARGV[3]  mountpoint

  Output:
    resultJson  a MarkResult: {"kind":"ok"} | {"kind":"lost"} | {"kind":"not-performer",state,performer?}
    -3          the stored record is not a record this code wrote (includes/record-shape.lua)
]]
--- @include "clock"
--- @include "volume-record"
--- @include "holders"

local key = KEYS[1]
local node, token, mountpoint = ARGV[1], ARGV[2], ARGV[3]
local now = nowMs()
local v = loadVolume(key)
if v == false then return ERR_BAD_RECORD end
local self = v and findHolder(v, node, token)
-- A mount reported by a holder whose lease ended is not accepted: it must fence, not use V.
if not v or not self or not isLive(self, now) then return cjson.encode({ kind = 'lost' }) end
local rec = nodeRecord(v, node)
if rec and rec.state == 'mounting' and rec.performer == token then
  rec.state = 'mounted'
  rec.mountpoint = mountpoint
  rec.mountId = token
  rec.performer = nil
  rec.staleMountId = nil
  saveVolume(key, v, now)
  return cjson.encode({ kind = 'ok' })
end
-- Retry of a markMounted that already went through.
if rec and rec.state == 'mounted' and rec.mountId == token and rec.mountpoint == mountpoint then
  return cjson.encode({ kind = 'ok' })
end
return cjson.encode(notPerformer(rec))
