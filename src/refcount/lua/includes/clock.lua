-- Store time: milliseconds from the server's own clock. Callers pass durations, never
-- timestamps, so that the leases of every node are measured on one clock (Redis's, not each node's).
-- Redis 7 replicates scripts by their effects, so reading TIME before a write is allowed.
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
