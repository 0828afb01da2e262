// The RefcountStore: who holds which volume on which node, under leases, and which holder
// performs each mount-state transition on a node. Two implementations honour this contract —
// the embedded file store (one node, no Redis) and the Redis store (many nodes, Lua scripts) —
// and test/contract/ runs one suite against both.
//
// Model, per volume V (key: driver + name):
//   holders   token → { node, task, role, expiresAt }   role 'holder' = a task using V,
//             role 'unmounter' = the last holder of a node (or a reconciler) performing the unmount
//   mode      'exclusive' | 'shared', fixed by the first claim while holders exist
//   epoch     increases whenever an exclusive V is granted to a node other than the last one
//   nodes     node → { state, performer?, mountpoint?, lastLiveAt }
//             state: absent → mounting(performer) → mounted(mountpoint) → unmounting(performer) → absent
// The driver Mount ID of a node's mount is the performer's token: it is recorded (state
// mounting) *before* the driver is called, so whoever takes over after a crash knows which ID
// to Unmount and the plugin's per-ID count stays consistent (one Unmount per Mount).
// Time is the store's own (Redis TIME, or the embedded store's injected clock); callers pass
// durations, never timestamps. Every operation is idempotent per token.

export type AccessMode = 'exclusive' | 'shared';
export type NodeMountState = 'absent' | 'mounting' | 'mounted' | 'unmounting';
export type HolderRole = 'holder' | 'unmounter';

export interface VolumeKey {
  driver: string;
  name: string;
}

export interface HolderRef extends VolumeKey {
  node: string;
  /** Random per claim; identifies the holder in every later call. */
  token: string;
}

export interface AcquireRequest extends HolderRef {
  task: string;
  mode: AccessMode;
  /** Take an exclusive volume from other nodes: revoke their holders, increase the epoch. */
  preempt: boolean;
  ttlMs: number;
  /**
   * Another node whose state is not `absent` but which has had no live holder for longer than
   * this no longer blocks an exclusive grant (its orphan is its reconciler's business and the
   * storage backend is the hard fence). Default: 3 × ttlMs.
   */
  orphanGraceMs?: number;
  /**
   * Re-registration after the store lost its data (renew answered `missing`): this holder had
   * V mounted on this node with this mount ID. When the record is absent, the acquire recreates
   * the holder and the node state `mounted(mountpoint, mountId)` and answers `join`; quarantine
   * does not apply to a node re-registering what it already has. If V meanwhile belongs to
   * another node, the ordinary answers (`held`, …) apply and the caller fences itself.
   */
  reclaim?: {
    mountpoint: string;
    mountId: string;
    /** The epoch this holder last saw (acquire or renew). A recreated record starts from it, so
     * the fencing token never goes back and the holder's own epoch stays valid. */
    epoch?: number;
  };
}

/** What the caller must do after `acquire`. */
export type AcquireResult =
  /** Registered, and this holder performs the mount: state is now mounting(by this token), and
   * the token is the driver Mount ID. `staleMountId`: a dead performer's ID whose driver Mount
   * may have happened; Unmount it (unknown IDs succeed) before mounting. `preempted`: the nodes
   * whose holders this acquire revoked (preempt only). */
  | { kind: 'mount'; epoch: number; staleMountId?: string; preempted?: string[] }
  /** Registered; V is already mounted on this node at `mountpoint`: use it, no driver Mount. */
  | { kind: 'join'; epoch: number; mountpoint: string }
  /** Registered; another holder of this node is mounting or unmounting: call acquire again later. */
  | { kind: 'wait'; epoch: number; state: NodeMountState; performer: string }
  /** Not registered: exclusive V is held by other node(s); call again later or give up. */
  | { kind: 'held'; nodes: string[] }
  /** Not registered: V is held with the other access mode. */
  | { kind: 'mode-conflict'; mode: AccessMode }
  /** Not registered: the store lost its data recently; no new exclusive grant until `retryInMs`. */
  | { kind: 'quarantine'; retryInMs: number };

export type RenewResult =
  | { kind: 'ok'; epoch: number; expiresInMs: number }
  /** The lease is gone from a record that exists: expired or revoked by a preemption. Fence. */
  | { kind: 'lost' }
  /**
   * The volume's whole record is gone although this holder's lease was live: the store lost
   * data (Redis restarted without persistence, failover to a replica that had not caught up).
   * Re-register with `acquire({ …, reclaim })` instead of fencing. The embedded store never
   * answers this.
   */
  | { kind: 'missing' };

