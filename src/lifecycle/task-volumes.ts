// The use cases of one task's volumes: attach (acquire → Create? → Mount → bind → markMounted),
// keep leases alive, fence on a lost lease, detach (release → the last user on the node unmounts
// lazily and calls driver Unmount exactly once). Every completed step has an undo, run in
// reverse when a later step fails, so nothing half-mounted stays behind; and the node-level
// unmount only ever happens through the store's `unmount` answer, so nothing is unmounted that
// another holder still uses. The volumes are the task's own (validated config); node IDs in
// store answers are the record's, shown in logs through common/external-text.ts.
import { randomUUID } from 'node:crypto';
import { describeError } from '../common/errors.js';
import { cleanExternalList } from '../common/external-text.js';
import type { Logger } from '../common/logger.js';
import type { SidecarMetrics } from '../metrics/sidecar-metrics.js';
import type { HolderRef, VolumeView } from '../refcount/refcount-store.js';
import { beatsOf, freshBeats } from './holder-beats.js';
import { LeaseLostError } from './lifecycle-errors.js';
import type { MounterPort, VolumeRequest } from './ports.js';
import { VolumeLifecycle, everyInterval, type Granted, type LifecycleDeps } from './volume-lifecycle.js';

export type VolumeState = 'acquiring' | 'waiting' | 'mounting' | 'ready' | 'releasing' | 'released' | 'fenced' | 'failed';

interface TrackedVolume {
  request: VolumeRequest;
  ref: HolderRef;
  hostPath: string;
  state: VolumeState;
  /** True while the store has this token as holder or unmounter: the lease keeper renews it. */
  registered: boolean;
  mountpoint?: string;
  /** Driver Mount ID of this node's mount (the performer's token), for re-registration. */
  mountId?: string;
  epoch?: number;
  /** Monotonic ms of the last successful renewal (or acquire). */
  lastLeaseAt?: number;
  /** Set when a renewal failed to reach the store; cleared by the next successful one. */
  storeFailedSinceLastRenew?: boolean;
}

export interface TaskVolumesOptions extends LifecycleDeps {
  node: string;
  task: string;
  leaseTtlMs: number;
  acquireTimeoutMs: number;
  /** How long a joiner waits for another task of this node that is mounting (on top of acquireTimeoutMs). */
  mountTimeoutMs: number;
  /** The sidecar always has a preflighted mount root. */
  mounter: MounterPort;
  metrics?: SidecarMetrics;
  /** Poll interval bounds while waiting for another holder (ms; default 100 doubling to 250). */
  pollInitialMs?: number;
  pollMaxMs?: number;
}

export interface VolumeStatus {
  name: string;
  driver: string;
  access: string;
  readOnly: boolean;
  containerPath?: string | undefined;
  state: VolumeState;
  hostPath: string;
  mountpoint?: string | undefined;
  epoch?: number | undefined;
  leaseExpiresInMs?: number | undefined;
  holders?: { node: number; cluster: number };
  nodes?: Array<{ node: string; state: string }>;
}

export class TaskVolumes {
  private readonly volumes: TrackedVolume[] = [];
  private attachedAll = false;
  private fenced = false;
  private readonly core: VolumeLifecycle;
  /** The beat being written, if any: a forget waits for it, so no beat outlives its forget. */
  private beating: Promise<void> = Promise.resolve();

  constructor(private readonly options: TaskVolumesOptions) {
    const { store, drivers, mounter, ledger, clock, logger, undoTimeoutMs, mountTable } = options;
    this.core = new VolumeLifecycle({ store, drivers, mounter, ledger, clock, logger, undoTimeoutMs, mountTable });
  }

  /** Attach every request in order; on any failure undo all of them and rethrow. */
  async attachAll(requests: readonly VolumeRequest[], signal: AbortSignal): Promise<void> {
    try {
      for (const request of requests) await this.attachOne(request, signal);
      this.attachedAll = true;
      this.options.metrics?.ready.set(1);
      await this.refreshHolderGauges();
    } catch (error) {
      this.options.logger.error({ err: describeError(error) }, 'attach failed; undoing every completed step');
      await this.detachAll();
      throw error;
    }
  }

