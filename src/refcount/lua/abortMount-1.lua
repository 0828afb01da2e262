--[[
  The mount performer gives up a mount it could not complete (refcount-model.ts abortMount).

  Input:
    KEYS[1]  volume record key
    ARGV[1]  node
    ARGV[2]  token

  Output:
    resultJson  a MarkResult: {"kind":"ok"} | {"kind":"lost"} | {"kind":"not-performer",state,performer?}
    -3          the stored record is not a record this code wrote (includes/record-shape.lua)
]]
--- @include "clock"
--- @include "volume-record"
--- @include "holders"
--- @include "finish-transition"

return finishTransition(KEYS[1], ARGV[1], ARGV[2], 'mounting')
