--[[
  Read a volume's record together with the store time it is judged at (for views: lease ages
  are computed against Redis TIME, never the caller's clock). Read-only.

  Input:
    KEYS[1]  volume record key

  Output:
    { recordJson | nil, nowMs }
    -3  the stored record is not a record this code wrote (record-shape.lua)
]]
--- @include "clock"
--- @include "volume-record"

local v = loadVolume(KEYS[1])
if v == false then return ERR_BAD_RECORD end
return { redis.call('GET', KEYS[1]), nowMs() }
