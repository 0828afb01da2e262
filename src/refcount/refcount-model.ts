// The refcount model as pure transitions: (volume record, request, now) → (new record, result).
// No I/O and no clock: the embedded store runs these under its file lock, the unit tests drive
// them with fast-check, and the Redis Lua scripts mirror them rule by rule. Every rule below
// says why it exists; change a rule here and in lua/ together, and the contract suite checks both.
//
// Vocabulary: a holder is *live* while `expiresAt > now`. An expired holder stays in the record
// until its node reaps it (so the reaper can report which volume became orphaned) but it counts
// for nothing: it blocks nobody, performs nothing, and is never revived.
import type {
  AccessMode,
  AcquireRequest,
  AcquireResult,
  ClaimUnmountResult,
  HolderRef,
  HolderRole,
  MarkResult,
  NodeMountState,
  ReleaseResult,
  RenewResult,
  VolumeKey,
  VolumeView,
} from './refcount-store.js';
import { StoreMisuseError } from './refcount-errors.js';

/** Longest lease the model accepts: a bound, so that nothing can be held forever by a typo. */
export const MAX_TTL_MS = 24 * 60 * 60 * 1000;

export interface HolderRecord {
  token: string;
  node: string;
  task: string;
  role: HolderRole;
  /** Store time (ms) at which the lease ends. Always finite. */
  expiresAt: number;
}

export interface NodeRecord {
  node: string;
  state: NodeMountState;
  /** Token of the holder performing the current transition (mounting / unmounting). */
  performer?: string;
  mountpoint?: string;
  /** Driver Mount ID of the node's mount: the token of the holder that mounted (or is mounting). */
  mountId?: string;
  /** Set on a takeover of a dead performer: that performer's ID, which the new one must Unmount. */
  staleMountId?: string;
  /** Last store time at which this node had a live holder (for the orphan grace rule). */
  lastLiveAt: number;
}

export interface VolumeRecord {
  driver: string;
  name: string;
  /** Mode of the claims; undefined when nobody holds V. A live unmounter keeps the mode of the
   * claims it came from, so a claim of the other mode waits until the detach is done. */
  mode?: AccessMode;
  /** Fencing token; never decreases, so the record outlives its holders. */
  epoch: number;
  /** The node the last exclusive grant went to; a grant elsewhere increases the epoch. */
  lastGrantNode?: string;
  holders: HolderRecord[];
  nodes: NodeRecord[];
}

export interface Transition<R> {
  /** The record after the operation (undefined: still no record). */
  volume: VolumeRecord | undefined;
  result: R;
}

export function volumeId(key: VolumeKey): string {
  // JSON of a pair: unambiguous for any driver / name (both may contain '/'), never '__proto__'.
  return JSON.stringify([key.driver, key.name]);
}

export function emptyVolume(key: VolumeKey): VolumeRecord {
  return { driver: key.driver, name: key.name, epoch: 0, holders: [], nodes: [] };
}

// ---------------------------------------------------------------- helpers

function isLive(holder: HolderRecord, now: number): boolean {
  return holder.expiresAt > now;
}

function findHolder(volume: VolumeRecord, node: string, token: string): HolderRecord | undefined {
  // A holder is identified by (node, token): tokens are random, but the node makes a collision harmless.
  return volume.holders.find((h) => h.node === node && h.token === token);
}

function liveOn(volume: VolumeRecord, node: string, now: number): HolderRecord[] {
  return volume.holders.filter((h) => h.node === node && isLive(h, now));
}

function nodeRecord(volume: VolumeRecord, node: string): NodeRecord | undefined {
  return volume.nodes.find((n) => n.node === node);
}

function ensureNode(volume: VolumeRecord, node: string, now: number): NodeRecord {
  let record = nodeRecord(volume, node);
  if (!record) {
    record = { node, state: 'absent', lastLiveAt: now };
    volume.nodes.push(record);
  }
  return record;
}

