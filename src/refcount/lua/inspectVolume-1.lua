--[[
  Read a volume's record together with the store time it is judged at (for views: lease ages
  are computed against Redis TIME, never the caller's clock). Read-only.

  Input:
    KEYS[1]  volume record key

  Output:
    { recordJson | nil, nowMs }
]]
--- @include "clock"

return { redis.call('GET', KEYS[1]), nowMs() }
