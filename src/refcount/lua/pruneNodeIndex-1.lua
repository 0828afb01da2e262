--[[
  Drop a volume from a node's index after reap found no presence of the node in its record (or
  no record): only when the entry has not been touched for INDEX_GRACE_MS, so that an acquire
  whose touch preceded that reap keeps its entry (includes/node-index.lua).

  Input:
    KEYS[1]  node index key
    ARGV[1]  volume id

  Output:
    1  removed
    0  kept (touched recently, or not there)
]]
--- @include "clock"
--- @include "node-index"

local score = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if score == nil then return 0 end
if nowMs() - score < INDEX_GRACE_MS then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
