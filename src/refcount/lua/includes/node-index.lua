-- A node's index: a sorted set, in the node's own slot (<prefix>:{node:<node>}:vols), of the
-- volume ids (JSON [driver, name]) in which that node may have a presence (a holder entry or a
-- node state other than absent), scored by the store time the node last touched the entry. It
-- is a superset: every acquire and renew touches the entry before its script runs, and reap
-- removes an entry only when the record shows no presence of the node AND the entry was not
-- touched for INDEX_GRACE_MS — far longer than any operation may take (the store's command
-- timeout bounds them to seconds) — so an acquire in flight, whose touch came first, is never
-- dropped. The volume's record lives in another slot, so no script can update both atomically
-- on Redis Cluster; this ordering is what keeps them consistent instead.
local INDEX_IDLE_TTL_MS = 7 * 24 * 3600 * 1000
local INDEX_GRACE_MS = 60 * 1000
