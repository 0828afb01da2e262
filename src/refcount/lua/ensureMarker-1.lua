--[[
  The store-liveness marker: created with the current Redis TIME when absent, and never
  expired (it is no lease). A data loss (restart without persistence, failover to a replica
  that lacked it) removes it with everything else, so its age is how long this Redis has held
  the data it holds; acquire uses it for the quarantine after a loss.

  Input:
    KEYS[1]  marker key  <prefix>:alive

  Output:
    ageMs    0 when this call created it
]]
--- @include "clock"

local now = nowMs()
local created = tonumber(redis.call('GET', KEYS[1]))
if created == nil then
  redis.call('SET', KEYS[1], now, 'NX')
  return 0
end
return math.max(0, now - created)