  /** Release every registered volume, newest first. Errors are logged and collected, never thrown. */
  async detachAll(): Promise<{ failures: Array<{ volume: string; error: unknown }> }> {
    this.attachedAll = false;
    this.options.metrics?.ready.set(0);
    const failures: Array<{ volume: string; error: unknown }> = [];
    for (const volume of [...this.volumes].reverse()) {
      try {
        await this.releaseOne(volume);
      } catch (error) {
        failures.push({ volume: volume.request.name, error });
        this.options.logger.error(
          { volume: volume.request.name, err: describeError(error) },
          'release failed; the reconciler will finish it once the lease expires',
        );
      }
    }
    return { failures };
  }

  /**
   * Renew every registered lease once. Returns the volumes whose lease is lost (fence them);
   * a store error leaves mounts in place and is retried at the next tick.
   */
  async renewAll(): Promise<{ lost: string[]; storeError?: unknown }> {
    const lost: string[] = [];
    let storeError: unknown;
    for (const volume of this.volumes) {
      if (!volume.registered || volume.state === 'fenced') continue;
      try {
        const result = await this.options.store.renew(volume.ref, this.options.leaseTtlMs);
        this.options.metrics?.storeUp.set({ backend: this.options.store.backend }, 1);
        // An attach that failed meanwhile is undoing this claim: its own error is the outcome,
        // not a lost lease (the undo removes the holder the renewal was about).
        if (!volume.registered) continue;
        if (result.kind === 'ok') {
          volume.lastLeaseAt = this.options.clock.monotonic();
          volume.epoch = result.epoch;
          volume.storeFailedSinceLastRenew = false;
          this.options.metrics?.leaseRenewals.inc({ outcome: 'ok' });
        } else if (
          // The store lost the record (data loss), or the lease lapsed while the store could not
          // be reached (an outage, a Sentinel failover): neither is a revocation. Re-register
          // what this node still has; the store refuses if the volume went elsewhere meanwhile.
          (result.kind === 'missing' || volume.storeFailedSinceLastRenew === true) &&
          (await this.reregister(volume, result.kind === 'missing' ? 'the store lost the volume record (data loss)' : 'the lease lapsed while the store was unreachable'))
        ) {
          volume.storeFailedSinceLastRenew = false;
          this.options.metrics?.leaseRenewals.inc({ outcome: 'ok' });
        } else {
          this.options.metrics?.leaseRenewals.inc({ outcome: 'lost' });
          lost.push(volume.request.name);
        }
      } catch (error) {
        storeError = error;
        volume.storeFailedSinceLastRenew = true;
        this.options.metrics?.leaseRenewals.inc({ outcome: 'error' });
        this.options.metrics?.storeUp.set({ backend: this.options.store.backend }, 0);
        this.options.logger.warn({ volume: volume.request.name, err: describeError(error) }, 'lease renewal failed; mounts kept, retrying');
      }
    }
    return storeError === undefined ? { lost } : { lost, storeError };
  }

  /**
   * Keep leases alive every TTL/3 until `signal` aborts. Calls `onLost` once with the first lost
   * volume's error; the caller fences and exits 5.
   */
  async keepLeases(signal: AbortSignal, onLost: (error: LeaseLostError) => void): Promise<void> {
    const interval = Math.max(100, Math.floor(this.options.leaseTtlMs / 3));
    // The beats run on their own loop: a renewal that waits for an unreachable store (up to the
    // command timeout, per volume) must not make this live holder look dead to its node.
    const stopBeats = new AbortController();
    const beats = everyInterval(this.options.clock, interval, AbortSignal.any([signal, stopBeats.signal]), () => this.beatAll());
    try {
      await everyInterval(this.options.clock, interval, signal, async () => {
        const { lost } = await this.renewAll();
        await this.refreshHolderGauges();
        const first = lost[0];
        if (first === undefined) return true;
        const volume = this.volumes.find((v) => v.request.name === first);
        onLost(new LeaseLostError(first, volume?.request.driver ?? '?', 'while running'));
        return false;
      });
    } finally {
      stopBeats.abort();
      await beats;
    }
  }

