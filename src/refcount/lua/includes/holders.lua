-- The helpers of refcount-model.ts, rule for rule. A holder is live while expiresAt > now; an
-- expired holder stays until its node reaps it but counts for nothing and is never revived.

local function isLive(h, now)
  return h.expiresAt > now
end

-- A holder is identified by (node, token): tokens are random, the node makes a collision harmless.
local function findHolder(v, node, token)
  for _, h in ipairs(v.holders) do
    if h.node == node and h.token == token then return h end
  end
  return nil
end

local function liveCountOn(v, node, now)
  local count = 0
  for _, h in ipairs(v.holders) do
    if h.node == node and isLive(h, now) then count = count + 1 end
  end
  return count
end

local function hasHolderOn(v, node)
  for _, h in ipairs(v.holders) do
    if h.node == node then return true end
  end
  return false
end

local function nodeRecord(v, node)
  for _, n in ipairs(v.nodes) do
    if n.node == node then return n end
  end
  return nil
end

local function ensureNode(v, node, now)
  local rec = nodeRecord(v, node)
  if not rec then
    rec = { node = node, state = 'absent', lastLiveAt = now }
    v.nodes[#v.nodes + 1] = rec
  end
  return rec
end

local function isPerformerLive(v, rec, now)
  if rec.performer == nil then return false end
  local performer = findHolder(v, rec.node, rec.performer)
  return performer ~= nil and isLive(performer, now)
end

-- Remove a holder, remembering until when it was live (the orphan grace counts from there).
local function removeHolder(v, holder, now)
  local kept = {}
  for _, h in ipairs(v.holders) do
    if h ~= holder then kept[#kept + 1] = h end
  end
  v.holders = kept
  local rec = nodeRecord(v, holder.node)
  if rec then rec.lastLiveAt = math.max(rec.lastLiveAt, math.min(holder.expiresAt, now)) end
end

-- Last store time at which rec's node had a live holder.
local function lastLiveOf(v, rec, now)
  local last = rec.lastLiveAt
  for _, h in ipairs(v.holders) do
    if h.node == rec.node then last = math.max(last, math.min(h.expiresAt, now)) end
  end
  return last
end

local function setAbsent(rec)
  rec.state = 'absent'
  rec.performer = nil
  rec.mountpoint = nil
  rec.mountId = nil
  rec.staleMountId = nil
end

-- Drop what carries no information any more; the record stays (its epoch must never go back).
local function tidy(v)
  local nodes = {}
  for _, n in ipairs(v.nodes) do
    -- An absent node with no holder entry blocks nobody and owes nobody an unmount.
    if n.state ~= 'absent' or hasHolderOn(v, n.node) then nodes[#nodes + 1] = n end
  end
  v.nodes = nodes
  -- The mode is a property of the claims; with no claim left the next one fixes it afresh.
  if #v.holders == 0 then v.mode = nil end
end

local function notPerformer(rec)
  local result = { kind = 'not-performer', state = 'absent' }
  if rec then
    result.state = rec.state
    if rec.performer ~= nil then result.performer = rec.performer end
  end
  return result
end

local function unmountResult(rec, result)
  if rec.mountpoint ~= nil then result.mountpoint = rec.mountpoint end
  if rec.mountId ~= nil then result.mountId = rec.mountId end
  return result
end
