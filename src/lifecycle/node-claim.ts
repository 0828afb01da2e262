// The node-level claim of a short-lived caller (dvdcli, run by Mesos agents): ONE claim per
// (node, driver, volume) in the same RefcountStore the sidecars use, under a deterministic token,
// so that repeated `mount`s find the same claim and an `unmount` from another process can
// release it. Mounting goes through the store exactly like a sidecar's attach (the first user
// of the node performs Get/Create?/Mount/bind/markMounted; others join), and unmounting only
// through the store's `unmount` answer, so sidecars and dvdcli on one node share the mount and
// whoever is last unmounts. Nobody stays alive to renew the lease: the claim is acquired with
// the ordinary (short) TTL, so quarantine and grace rules are the sidecars', and then renewed
// once to `claimTtlMs`; every later `mount` (and `dvdcli renew`) renews it again.
import { createHash } from 'node:crypto';
import { describeError } from '../common/errors.js';
import { cleanExternalText as clean } from '../common/external-text.js';
import type { Logger } from '../common/logger.js';
import type { HolderRef, VolumeKey } from '../refcount/refcount-store.js';
import { LeaseLostError } from './lifecycle-errors.js';
import { VolumeLifecycle, everyInterval, storeCall, type Claim, type Granted, type LifecycleDeps } from './volume-lifecycle.js';

/** The `task` recorded for node-level claims (dvdi status shows it). */
export const NODE_CLAIM_TASK = 'dvdcli';

/** The core's dependencies (store, drivers, ledger, clock, logger; a mounter when a root is usable) and the claim's policy. */
export interface NodeClaimOptions extends Omit<LifecycleDeps, 'undoTimeoutMs'> {
  node: string;
  /** true: `mount` binds at ROOT/<name> and answers that path; false: answers the plugin's mountpoint. */
  bindMode: boolean;
  /** Lease of the acquire itself (DVDI_LEASE_TTL_MS, as the sidecars). */
  acquireTtlMs: number;
  /** Lease the claim keeps once mounted (nobody renews it in between). */
  claimTtlMs: number;
  acquireTimeoutMs: number;
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** Budget for undo steps after a failure or an abort (they must not outlive the caller's kill). */
  undoTimeoutMs?: number;
}

export interface NodeMountRequest extends VolumeKey {
  opts: Readonly<Record<string, string>>;
  explicitCreate: boolean;
}

export interface NodeMountResult {
  /** What the caller uses: ROOT/<name> in bind mode, else the plugin's mountpoint. */
  path: string;
  /** The plugin's mountpoint. */
  mountpoint: string;
  /** false when this call performed the driver Mount. */
  joined: boolean;
}

export type NodeUnmountOutcome =
  /** This node no longer has the volume mounted (this call unmounted it). */
  | 'unmounted'
  /** The claim is gone; another holder on this node (a sidecar) keeps the volume mounted. */
  | 'released'
  /** There was no claim and another live holder on this node keeps the volume. */
  | 'busy'
  /** Nothing was mounted on this node for the volume. */
  | 'not-mounted';

/** Deterministic per (node, driver, name): it is also the driver Mount ID of a mount it performs. */
export function nodeClaimToken(node: string, driver: string, name: string): string {
  const digest = createHash('sha256').update(`${node}\n${driver}\n${name}`).digest('hex').slice(0, 32);
  return `dvdcli-${digest}`;
}

export class NodeClaims {
  private readonly core: VolumeLifecycle;

  constructor(private readonly options: NodeClaimOptions) {
    const { store, drivers, mounter, ledger, clock, logger } = options;
    this.core = new VolumeLifecycle({ store, drivers, mounter, ledger, clock, logger, undoTimeoutMs: this.undoTimeoutMs() });
  }

  ref(key: VolumeKey): HolderRef {
    return { driver: key.driver, name: key.name, node: this.options.node, token: nodeClaimToken(this.options.node, key.driver, key.name) };
  }

  /** Idempotent per node: a second call renews the same claim and answers the same path. */
  async mount(request: NodeMountRequest, signal: AbortSignal): Promise<NodeMountResult> {
    const ref = this.ref(request);
    const log = this.options.logger.child({ volume: request.name, driver: request.driver });
    const before = await this.storeCall('inspect', request.name, () => this.options.store.inspect(request));
    const own = before?.holders.find((h) => h.token === ref.token && h.node === ref.node);
    if (own?.role === 'unmounter') {
      // An earlier `unmount` of ours stopped half-way: finish it, then claim afresh.
      log.warn('an earlier unmount of this node did not finish; finishing it before mounting');
      await this.unmount(request, signal);
    }
    const hadClaim = own?.role === 'holder' && own.expiresInMs > 0;
    // Registered by this call's answers only: giving up drops what this call registered, never an earlier claim.
    const claim: Claim = { ref, registered: false };
    const granted = await this.acquire(claim, signal, log);
    try {
      const target = this.options.bindMode ? await this.core.target(request.name) : undefined;
      const mountpoint = await this.attach(claim, granted, request, target, signal, log);
      const renewed = await this.storeCall('renew', request.name, () => this.options.store.renew(ref, this.options.claimTtlMs));
      if (renewed.kind !== 'ok') throw new LeaseLostError(request.name, request.driver, 'while mounting');
      const joined = granted.kind === 'join';
      const path = target ?? mountpoint;
      log.info({ path, mountpoint, joined, claimTtlMs: this.options.claimTtlMs }, joined ? 'volume already mounted on this node; claim held' : 'volume mounted; claim held');
      return { path, mountpoint, joined };
    } catch (error) {
      if (granted.kind === 'join' && !hadClaim) {
        // A fresh claim that could not be completed must not stay behind and pin the volume.
        await this.unmount(request, AbortSignal.timeout(this.undoTimeoutMs())).catch((undoError: unknown) =>
          log.error({ err: describeError(undoError) }, 'could not drop the claim after a failed join'),
        );
      }
      throw error;
    }
  }