  /**
   * Beat for every ready claim (ports.ts HolderBeatPort): this process still uses the volume and
   * keeps (or re-registers) its lease, whether the store answers or not. A failed beat is
   * logged; the next one tries again.
   */
  async beatAll(): Promise<void> {
    const { holders, clock, logger } = this.options;
    if (holders === undefined || this.fenced) return;
    const beating = (async () => {
      for (const volume of this.volumes) {
        if (volume.state !== 'ready' || !volume.registered) continue;
        await holders.beat({ driver: volume.request.driver, name: volume.request.name, token: volume.ref.token, beatAt: clock.now() }).catch((error: unknown) => {
          logger.warn({ volume: volume.request.name, err: describeError(error) }, 'could not write this holder\'s beat; retrying');
        });
      }
    })();
    this.beating = beating;
    await beating;
  }

  /** This claim no longer keeps the volume: its beat goes (after one being written, if any). */
  private async forgetBeat(volume: TrackedVolume): Promise<void> {
    const { holders, logger } = this.options;
    if (holders === undefined) return;
    await this.beating;
    await holders.forget(volume.ref.token).catch((error: unknown) => logger.warn({ volume: volume.request.name, err: describeError(error) }, 'could not forget this holder\'s beat; it goes stale within a lease TTL'));
  }

  /**
   * Self-fencing: not ready any more; each volume whose lease is gone is unmounted on this node
   * unless another live holder here keeps it (the store decides through claimUnmount).
   */
  async fence(): Promise<void> {
    this.fenced = true;
    this.attachedAll = false;
    this.options.metrics?.ready.set(0);
    for (const volume of [...this.volumes].reverse()) {
      if (!volume.registered) continue;
      // Fencing gives the volume up: the node's sweep may take it over from here on.
      await this.forgetBeat(volume);
      const renewed = await this.options.store.renew(volume.ref, this.options.leaseTtlMs).catch(() => undefined);
      if (renewed?.kind === 'ok') {
        // Still ours (only another volume was lost): release it normally.
        await this.releaseOne(volume).catch((error: unknown) =>
          this.options.logger.error({ volume: volume.request.name, err: describeError(error) }, 'release while fencing failed'),
        );
        continue;
      }
      volume.state = 'fenced';
      volume.registered = false;
      this.options.metrics?.volumeMounted.set({ volume: volume.request.name, driver: volume.request.driver }, 0);
      await this.takeOverUnmount(volume).catch((error: unknown) =>
        this.options.logger.error({ volume: volume.request.name, err: describeError(error) }, 'unmount while fencing failed; left for the reconciler'),
      );
    }
  }

  readiness(): { ready: boolean; volumes: Array<{ name: string; driver: string; state: string; hostPath: string }> } {
    return {
      ready: this.attachedAll && !this.fenced && this.volumes.every((v) => v.state === 'ready'),
      volumes: this.volumes.map((v) => ({ name: v.request.name, driver: v.request.driver, state: v.state, hostPath: v.hostPath })),
    };
  }

  /** Per-volume status for /status; reads the store for holder counts (no option values). */
  async status(): Promise<VolumeStatus[]> {
    const now = this.options.clock.monotonic();
    const out: VolumeStatus[] = [];
    for (const volume of this.volumes) {
      const view = await this.options.store.inspect({ driver: volume.request.driver, name: volume.request.name }).catch(() => undefined);
      out.push({
        name: volume.request.name,
        driver: volume.request.driver,
        access: volume.request.access,
        readOnly: volume.request.readOnly,
        containerPath: volume.request.containerPath,
        state: volume.state,
        hostPath: volume.hostPath,
        mountpoint: volume.mountpoint,
        epoch: view?.epoch ?? volume.epoch,
        leaseExpiresInMs: volume.registered && volume.lastLeaseAt !== undefined ? Math.round(volume.lastLeaseAt + this.options.leaseTtlMs - now) : undefined,
        ...(view ? { holders: this.countHolders(view), nodes: view.nodes.map((n) => ({ node: n.node, state: n.state })) } : {}),
      });
    }
    return out;
  }

