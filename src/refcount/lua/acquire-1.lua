--[[
  Register a claim on a volume and say what the caller does next (refcount-model.ts acquire).

  Input:
    KEYS[1]  volume record key  <prefix>:{<driver>/<name>}:vol

    ARGV[1]  driver
    ARGV[2]  name
    ARGV[3]  node
    ARGV[4]  token
    ARGV[5]  task
    ARGV[6]  mode              'exclusive' | 'shared'
    ARGV[7]  preempt           '1' | '0'
    ARGV[8]  ttlMs
    ARGV[9]  orphanGraceMs     (the caller applies the default, 3 × ttl)
    ARGV[10] storeAgeMs        age of the <prefix>:alive marker; '' = no quarantine check
    ARGV[11] reclaim           JSON {mountpoint, mountId, epoch?} or ''

  Output:
    { resultJson, created }    resultJson: an AcquireResult ({"kind":"mount"|"join"|"wait"|
                               "held"|"mode-conflict"|"quarantine", …}); created: 1 when this
                               call created the record (the caller adds it to the volume index);
                               a "mount" that revoked other nodes' holders lists them in `preempted`
    -1  ttl outside 1..MAX_TTL_MS
    -2  acquire with the token of an unmounter
    -3  the stored record is not a record this code wrote (includes/record-shape.lua)
    -4  ARGV[11] is not a reclaim this code sends
]]
--- @include "clock"
--- @include "volume-record"
--- @include "holders"

local key = KEYS[1]
local node, token, task, mode = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local preempt = ARGV[7] == '1'
local ttl = tonumber(ARGV[8])
local grace = tonumber(ARGV[9])
local storeAge = tonumber(ARGV[10])
local reclaim = nil
if ARGV[11] ~= '' then reclaim = cjson.decode(ARGV[11]) end
if reclaim ~= nil and (type(reclaim) ~= 'table' or not isText(reclaim.mountpoint) or not isText(reclaim.mountId)) then return ERR_BAD_RECLAIM end
if not validTtl(ttl) then return ERR_BAD_TTL end

local now = nowMs()
local current = loadVolume(key)
if current == false then return ERR_BAD_RECORD end
local v = current or emptyVolume(ARGV[1], ARGV[2])

-- Answers that register nothing leave the stored record as it was.
local function unchanged(result)
  return { cjson.encode(result), 0 }
end

if reclaim and isCount(reclaim.epoch) and reclaim.epoch > v.epoch then
  -- A re-registration after data loss carries the epoch the holder last saw: the fencing token
  -- never goes back, and the holder's own epoch stays valid (this is no grant elsewhere).
  v.epoch = reclaim.epoch
  if mode == 'exclusive' then v.lastGrantNode = node end
end

local self = findHolder(v, node, token)
if self and not isLive(self, now) then
  -- Never revive an expired lease: judge the request as a new claim.
  removeHolder(v, self, now)
  self = nil
end
-- One token cannot be both the unmount performer and a user of the mount.
if self and self.role == 'unmounter' then return ERR_UNMOUNTER_ACQUIRE end
-- A retry must be the same claim: the same token with the other mode is refused.
if self and v.mode ~= nil and v.mode ~= mode then return unchanged({ kind = 'mode-conflict', mode = v.mode }) end

