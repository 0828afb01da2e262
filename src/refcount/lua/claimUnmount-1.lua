--[[
  A reconciler takes over the unmount of a node's orphaned state (refcount-model.ts claimUnmount).

  Input:
    KEYS[1]  volume record key
    ARGV[1]  node
    ARGV[2]  token (the reconciler's)
    ARGV[3]  ttlMs

  Output:
    resultJson  a ClaimUnmountResult: {"kind":"unmount",state,mountpoint?,mountId?} | {"kind":"busy"} | {"kind":"absent"}
    -1          ttl outside 1..MAX_TTL_MS
    -3          the stored record is not a record this code wrote (includes/record-shape.lua)
]]
--- @include "clock"
--- @include "volume-record"
--- @include "holders"

local key = KEYS[1]
local node, token = ARGV[1], ARGV[2]
local ttl = tonumber(ARGV[3])
if not validTtl(ttl) then return ERR_BAD_TTL end
local now = nowMs()
local v = loadVolume(key)
if v == false then return ERR_BAD_RECORD end
local rec = v and nodeRecord(v, node)
if not v or not rec or rec.state == 'absent' then return cjson.encode({ kind = 'absent' }) end
local self = findHolder(v, node, token)
if rec.state == 'unmounting' and rec.performer == token and self and isLive(self, now) then
  -- A retried claim by the same reconciler token: it still owns the unmount; extend its lease.
  self.expiresAt = now + ttl
  saveVolume(key, v, now)
  return cjson.encode(unmountResult(rec, { kind = 'unmount', state = 'unmounting' }))
end
-- Any live holder of the node means the mount is not an orphan: a takeover now could unmount
-- under a task that still uses it.
if liveCountOn(v, node, now) > 0 then return cjson.encode({ kind = 'busy' }) end
local previous = rec.state
if self then removeHolder(v, self, now) end
rec.state = 'unmounting'
rec.performer = token
-- The mountId stays: in `mounting` it is the dead performer's token, the ID to Unmount.
v.holders[#v.holders + 1] = { token = token, node = node, task = 'reconciler', role = 'unmounter', expiresAt = now + ttl }
saveVolume(key, v, now)
return cjson.encode(unmountResult(rec, { kind = 'unmount', state = previous }))