function isPerformerLive(volume: VolumeRecord, record: NodeRecord, now: number): boolean {
  if (record.performer === undefined) return false;
  const performer = findHolder(volume, record.node, record.performer);
  return performer !== undefined && isLive(performer, now);
}

/** Remove a holder, remembering until when it was live (the orphan grace counts from there). */
function removeHolder(volume: VolumeRecord, holder: HolderRecord, now: number): void {
  volume.holders = volume.holders.filter((h) => h !== holder);
  const record = nodeRecord(volume, holder.node);
  if (record) record.lastLiveAt = Math.max(record.lastLiveAt, Math.min(holder.expiresAt, now));
}

/** Last store time at which `record`'s node had a live holder. */
function lastLiveAt(volume: VolumeRecord, record: NodeRecord, now: number): number {
  let last = record.lastLiveAt;
  for (const h of volume.holders) if (h.node === record.node) last = Math.max(last, Math.min(h.expiresAt, now));
  return last;
}

function setAbsent(record: NodeRecord): void {
  record.state = 'absent';
  delete record.performer;
  delete record.mountpoint;
  delete record.mountId;
  delete record.staleMountId;
}

/** Drop what carries no information any more; the record itself stays (its epoch must never go back). */
function tidy(volume: VolumeRecord): void {
  // An absent node with no holder entry blocks nobody and owes nobody an unmount.
  volume.nodes = volume.nodes.filter((n) => n.state !== 'absent' || volume.holders.some((h) => h.node === n.node));
  // The mode is a property of the claims; with no claim left the next one fixes it afresh.
  if (volume.holders.length === 0) delete volume.mode;
}

export function checkTtl(ttlMs: number, ref: HolderRef): void {
  // Nothing expires without bounds: a lease is finite, positive and at most MAX_TTL_MS.
  if (!Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) {
    throw new StoreMisuseError(`lease ttl ${ttlMs} ms is outside 1..${MAX_TTL_MS} ms`, { volume: ref.name, token: ref.token, ttlMs });
  }
}

function clone(volume: VolumeRecord | undefined): VolumeRecord | undefined {
  return volume === undefined ? undefined : structuredClone(volume);
}

// ---------------------------------------------------------------- acquire

/** What a store that can lose its data tells the model about itself (the embedded store: nothing). */
export interface StoreLiveness {
  /**
   * How long the store has been known to hold its data (age of the Redis `alive` marker, which a
   * data loss removes). Undefined: the store cannot lose data, no quarantine.
   */
  storeAgeMs?: number;
}

/** The orphan grace an acquire applies (the default lives here, once, for every store). */
export function orphanGraceOf(request: AcquireRequest): number {
  return request.orphanGraceMs ?? 3 * request.ttlMs;
}

/** True when `node` has something in the record: a holder entry, or a node state other than absent. */
function nodeKnown(volume: VolumeRecord, node: string): boolean {
  return volume.holders.some((h) => h.node === node) || volume.nodes.some((n) => n.node === node && n.state !== 'absent');
}