  async refreshHolderGauges(): Promise<void> {
    const metrics = this.options.metrics;
    if (!metrics) return;
    for (const volume of this.volumes) {
      const view = await this.options.store.inspect({ driver: volume.request.driver, name: volume.request.name }).catch(() => undefined);
      if (!view) continue;
      const counts = this.countHolders(view);
      metrics.volumeHolders.set({ volume: volume.request.name, scope: 'node' }, counts.node);
      metrics.volumeHolders.set({ volume: volume.request.name, scope: 'cluster' }, counts.cluster);
    }
  }

  private countHolders(view: VolumeView): { node: number; cluster: number } {
    const live = view.holders.filter((h) => h.role === 'holder' && h.expiresInMs > 0);
    return { node: live.filter((h) => h.node === this.options.node).length, cluster: live.length };
  }

  // ---------------------------------------------------------------------------------------------

  private async attachOne(request: VolumeRequest, signal: AbortSignal): Promise<void> {
    const { clock, logger, metrics } = this.options;
    const volume: TrackedVolume = {
      request,
      ref: { driver: request.driver, name: request.name, node: this.options.node, token: randomUUID() },
      hostPath: await this.options.mounter.volumePath(request.name),
      state: 'acquiring',
      registered: false,
    };
    this.volumes.push(volume);
    const started = clock.monotonic();
    const log = logger.child({ volume: request.name, driver: request.driver });
    const outcome = (ok: boolean) =>
      metrics?.mountDuration.observe({ driver: request.driver, outcome: ok ? 'ok' : 'error' }, (clock.monotonic() - started) / 1000);
    try {
      const granted = await this.acquire(volume, signal, log);
      metrics?.acquireWait.observe({ volume: request.name }, (clock.monotonic() - started) / 1000);
      if (granted.kind === 'mount') {
        if ((granted.preempted?.length ?? 0) > 0) {
          log.warn({ preempted: cleanExternalList(granted.preempted ?? []) }, 'preempted the volume from other nodes');
          metrics?.preemptions.inc({ volume: request.name });
        }
        await this.performMount(volume, granted.staleMountId, signal, log);
      } else {
        await this.join(volume, granted, log);
      }
      volume.state = 'ready';
      await this.beatAll();
      metrics?.volumeMounted.set({ volume: request.name, driver: request.driver }, 1);
      outcome(true);
      log.info({ hostPath: volume.hostPath, mountpoint: volume.mountpoint, ms: Math.round(clock.monotonic() - started) }, 'volume ready');
    } catch (error) {
      if (volume.state !== 'released') volume.state = 'failed';
      outcome(false);
      throw error;
    }
  }

  /** Acquire through the core; the policy: this task's mode and preempt, a joiner's extra patience. */
  private acquire(volume: TrackedVolume, signal: AbortSignal, log: Logger): Promise<Granted> {
    const { request } = volume;
    return this.core.acquire(
      volume,
      {
        task: this.options.task,
        mode: request.access,
        preempt: request.preempt,
        ttlMs: this.options.leaseTtlMs,
        timeoutMs: this.options.acquireTimeoutMs,
        // Another task of this node is mounting: it gets the Mount's own limit on top.
        busyTimeoutMs: this.options.mountTimeoutMs,
        pollInitialMs: this.options.pollInitialMs,
        pollMaxMs: this.options.pollMaxMs,
        onAnswer: (result) => {
          if (result.kind === 'held' || result.kind === 'quarantine' || result.kind === 'wait') volume.state = 'waiting';
          if (result.kind === 'mount' || result.kind === 'join' || result.kind === 'wait') {
            volume.epoch = result.epoch;
            volume.lastLeaseAt = this.options.clock.monotonic();
          }
        },
      },
      signal,
      log,
    );
  }