export type MarkResult = { kind: 'ok' } | { kind: 'lost' } | { kind: 'not-performer'; state: NodeMountState; performer?: string };

export type ReleaseResult =
  /** This was the last live holder on the node: it is now the unmounter (lease kept) and must
   * unmount, then call markUnmounted. `mountpoint` is what the node had mounted. */
  | { kind: 'unmount'; mountpoint?: string; mountId?: string }
  /** Other holders remain on this node (or V was not mounted here): nothing to unmount. */
  | { kind: 'released' }
  /** The token was not (or no longer) registered: nothing to do. */
  | { kind: 'unknown' };

export type ClaimUnmountResult =
  /** The caller now performs the unmount of an orphaned node state. */
  | { kind: 'unmount'; state: NodeMountState; mountpoint?: string; mountId?: string }
  /** Live holders exist on this node, or a live performer is already at work. */
  | { kind: 'busy' }
  /** Nothing mounted on this node for V. */
  | { kind: 'absent' };

export interface NodeView {
  node: string;
  state: NodeMountState;
  performer?: string;
  mountpoint?: string;
  /** Driver Mount ID of the current mount (the token of the holder that mounted). */
  mountId?: string;
}

export interface HolderView {
  token: string;
  node: string;
  task: string;
  role: HolderRole;
  /** Remaining lease; negative when expired but not yet reaped. */
  expiresInMs: number;
}

export interface VolumeView extends VolumeKey {
  mode: AccessMode | undefined;
  epoch: number;
  holders: HolderView[];
  nodes: NodeView[];
}

export interface RefcountStore {
  /** `embedded`, `redis` (one server or Sentinel) or `redis-cluster`, for metrics and /status. */
  readonly backend: string;
  /** Same token again: re-evaluates the node state and renews the lease (polling while `wait`);
   * an expired token is judged as a new claim, never revived. */
  acquire(request: AcquireRequest): Promise<AcquireResult>;
  /** Performer reports the driver Mount + bind done. */
  markMounted(ref: HolderRef, mountpoint: string): Promise<MarkResult>;
  /** Performer gives up a mount it could not complete: state back to absent, holder removed. */
  abortMount(ref: HolderRef): Promise<MarkResult>;
  /** `lost` as soon as the lease has ended, even before it is reaped. */
  renew(ref: HolderRef, ttlMs: number): Promise<RenewResult>;
  /** An expired holder gets `unknown` (it is dropped, never made the unmounter); a retried
   * release of the holder that became the unmounter repeats its `unmount`. */
  release(ref: HolderRef): Promise<ReleaseResult>;
  /** Unmounter reports the unmount done: state absent, its entry removed. Accepted from the
   * recorded performer even after its lease ended or was revoked (it grants nothing). */
  markUnmounted(ref: HolderRef): Promise<MarkResult>;
  /** Remove this node's expired holders; returns the volumes whose node state now has no live holder
   * (every such volume, not only those where this call removed something). Costs O(this node's
   * volumes) (the Redis store walks the node's index, not the cluster's). */
  reap(node: string): Promise<VolumeKey[]>;
  /** Reconciler takes over the unmount of V on `node` when nobody live holds or performs there. */
  claimUnmount(ref: HolderRef, ttlMs: number): Promise<ClaimUnmountResult>;
  /** Read-only views for /status, metrics and `dvdi status`. `inspect` knows every volume ever
   * claimed (its epoch outlives the holders); `list` shows those with a holder or a node state
   * other than absent. */
  inspect(volume: VolumeKey): Promise<VolumeView | undefined>;
  /** Cluster-wide and on demand only (`dvdi status`): never from a timer, since its cost grows
   * with the cluster. The Redis store reads it in pages. */
  list(): Promise<VolumeView[]>;
  /** The volumes in which `node` has a presence (a holder entry, live or expired, or a node
   * state other than absent): what the node's own timers (its sweep, renewals) need, at a cost
   * of O(that node's volumes) whatever the size of the cluster. */
  listNode(node: string): Promise<VolumeView[]>;
  /** Of `volumes` (what the node itself remembers mounting: its mount ledger), those whose record
   * shows a presence of `node`, each put back into the node's index where it was missing: on
   * Redis Cluster the index's slot can lose a write (a failover) that the record's slot kept,
   * and listNode and reap would never see that volume again once its holders stop renewing.
   * Costs O(volumes). The embedded store has no separate index: a filter like listNode. */
  reindexNode(node: string, volumes: readonly VolumeKey[]): Promise<VolumeView[]>;
  /** True when the backend answers now (Redis PING; the embedded store: its file is usable). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