export function acquire(current: VolumeRecord | undefined, request: AcquireRequest, now: number, liveness: StoreLiveness = {}): Transition<AcquireResult> {
  checkTtl(request.ttlMs, request);
  const volume = clone(current) ?? emptyVolume(request);
  const reclaim = request.reclaim;
  if (reclaim?.epoch !== undefined && reclaim.epoch > volume.epoch) {
    // A re-registration after data loss carries the epoch the holder last saw: the fencing token
    // must never go back, and the holder's own epoch stays valid (it is not a grant elsewhere).
    volume.epoch = reclaim.epoch;
    if (request.mode === 'exclusive') volume.lastGrantNode = request.node;
  }
  const unchanged = (result: AcquireResult): Transition<AcquireResult> => ({ volume: current, result });

  let self = findHolder(volume, request.node, request.token);
  if (self && !isLive(self, now)) {
    // Never revive an expired lease: the old entry goes and the request is judged as a new
    // claim, against everything that may have happened since (preemption, takeover, other nodes).
    removeHolder(volume, self, now);
    self = undefined;
  }
  if (self?.role === 'unmounter') {
    // An unmounter's claim ended with its release; letting it claim again under the same token
    // would make one token both the unmount performer and a user of the mount.
    throw new StoreMisuseError('acquire with the token of an unmounter', { volume: request.name, node: request.node, token: request.token });
  }

  if (self && volume.mode !== undefined && volume.mode !== request.mode) {
    // A retry must be the same claim; the same token asking for the other mode is refused like
    // any other claim of that mode (and keeps the registration it has).
    return unchanged({ kind: 'mode-conflict', mode: volume.mode });
  }

  const preempted: string[] = [];
  if (!self) {
    const liveOthers = volume.holders.filter((h) => isLive(h, now));
    // The access mode is fixed by the live claims; a claim with the other mode is refused, not queued.
    if (liveOthers.length > 0 && volume.mode !== undefined && volume.mode !== request.mode) {
      return unchanged({ kind: 'mode-conflict', mode: volume.mode });
    }

    let revoked = false;
    if (request.mode === 'exclusive') {
      const grace = orphanGraceOf(request);
      // Another node blocks an exclusive grant while it has a live holder (any role: a live
      // unmounter is still detaching), or while its mount state is not absent and it lost its
      // last live holder less than `grace` ago — it may be about to clean up, and we would
      // otherwise attach while it is still attached. Past the grace its orphan is its own
      // reconciler's business; the storage backend is the hard fence.
      const blockers = volume.nodes
        .filter((n) => n.node !== request.node)
        .filter((n) => liveOn(volume, n.node, now).length > 0 || (n.state !== 'absent' && now - lastLiveAt(volume, n, now) < grace))
        .map((n) => n.node);
      for (const h of liveOthers) if (h.node !== request.node && !blockers.includes(h.node)) blockers.push(h.node);
      if (blockers.length > 0 && !request.preempt) return unchanged({ kind: 'held', nodes: [...new Set(blockers)].sort() });
      const age = liveness.storeAgeMs;
      if (age !== undefined && age < request.ttlMs && reclaim === undefined && !nodeKnown(volume, request.node)) {
        // The store lost its data less than one lease ago: a holder that still uses V elsewhere
        // has not necessarily renewed (and so re-registered) yet. No exclusive grant to a node the
        // record does not know until every lease of before the loss has had its chance. A node
        // re-registering what it has (`reclaim`) is exempt; a preemption waits too.
        return unchanged({ kind: 'quarantine', retryInMs: Math.max(1, request.ttlMs - age) });
      }
      if (request.preempt) {
        // Preemption revokes every holder of every other node (their next renew is `lost`); their
        // node states stay, so each node's reconciler still unmounts what it has.
        for (const h of volume.holders.filter((x) => x.node !== request.node)) {
          removeHolder(volume, h, now);
          revoked = true;
          if (!preempted.includes(h.node)) preempted.push(h.node);
        }
      }
      // The epoch is the fencing token: it moves whenever the exclusive grant changes node (a
      // revocation always does), so that a stale holder elsewhere can be told it lost V.
      if (revoked || volume.lastGrantNode !== request.node) volume.epoch += 1;
      volume.lastGrantNode = request.node;
    } else {
      // A shared grant ends the exclusive lineage: the next exclusive grant moves the epoch
      // whatever node it goes to. `preempt` means nothing here: shared claims exclude nobody.
      delete volume.lastGrantNode;
    }

    volume.mode = request.mode;
    self = { token: request.token, node: request.node, task: request.task, role: 'holder', expiresAt: now + request.ttlMs };
    volume.holders.push(self);
  } else {
    // Idempotent per token: a repeated acquire (polling while `wait`, or a retry whose reply was
    // lost) re-evaluates the node state below and renews the lease; it never registers twice.
    self.expiresAt = now + request.ttlMs;
    self.task = request.task;
  }

  const record = ensureNode(volume, request.node, now);
  record.lastLiveAt = now;
  const epoch = volume.epoch;
  if (reclaim !== undefined && record.state === 'absent') {
    // Re-registration after data loss: the node still has V mounted under the holder's mount ID;
    // record that instead of asking for a second driver Mount.
    record.state = 'mounted';
    record.mountpoint = reclaim.mountpoint;
    record.mountId = reclaim.mountId;
    return { volume, result: { kind: 'join', epoch, mountpoint: reclaim.mountpoint } };
  }
  const result = nodeStep(volume, record, self, now, epoch);
  // Tell the caller whom it preempted (metrics, logs); only a grant that revoked anyone says so.
  if (result.kind === 'mount' && preempted.length > 0) result.preempted = preempted.sort();
  return { volume, result };
}

