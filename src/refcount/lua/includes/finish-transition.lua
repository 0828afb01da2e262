-- The performer of a node's transition reports it over and the node goes back to absent:
-- abortMount (from 'mounting') and markUnmounted (from 'unmounting'); refcount-model.ts
-- finishTransition. Always accepted from the recorded performer, even after its lease ended:
-- moving toward absent grants nothing. Needs the clock, volume-record and holders includes.
local function finishTransition(key, node, token, from)
  local now = nowMs()
  local v = loadVolume(key)
  if v == false then return ERR_BAD_RECORD end
  if not v then return cjson.encode({ kind = 'ok' }) end
  local self = findHolder(v, node, token)
  local rec = nodeRecord(v, node)
  if rec and rec.state == from and rec.performer == token then
    setAbsent(rec)
    if self then removeHolder(v, self, now) end
    tidy(v)
    saveVolume(key, v, now)
    return cjson.encode({ kind = 'ok' })
  end
  -- A retry of a transition already finished (or never registered): nothing held, done.
  if not self then return cjson.encode({ kind = 'ok' }) end
  if not isLive(self, now) then return cjson.encode({ kind = 'lost' }) end
  return cjson.encode(notPerformer(rec))
end
