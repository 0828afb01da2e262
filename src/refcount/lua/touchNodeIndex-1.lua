--[[
  A node is about to use a volume (acquire, renew): its entry in the node's index is (re)set to
  the store time, and the index key kept for IDLE from now (includes/node-index.lua).

  Input:
    KEYS[1]  node index key  <prefix>:{node:<node>}:vols
    ARGV[1]  volume id       JSON [driver, name]

  Output:
    1
]]
--- @include "clock"
--- @include "node-index"

local now = nowMs()
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], INDEX_IDLE_TTL_MS)
return 1