/** What a registered, live holder does on its node: mount, join, wait or take over. */
function nodeStep(volume: VolumeRecord, record: NodeRecord, self: HolderRecord, now: number, epoch: number): AcquireResult {
  switch (record.state) {
    case 'absent':
      // First on the node performs the mount. Its token is the driver Mount ID, recorded before
      // the driver is called so that a takeover knows which ID to Unmount.
      record.state = 'mounting';
      record.performer = self.token;
      record.mountId = self.token;
      delete record.staleMountId;
      return { kind: 'mount', epoch };
    case 'mounted':
      return { kind: 'join', epoch, mountpoint: record.mountpoint ?? '' };
    case 'mounting':
    case 'unmounting': {
      if (record.performer === self.token) {
        // Only reachable in `mounting` (an unmounter cannot acquire): a retried acquire of the
        // performer gets the same answer, including the stale ID it still has to Unmount.
        return record.staleMountId === undefined ? { kind: 'mount', epoch } : { kind: 'mount', epoch, staleMountId: record.staleMountId };
      }
      if (isPerformerLive(volume, record, now)) {
        return { kind: 'wait', epoch, state: record.state, performer: record.performer ?? '' };
      }
      // The performer's lease ended mid-transition: its driver Mount (mounting) may have
      // happened, or the mount it was unmounting (unmounting) may still be there. The new
      // performer Unmounts that ID first (unknown IDs succeed) and then mounts under its own.
      const stale = record.state === 'mounting' ? record.performer : record.mountId;
      record.state = 'mounting';
      record.performer = self.token;
      record.mountId = self.token;
      delete record.mountpoint;
      if (stale === undefined) delete record.staleMountId;
      else record.staleMountId = stale;
      return stale === undefined ? { kind: 'mount', epoch } : { kind: 'mount', epoch, staleMountId: stale };
    }
  }
}

// ---------------------------------------------------------------- performer reports

export function markMounted(current: VolumeRecord | undefined, ref: HolderRef, mountpoint: string, now: number): Transition<MarkResult> {
  const volume = clone(current);
  const self = volume && findHolder(volume, ref.node, ref.token);
  // A mount reported by a holder whose lease ended is not accepted: it must fence, not use V.
  if (!volume || !self || !isLive(self, now)) return { volume: current, result: { kind: 'lost' } };
  const record = nodeRecord(volume, ref.node);
  if (record?.state === 'mounting' && record.performer === ref.token) {
    record.state = 'mounted';
    record.mountpoint = mountpoint;
    record.mountId = ref.token;
    delete record.performer;
    delete record.staleMountId;
    return { volume, result: { kind: 'ok' } };
  }
  // Retry of a markMounted that already went through.
  if (record?.state === 'mounted' && record.mountId === ref.token && record.mountpoint === mountpoint) return { volume: current, result: { kind: 'ok' } };
  return { volume: current, result: notPerformer(record) };
}

/**
 * The performer of a node's transition reports it over, so the node goes back to `absent`:
 * `abortMount` (a mount it could not complete) and `markUnmounted` (an unmount it completed).
 * Always accepted from the recorded performer, even after its lease ended or was revoked: moving
 * toward `absent` grants nothing, and it is the truth the performer just established. The next
 * holder of the node becomes the performer on its next acquire.
 */
