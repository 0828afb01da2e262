--[[
  Extend a holder's lease to now + ttl, only while it is still live (refcount-model.ts renew,
  lossy: the record key outlives every lease in it, so a missing key means lost data).

  Input:
    KEYS[1]  volume record key
    ARGV[1]  node
    ARGV[2]  token
    ARGV[3]  ttlMs

  Output:
    resultJson  a RenewResult: {"kind":"ok",epoch,expiresInMs} | {"kind":"lost"} | {"kind":"missing"}
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
if not v then return cjson.encode({ kind = 'missing' }) end
local self = findHolder(v, node, token)
-- Never revive an expired lease: meanwhile V may have gone elsewhere; the holder must fence.
if not self or not isLive(self, now) then return cjson.encode({ kind = 'lost' }) end
self.expiresAt = now + ttl
saveVolume(key, v, now)
return cjson.encode({ kind = 'ok', epoch = v.epoch, expiresInMs = ttl })