  /** Drop this node's claim; unmount when the store names us the node's last user. */
  async unmount(key: VolumeKey, signal: AbortSignal): Promise<NodeUnmountOutcome> {
    const ref = this.ref(key);
    const log = this.options.logger.child({ volume: key.name, driver: key.driver });
    const target = await this.core.target(key.name);
    const released = await this.core.release({ ref, registered: true }, target, signal);
    if (released === 'unmounted') {
      log.info('last user on this node: volume unmounted');
      return 'unmounted';
    }
    if (released === 'released') {
      log.info('claim released; another holder on this node keeps the volume mounted');
      return 'released';
    }
    // No claim of ours (never taken, expired and reaped, or the store lost it): the caller says
    // nobody on its side uses the volume any more, so unmount unless a live holder here does.
    // The claim's own token: a retried `unmount` finds the unmounter role it left behind.
    const claim = await this.core.takeOver(key, this.options.node, this.options.acquireTtlMs, target, signal, ref);
    if (claim.kind === 'busy') {
      log.info('no dvdcli claim on this node; another live holder keeps the volume mounted');
      return 'busy';
    }
    if (claim.kind === 'absent') {
      log.info('no dvdcli claim and nothing mounted on this node');
      return 'not-mounted';
    }
    log.info('no dvdcli claim, no other holder: volume unmounted');
    return 'unmounted';
  }

  /** Renew every dvdcli claim of this node (the `renew` extension, run from a timer). The
   * answer names the volumes for the caller's output: they come from the node's index, which
   * anyone who can write to the store shapes (the claim's token is no secret), so cleaned. */
  async renewAll(): Promise<{ renewed: string[]; lost: string[] }> {
    const volumes = await this.storeCall('list', '*', () => this.options.store.listNode(this.options.node));
    const renewed: string[] = [];
    const lost: string[] = [];
    for (const view of volumes) {
      const ref = this.ref(view);
      const own = view.holders.find((h) => h.token === ref.token && h.node === ref.node && h.role === 'holder');
      if (own === undefined) continue;
      const result = await this.storeCall('renew', view.name, () => this.options.store.renew(ref, this.options.claimTtlMs));
      (result.kind === 'ok' ? renewed : lost).push(`${clean(view.driver)}/${clean(view.name)}`);
    }
    return { renewed, lost };
  }

  // ---------------------------------------------------------------------------------------------

  private undoTimeoutMs(): number {
    return this.options.undoTimeoutMs ?? 9000;
  }

  /** Perform the node's mount (keeping the short lease alive meanwhile) or join it; the mountpoint. */
  private async attach(claim: Claim, granted: Granted, request: NodeMountRequest, target: string | undefined, signal: AbortSignal, log: Logger): Promise<string> {
    if (granted.kind === 'join') return (await this.core.join(granted, request, this.options.node, target, false)).mountpoint;
    // A slow attach must not lose the short lease; if this process is killed mid-mount, it ends
    // soon and another holder takes over.
    const keeper = new AbortController();
    const keeping = this.keepLease(claim.ref, keeper.signal, log);
    try {
      const spec = { ...request, explicitCreateReason: 'explicit create is on (--explicitcreate)', preempt: false, readOnly: false };
      return await this.core.performMount(claim, spec, granted.staleMountId, target, signal, log);
    } finally {
      keeper.abort();
      await keeping;
    }
  }

  private keepLease(ref: HolderRef, stop: AbortSignal, log: Logger): Promise<void> {
    // A lost lease shows at markMounted; a store hiccup is retried at the next tick.
    return everyInterval(this.options.clock, Math.max(100, Math.floor(this.options.acquireTtlMs / 3)), stop, async () => {
      await this.options.store.renew(ref, this.options.acquireTtlMs).catch((error: unknown) => log.warn({ err: describeError(error) }, 'lease renewal during mount failed'));
    });
  }

  private storeCall<T>(operation: string, volume: string, work: () => Promise<T>): Promise<T> {
    return storeCall(this.options.store, operation, volume, work);
  }

  /** The core's acquire; the policy: exclusive, never preempting, the ordinary TTL, no extra patience. */
  private acquire(claim: Claim, signal: AbortSignal, log: Logger): Promise<Granted> {
    const { acquireTtlMs, acquireTimeoutMs, pollInitialMs, pollMaxMs } = this.options;
    return this.core.acquire(claim, { task: NODE_CLAIM_TASK, mode: 'exclusive', preempt: false, ttlMs: acquireTtlMs, timeoutMs: acquireTimeoutMs, busyTimeoutMs: 0, pollInitialMs, pollMaxMs }, signal, log);
  }
}