function finishTransition(current: VolumeRecord | undefined, ref: HolderRef, now: number, from: 'mounting' | 'unmounting'): Transition<MarkResult> {
  const volume = clone(current);
  if (!volume) return { volume: current, result: { kind: 'ok' } };
  const self = findHolder(volume, ref.node, ref.token);
  const record = nodeRecord(volume, ref.node);
  if (record?.state === from && record.performer === ref.token) {
    setAbsent(record);
    if (self) removeHolder(volume, self, now);
    tidy(volume);
    return { volume, result: { kind: 'ok' } };
  }
  // A retry of a transition already finished (or never registered): nothing held — done.
  if (!self) return { volume: current, result: { kind: 'ok' } };
  if (!isLive(self, now)) return { volume: current, result: { kind: 'lost' } };
  return { volume: current, result: notPerformer(record) };
}

export function abortMount(current: VolumeRecord | undefined, ref: HolderRef, now: number): Transition<MarkResult> {
  return finishTransition(current, ref, now, 'mounting');
}

export function markUnmounted(current: VolumeRecord | undefined, ref: HolderRef, now: number): Transition<MarkResult> {
  return finishTransition(current, ref, now, 'unmounting');
}

function notPerformer(record: NodeRecord | undefined): MarkResult {
  const state = record?.state ?? 'absent';
  return record?.performer === undefined ? { kind: 'not-performer', state } : { kind: 'not-performer', state, performer: record.performer };
}

// ---------------------------------------------------------------- leases

/**
 * `lossy`: the store can lose data (Redis). Its record of a live lease cannot expire (its key
 * outlives every lease), so a missing record means lost data, not a lost lease: `missing`, and
 * the holder re-registers. A store that cannot lose data answers `lost` as for any unknown token.
 */
export function renew(current: VolumeRecord | undefined, ref: HolderRef, ttlMs: number, now: number, lossy = false): Transition<RenewResult> {
  checkTtl(ttlMs, ref);
  if (current === undefined && lossy) return { volume: current, result: { kind: 'missing' } };
  const volume = clone(current);
  const self = volume && findHolder(volume, ref.node, ref.token);
  // Never revive an expired lease: between its expiry and now another node may have been
  // granted V, or a takeover may have started; the holder must fence itself.
  if (!volume || !self || !isLive(self, now)) return { volume: current, result: { kind: 'lost' } };
  self.expiresAt = now + ttlMs;
  return { volume, result: { kind: 'ok', epoch: volume.epoch, expiresInMs: ttlMs } };
}

export function release(current: VolumeRecord | undefined, ref: HolderRef, now: number): Transition<ReleaseResult> {
  const volume = clone(current);
  const self = volume && findHolder(volume, ref.node, ref.token);
  if (!volume || !self) return { volume: current, result: { kind: 'unknown' } };
  const record = nodeRecord(volume, ref.node);
  if (!isLive(self, now)) {
    // An expired claim is already over: drop it, but do not hand it the unmount (that would
    // revive its lease). Its node's orphan goes to the reconciler via reap + claimUnmount.
    removeHolder(volume, self, now);
    tidy(volume);
    return { volume, result: { kind: 'unknown' } };
  }
  if (self.role === 'unmounter') {
    // A retried release of the holder that became the unmounter: same answer again.
    if (record?.state === 'unmounting' && record.performer === ref.token) return { volume: current, result: unmountResult(record) };
    removeHolder(volume, self, now);
    tidy(volume);
    return { volume, result: { kind: 'released' } };
  }
  if (record?.state === 'mounting' && record.performer === ref.token) {
    // The performer leaves before finishing its mount: the same as abortMount.
    setAbsent(record);
    removeHolder(volume, self, now);
    tidy(volume);
    return { volume, result: { kind: 'released' } };
  }
  removeHolder(volume, self, now);
  if (record?.state === 'mounted' && liveOn(volume, ref.node, now).length === 0) {
    // The last live holder of the node unmounts. It keeps its lease (same expiry) as the
    // unmounter, so a crash during the unmount is taken over when that lease ends.
    volume.holders.push({ ...self, role: 'unmounter' });
    record.state = 'unmounting';
    record.performer = ref.token;
    return { volume, result: unmountResult(record) };
  }
  // Others still use the mount, or another holder is performing a transition, or nothing was
  // mounted: nothing for this holder to undo.
  tidy(volume);
  return { volume, result: { kind: 'released' } };
}

