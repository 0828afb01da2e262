--[[
  Remove one node's expired holders of a volume (refcount-model.ts reap).

  Input:
    KEYS[1]  volume record key
    ARGV[1]  node

  Output:
    1   the node's state of V is not absent and has no live holder (an orphan to claim)
    0   otherwise
    2   the record is gone (expired idle, or lost)
    3   the record has no presence of the node (no holder entry, no state other than absent)
        2 and 3: the caller may drop the volume from the node's index (pruneNodeIndex)
    -3  the stored record is not a record this code wrote (includes/record-shape.lua)
]]
--- @include "clock"
--- @include "volume-record"
--- @include "holders"

local key = KEYS[1]
local node = ARGV[1]
local now = nowMs()
local v = loadVolume(key)
if v == false then return ERR_BAD_RECORD end
if not v then return 2 end
-- Only the node's own holders: each node's reconciler sweeps its own, so a slow node is not
-- robbed of holders it is about to renew.
local expired = {}
for _, h in ipairs(v.holders) do
  if h.node == node and not isLive(h, now) then expired[#expired + 1] = h end
end
for _, h in ipairs(expired) do removeHolder(v, h, now) end
tidy(v)
if #expired > 0 then saveVolume(key, v, now) end
local rec = nodeRecord(v, node)
if rec and rec.state ~= 'absent' and liveCountOn(v, node, now) == 0 then return 1 end
if not hasHolderOn(v, node) and not (rec and rec.state ~= 'absent') then return 3 end
return 0