  /** This holder is the node's performer: the core's performMount, bound at ROOT/<name>. */
  private async performMount(volume: TrackedVolume, staleMountId: string | undefined, signal: AbortSignal, log: Logger): Promise<void> {
    const { request, hostPath } = volume;
    volume.state = 'mounting';
    try {
      volume.mountpoint = await this.core.performMount(
        volume,
        { ...request, explicitCreateReason: 'DVDI_VOLUME_EXPLICITCREATE is true' },
        staleMountId,
        hostPath,
        signal,
        log,
      );
      volume.mountId = volume.ref.token;
    } catch (error) {
      volume.state = 'released';
      throw error;
    }
  }

  /** The volume is already mounted on this node: check (or repair) the bind, no driver Mount. */
  private async join(volume: TrackedVolume, granted: Extract<Granted, { kind: 'join' }>, log: Logger): Promise<void> {
    volume.state = 'mounting';
    try {
      const joined = await this.core.join(granted, volume.request, this.options.node, volume.hostPath, volume.request.readOnly);
      volume.mountpoint = joined.mountpoint;
      volume.mountId = joined.mountId;
    } catch (error) {
      await this.releaseOne(volume).catch((releaseError: unknown) => log.error({ err: describeError(releaseError) }, 'release after a failed join failed'));
      throw error;
    }
  }

  /** Release one claim; when the store names us the node's last user, the core unmounts the node. */
  private async releaseOne(volume: TrackedVolume): Promise<void> {
    if (!volume.registered) return;
    const { request, hostPath } = volume;
    const { clock, metrics } = this.options;
    const started = clock.monotonic();
    volume.state = 'releasing';
    const observe = (outcome: 'ok' | 'error') => metrics?.unmountDuration.observe({ driver: request.driver, outcome }, (clock.monotonic() - started) / 1000);
    await this.forgetBeat(volume);
    await this.waitForReregisteringPeers(volume);
    let result: Awaited<ReturnType<VolumeLifecycle['release']>>;
    try {
      result = await this.core.release(volume, hostPath, AbortSignal.timeout(this.options.undoTimeoutMs * 2));
    } catch (error) {
      if (!volume.registered) observe('error');
      throw error;
    } finally {
      metrics?.volumeMounted.set({ volume: request.name, driver: request.driver }, 0);
    }
    if (result === 'unmounted') {
      observe('ok');
      this.options.logger.info({ volume: request.name, hostPath }, 'last user on this node: volume unmounted');
    } else {
      this.options.logger.info({ volume: request.name }, 'released; other holders on this node keep the volume mounted');
    }
    volume.state = 'released';
  }