function unmountResult(record: NodeRecord): ReleaseResult {
  const result: { kind: 'unmount'; mountpoint?: string; mountId?: string } = { kind: 'unmount' };
  if (record.mountpoint !== undefined) result.mountpoint = record.mountpoint;
  if (record.mountId !== undefined) result.mountId = record.mountId;
  return result;
}

// ---------------------------------------------------------------- recovery

/** Remove `node`'s expired holders of V; `orphaned`: V's state on `node` now has no live holder. */
export function reap(current: VolumeRecord | undefined, node: string, now: number): Transition<{ orphaned: boolean }> {
  const volume = clone(current);
  if (!volume) return { volume: current, result: { orphaned: false } };
  // Only the node's own holders: each node's reconciler sweeps its own, so a slow node is not
  // robbed of holders it is about to renew by another node's clock reading.
  const expired = volume.holders.filter((h) => h.node === node && !isLive(h, now));
  for (const h of expired) removeHolder(volume, h, now);
  tidy(volume);
  const record = nodeRecord(volume, node);
  const orphaned = record !== undefined && record.state !== 'absent' && liveOn(volume, node, now).length === 0;
  return { volume: expired.length > 0 ? volume : current, result: { orphaned } };
}

export function claimUnmount(current: VolumeRecord | undefined, ref: HolderRef, ttlMs: number, now: number): Transition<ClaimUnmountResult> {
  checkTtl(ttlMs, ref);
  const volume = clone(current);
  const record = volume && nodeRecord(volume, ref.node);
  if (!volume || !record || record.state === 'absent') return { volume: current, result: { kind: 'absent' } };
  const self = findHolder(volume, ref.node, ref.token);
  if (record.state === 'unmounting' && record.performer === ref.token && self && isLive(self, now)) {
    // A retried claim by the same reconciler token: it still owns the unmount; extend its lease.
    self.expiresAt = now + ttlMs;
    return { volume, result: claimResult('unmounting', record) };
  }
  // Any live holder of the node (a user, a waiting holder, or a live performer) means the mount
  // is not an orphan: a takeover now could unmount under a task that still uses it.
  if (liveOn(volume, ref.node, now).length > 0) return { volume: current, result: { kind: 'busy' } };
  const previous = record.state;
  if (self) removeHolder(volume, self, now);
  record.state = 'unmounting';
  record.performer = ref.token;
  // The mountId stays: in `mounting` it is the dead performer's token, the ID to Unmount.
  volume.holders.push({ token: ref.token, node: ref.node, task: 'reconciler', role: 'unmounter', expiresAt: now + ttlMs });
  return { volume, result: claimResult(previous, record) };
}

function claimResult(state: NodeMountState, record: NodeRecord): ClaimUnmountResult {
  const result: { kind: 'unmount'; state: NodeMountState; mountpoint?: string; mountId?: string } = { kind: 'unmount', state };
  if (record.mountpoint !== undefined) result.mountpoint = record.mountpoint;
  if (record.mountId !== undefined) result.mountId = record.mountId;
  return result;
}

// ---------------------------------------------------------------- views

/** True when V has a claim or a node state to show (list() skips epoch-only records). */
export function isActive(volume: VolumeRecord): boolean {
  return volume.holders.length > 0 || volume.nodes.some((n) => n.state !== 'absent');
}

export function view(volume: VolumeRecord, now: number): VolumeView {
  return {
    driver: volume.driver,
    name: volume.name,
    mode: volume.mode,
    epoch: volume.epoch,
    holders: volume.holders.map((h) => ({ token: h.token, node: h.node, task: h.task, role: h.role, expiresInMs: h.expiresAt - now })),
    nodes: volume.nodes.map((n) => {
      const out: VolumeView['nodes'][number] = { node: n.node, state: n.state };
      if (n.performer !== undefined) out.performer = n.performer;
      if (n.mountpoint !== undefined) out.mountpoint = n.mountpoint;
      if (n.mountId !== undefined) out.mountId = n.mountId;
      return out;
    }),
  };
}