local preempted = {}
if not self then
  local liveOthers = {}
  for _, h in ipairs(v.holders) do
    if isLive(h, now) then liveOthers[#liveOthers + 1] = h end
  end
  -- The access mode is fixed by the live claims; the other mode is refused, not queued.
  if #liveOthers > 0 and v.mode ~= nil and v.mode ~= mode then
    return unchanged({ kind = 'mode-conflict', mode = v.mode })
  end

  local revoked = false
  if mode == 'exclusive' then
    -- Another node blocks while it has a live holder, or while its state is not absent and it
    -- lost its last live holder less than the orphan grace ago (it may be about to clean up).
    local blockers, seen = {}, {}
    for _, n in ipairs(v.nodes) do
      if n.node ~= node and not seen[n.node]
        and (liveCountOn(v, n.node, now) > 0 or (n.state ~= 'absent' and now - lastLiveOf(v, n, now) < grace)) then
        seen[n.node] = true
        blockers[#blockers + 1] = n.node
      end
    end
    for _, h in ipairs(liveOthers) do
      if h.node ~= node and not seen[h.node] then
        seen[h.node] = true
        blockers[#blockers + 1] = h.node
      end
    end
    if #blockers > 0 and not preempt then
      table.sort(blockers)
      return unchanged({ kind = 'held', nodes = blockers })
    end
    -- Less than one lease since the store lost its data: a holder elsewhere may not have
    -- re-registered yet. No exclusive grant to a node the record does not know (reclaim exempt).
    if storeAge ~= nil and storeAge < ttl and not reclaim then
      local known = hasHolderOn(v, node)
      local rec = nodeRecord(v, node)
      if rec and rec.state ~= 'absent' then known = true end
      if not known then
        return unchanged({ kind = 'quarantine', retryInMs = math.max(1, ttl - storeAge) })
      end
    end
    if preempt then
      -- Revoke every holder of every other node; their node states stay for their reconcilers.
      local others = {}
      for _, h in ipairs(v.holders) do
        if h.node ~= node then others[#others + 1] = h end
      end
      local seenPreempted = {}
      for _, h in ipairs(others) do
        removeHolder(v, h, now)
        revoked = true
        if not seenPreempted[h.node] then
          seenPreempted[h.node] = true
          preempted[#preempted + 1] = h.node
        end
      end
    end
    -- The epoch is the fencing token: it moves whenever the exclusive grant changes node.
    if revoked or v.lastGrantNode ~= node then v.epoch = v.epoch + 1 end
    v.lastGrantNode = node
  else
    -- A shared grant ends the exclusive lineage; preempt means nothing for shared claims.
    v.lastGrantNode = nil
  end

  v.mode = mode
  self = { token = token, node = node, task = task, role = 'holder', expiresAt = now + ttl }
  v.holders[#v.holders + 1] = self
else
  -- Idempotent per token: re-evaluate the node state below and renew the lease.
  self.expiresAt = now + ttl
  self.task = task
end

local rec = ensureNode(v, node, now)
rec.lastLiveAt = now
local epoch = v.epoch
local result

if reclaim and rec.state == 'absent' then
  -- Re-registration after data loss: the node still has V mounted under this mount ID.
  rec.state = 'mounted'
  rec.mountpoint = reclaim.mountpoint
  rec.mountId = reclaim.mountId
  result = { kind = 'join', epoch = epoch, mountpoint = reclaim.mountpoint }
elseif rec.state == 'absent' then
  -- First on the node performs the mount; its token is the driver Mount ID, recorded first.
  rec.state = 'mounting'
  rec.performer = self.token
  rec.mountId = self.token
  rec.staleMountId = nil
  result = { kind = 'mount', epoch = epoch }
elseif rec.state == 'mounted' then
  result = { kind = 'join', epoch = epoch, mountpoint = rec.mountpoint or '' }
elseif rec.performer == self.token then
  -- A retried acquire of the performer gets the same answer, with the stale ID it still owes.
  result = { kind = 'mount', epoch = epoch, staleMountId = rec.staleMountId }
elseif isPerformerLive(v, rec, now) then
  result = { kind = 'wait', epoch = epoch, state = rec.state, performer = rec.performer or '' }
else
  -- The performer's lease ended mid-transition: Unmount its ID first, then mount afresh.
  local stale
  if rec.state == 'mounting' then stale = rec.performer else stale = rec.mountId end
  rec.state = 'mounting'
  rec.performer = self.token
  rec.mountId = self.token
  rec.mountpoint = nil
  rec.staleMountId = stale
  result = { kind = 'mount', epoch = epoch, staleMountId = stale }
end

-- Tell the caller whom it preempted (metrics, logs); only a grant that revoked anyone says so.
if result.kind == 'mount' and #preempted > 0 then
  table.sort(preempted)
  result.preempted = preempted
end

saveVolume(key, v, now)
if current then return { cjson.encode(result), 0 } end
return { cjson.encode(result), 1 }
