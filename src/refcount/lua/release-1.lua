--[[
  A holder ends its claim; the node's last live holder becomes the unmounter
  (refcount-model.ts release).

  Input:
    KEYS[1]  volume record key
    ARGV[1]  node
    ARGV[2]  token

  Output:
    resultJson  a ReleaseResult: {"kind":"unmount",mountpoint?,mountId?} | {"kind":"released"} | {"kind":"unknown"}
    -3          the stored record is not a record this code wrote (includes/record-shape.lua)
]]
--- @include "clock"
--- @include "volume-record"
--- @include "holders"

local key = KEYS[1]
local node, token = ARGV[1], ARGV[2]
local now = nowMs()
local v = loadVolume(key)
if v == false then return ERR_BAD_RECORD end
local self = v and findHolder(v, node, token)
if not v or not self then return cjson.encode({ kind = 'unknown' }) end
local rec = nodeRecord(v, node)

if not isLive(self, now) then
  -- An expired claim is already over: drop it, but never hand it the unmount (that would
  -- revive its lease); the node's orphan goes to the reconciler via reap + claimUnmount.
  removeHolder(v, self, now)
  tidy(v)
  saveVolume(key, v, now)
  return cjson.encode({ kind = 'unknown' })
end

if self.role == 'unmounter' then
  -- A retried release of the holder that became the unmounter: the same answer again.
  if rec and rec.state == 'unmounting' and rec.performer == token then
    return cjson.encode(unmountResult(rec, { kind = 'unmount' }))
  end
  removeHolder(v, self, now)
  tidy(v)
  saveVolume(key, v, now)
  return cjson.encode({ kind = 'released' })
end

if rec and rec.state == 'mounting' and rec.performer == token then
  -- The performer leaves before finishing its mount: the same as abortMount.
  setAbsent(rec)
  removeHolder(v, self, now)
  tidy(v)
  saveVolume(key, v, now)
  return cjson.encode({ kind = 'released' })
end

removeHolder(v, self, now)
if rec and rec.state == 'mounted' and liveCountOn(v, node, now) == 0 then
  -- The last live holder of the node unmounts, keeping its lease (same expiry) as the
  -- unmounter, so that a crash during the unmount is taken over when that lease ends.
  v.holders[#v.holders + 1] = { token = self.token, node = self.node, task = self.task, role = 'unmounter', expiresAt = self.expiresAt }
  rec.state = 'unmounting'
  rec.performer = token
  saveVolume(key, v, now)
  return cjson.encode(unmountResult(rec, { kind = 'unmount' }))
end
-- Others still use the mount, another holder performs a transition, or nothing was mounted.
tidy(v)
saveVolume(key, v, now)
return cjson.encode({ kind = 'released' })
