-- One volume's record: JSON (the VolumeRecord of refcount-model.ts) in one key, with its expiry.
--
-- Expiry: every key expires. While it lists holders, its PTTL is at least the longest lease
-- left plus LEASE_GRACE_MS, so a live holder's record cannot expire under it (and a missing
-- record during a live lease means lost data: renew answers `missing`). Otherwise it keeps
-- IDLE_TTL_MS (7 days) from its last write: the epoch, a fencing token, must not go back
-- while anyone could still care about it, and an orphaned node state must stay findable by
-- its reconciler. A volume untouched for 7 days starts again at epoch 1.
--- @include "record-shape"

local IDLE_TTL_MS = 7 * 24 * 3600 * 1000
local LEASE_GRACE_MS = 60 * 1000
-- Longest lease accepted (refcount-model.ts MAX_TTL_MS): nothing can be held forever by a typo.
local MAX_TTL_MS = 24 * 3600 * 1000

-- Refusal codes (negative integers), translated to errors in one place (redis-refcount-store.ts).
local ERR_BAD_TTL = -1
local ERR_UNMOUNTER_ACQUIRE = -2
local ERR_BAD_RECORD = -3
local ERR_BAD_RECLAIM = -4

local function validTtl(ttl)
  return ttl ~= nil and ttl > 0 and ttl <= MAX_TTL_MS
end

-- nil: no record; false: a record that fails the shape check (record-shape.lua), which every
-- caller answers with ERR_BAD_RECORD; else the record. Needs the record-shape include.
local function loadVolume(key)
  local raw = redis.call('GET', key)
  if not raw then return nil end
  local ok, v = pcall(cjson.decode, raw)
  if not ok or recordShapeProblem(v) ~= nil then return false end
  return v
end

local function emptyVolume(driver, name)
  return { driver = driver, name = name, epoch = 0, holders = {}, nodes = {} }
end

local function saveVolume(key, v, now)
  local ttl = IDLE_TTL_MS
  for _, h in ipairs(v.holders) do
    local left = h.expiresAt - now + LEASE_GRACE_MS
    if left > ttl then ttl = left end
  end
  redis.call('SET', key, cjson.encode(v), 'PX', math.floor(ttl))
end