// ---------------------------------------------------------------- per-node presence

/**
 * True when `node` appears in V: a holder entry (live or expired, holder or unmounter) or a node
 * state other than absent. These are the volumes a node's own work touches (its sweep, reap,
 * renewals), so the Redis store keeps them in a per-node index; `nodeVolumes` is its definition.
 */
export function hasPresence(volume: VolumeRecord, node: string): boolean {
  return volume.holders.some((h) => h.node === node) || volume.nodes.some((n) => n.node === node && n.state !== 'absent');
}

// ---------------------------------------------------------------- record shape

const MAX_SAFE = 2 ** 53;
const MAX_TEXT = 4096;
const NODE_STATES: ReadonlySet<unknown> = new Set(['absent', 'mounting', 'mounted', 'unmounting']);
const ROLES: ReadonlySet<unknown> = new Set(['holder', 'unmounter']);
const MODES: ReadonlySet<unknown> = new Set(['exclusive', 'shared']);

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= MAX_SAFE;
const isText = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= MAX_TEXT;
const isOptText = (x: unknown): boolean => x === undefined || isText(x);

/**
 * undefined when `value` has the shape of a VolumeRecord, else what is wrong. The same rules as
 * lua/includes/record-shape.lua (there an empty JSON object also reads as an empty list, since
 * Lua's cjson writes an empty list as {}; `normalizeLuaLists` undoes that before this check).
 */
export function recordShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const v = value as Record<string, unknown>;
  if (!isCount(v.epoch)) return 'epoch is not a non-negative integer';
  if (typeof v.driver !== 'string' || typeof v.name !== 'string') return 'driver/name are not strings';
  if (v.mode !== undefined && !MODES.has(v.mode)) return 'mode is not exclusive/shared';
  if (v.lastGrantNode !== undefined && !isText(v.lastGrantNode)) return 'lastGrantNode is not a string';
  if (!Array.isArray(v.holders)) return 'holders is not a list';
  if (!Array.isArray(v.nodes)) return 'nodes is not a list';
  for (const h of v.holders as unknown[]) {
    if (typeof h !== 'object' || h === null) return 'a holder is not an object';
    const r = h as Record<string, unknown>;
    if (!isText(r.token) || !isText(r.node)) return 'a holder lacks token/node strings';
    if (typeof r.task !== 'string' || r.task.length > MAX_TEXT) return 'a holder task is not a string';
    if (!ROLES.has(r.role)) return 'a holder role is not holder/unmounter';
    if (!isCount(r.expiresAt)) return 'a holder expiresAt is not a time';
  }
  for (const n of v.nodes as unknown[]) {
    if (typeof n !== 'object' || n === null) return 'a node entry is not an object';
    const r = n as Record<string, unknown>;
    if (!isText(r.node)) return 'a node entry lacks its node';
    if (!NODE_STATES.has(r.state)) return 'a node state is not absent/mounting/mounted/unmounting';
    if (!isCount(r.lastLiveAt)) return 'a node lastLiveAt is not a time';
    if (!isOptText(r.performer) || !isOptText(r.mountId) || !isOptText(r.staleMountId)) return 'a node performer/mountId is not a string';
    if (r.mountpoint !== undefined && (typeof r.mountpoint !== 'string' || r.mountpoint.length > MAX_TEXT)) return 'a node mountpoint is not a string';
  }
  return undefined;
}

/** Lua's cjson writes an empty list as {}: read an empty object in a list field as []. */
export function normalizeLuaLists(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const v = value as Record<string, unknown>;
  for (const field of ['holders', 'nodes']) {
    const x = v[field];
    if (typeof x === 'object' && x !== null && !Array.isArray(x) && Object.keys(x).length === 0) v[field] = [];
  }
  return value;
}