  /**
   * Re-register a ready holder after the store lost its record or its lease lapsed during an
   * outage. The claim keeps its token, mount ID and epoch (the fencing token): if the volume was
   * granted to another node meanwhile, the epoch moved (or the store answers `held`) and this
   * holder fences instead. Returns true when re-registered.
   */
  private async reregister(volume: TrackedVolume, why: string): Promise<boolean> {
    const { request, ref } = volume;
    const log = this.options.logger.child({ volume: request.name, driver: request.driver });
    if (volume.state !== 'ready' || volume.mountpoint === undefined || volume.mountId === undefined) {
      log.warn({ state: volume.state, why }, 'cannot re-register a holder that is not ready');
      return false;
    }
    // Decide from the node's mount table, not from memory: while the lease was lapsed this node's
    // sweep may have taken over and unmounted the volume. A holder without its bind must fence,
    // not restore a record of a mount that no longer exists.
    if (!(await this.options.mounter.isMounted(volume.hostPath))) {
      log.error({ why, hostPath: volume.hostPath }, 'cannot re-register: the bind is gone from the mount table (taken over while the lease was lapsed)');
      return false;
    }
    log.warn({ why }, `${why}; re-registering this holder`);
    const result = await this.options.store.acquire({
      ...ref,
      task: this.options.task,
      mode: request.access,
      preempt: false,
      ttlMs: this.options.leaseTtlMs,
      reclaim: { mountpoint: volume.mountpoint, mountId: volume.mountId, ...(volume.epoch === undefined ? {} : { epoch: volume.epoch }) },
    });
    if (result.kind === 'join' && (volume.epoch === undefined || result.epoch === volume.epoch)) {
      // The mount table once more, now that the store has us: a takeover that finished between
      // the check above and this acquire (it marked the node unmounted, so the reclaim recorded
      // a mount again) left no bind. Fencing then releases the claim just made the ordinary way.
      if (!(await this.options.mounter.isMounted(volume.hostPath))) {
        log.error({ why, hostPath: volume.hostPath }, 're-registered, but the bind is gone from the mount table (taken over meanwhile): fencing');
        return false;
      }
      volume.lastLeaseAt = this.options.clock.monotonic();
      return true;
    }
    log.error(
      { answer: result.kind, ...(result.kind === 'held' ? { nodes: cleanExternalList(result.nodes) } : {}), ...('epoch' in result ? { epoch: result.epoch, had: volume.epoch } : {}) },
      're-registration refused: the volume moved on without this holder',
    );
    // If the acquire registered us anyway, fence() finds the claim live and releases it the
    // ordinary way (the node's last user unmounts), so nothing is left waiting on it.
    return false;
  }

  /**
   * Before this claim's release: another holder of this node that still beats for the volume but
   * that the store does not show as a live holder (its lease lapsed in an outage, or its
   * registration was lost with a failover's last writes) is about to re-register. Released now,
   * this claim would look like the node's last and unmount from under it; so wait, at most one
   * lease TTL, until the store shows it again or it stops beating (fenced, gone).
   */
  private async waitForReregisteringPeers(volume: TrackedVolume): Promise<void> {
    const { holders, clock, logger, store, leaseTtlMs, node } = this.options;
    if (holders === undefined) return;
    const key = { driver: volume.request.driver, name: volume.request.name };
    const deadline = clock.monotonic() + leaseTtlMs;
    let logged = false;
    for (;;) {
      const peers = beatsOf(await freshBeats(holders, clock, leaseTtlMs, logger), key).filter((b) => b.token !== volume.ref.token);
      if (peers.length === 0) return;
      // No record (lost with the data), or no answer: then the release names nobody the node's
      // last either, or fails; either way it unmounts nothing.
      const view = await store.inspect(key).catch(() => undefined);
      if (view === undefined) return;
      const live = new Set(view.holders.filter((h) => h.node === node && h.role === 'holder' && h.expiresInMs > 0).map((h) => h.token));
      const missing = peers.filter((p) => !live.has(p.token));
      if (missing.length === 0) return;
      if (clock.monotonic() >= deadline) {
        logger.warn({ volume: volume.request.name, peers: missing.length }, 'another holder on this node did not re-register within a lease TTL; releasing anyway');
        return;
      }
      if (!logged) {
        logger.info({ volume: volume.request.name, peers: missing.length }, 'another holder on this node is re-registering; waiting for it before releasing');
        logged = true;
      }
      await clock.sleep(Math.min(250, Math.max(50, Math.floor(leaseTtlMs / 10))));
    }
  }

  /** After a lost lease: unmount on this node if, and only if, no live holder here keeps it. */
  private async takeOverUnmount(volume: TrackedVolume): Promise<void> {
    const { request, hostPath } = volume;
    const claim = await this.core.takeOver(request, this.options.node, this.options.leaseTtlMs, hostPath, AbortSignal.timeout(this.options.undoTimeoutMs * 2));
    if (claim.kind !== 'unmount') {
      this.options.logger.warn({ volume: request.name, claim: claim.kind }, 'fenced; another live holder on this node keeps the mount');
      return;
    }
    this.options.logger.warn({ volume: request.name, hostPath }, 'fenced: bind detached and driver Unmount sent');
  }
}
