// The use cases of one task's volumes: attach (acquire → Create? → Mount → bind → markMounted),
// keep leases alive, fence on a lost lease, detach (release → the last user on the node unmounts
// lazily and calls driver Unmount exactly once). Every completed step has an undo, run in
// reverse when a later step fails, so nothing half-mounted stays behind; and the node-level
// unmount only ever happens through the store's `unmount` answer, so nothing is unmounted that
// another holder still uses.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../common/clock.js';
import { AbortedError, DvdiError, ExitCode, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { SidecarMetrics } from '../metrics/sidecar-metrics.js';
import type { AcquireResult, HolderRef, RefcountStore, VolumeView } from '../refcount/refcount-store.js';
import {
  AccessModeConflictError,
  LeaseLostError,
  StoreUnavailableError,
  VolumeHeldError,
  VolumeMissingError,
} from './lifecycle-errors.js';
import type { DriverRegistryPort, MountLedgerPort, MounterPort, VolumeRequest } from './ports.js';
import { unmountTolerant } from './unmount-outcome.js';

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

export interface TaskVolumesOptions {
  node: string;
  task: string;
  leaseTtlMs: number;
  acquireTimeoutMs: number;
  /** How long a joiner waits for another task of this node that is mounting (on top of acquireTimeoutMs). */
  mountTimeoutMs: number;
  store: RefcountStore;
  drivers: DriverRegistryPort;
  mounter: MounterPort;
  clock: Clock;
  logger: Logger;
  metrics?: SidecarMetrics;
  /** The node's own record of driver Mounts (see MountLedgerPort); none in unit tests. */
  ledger?: MountLedgerPort;
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

/** Driver errors after which a Mount may or may not have happened in the plugin. */
const UNCERTAIN_MOUNT_CODES = new Set(['DVDI_DRIVER_TIMEOUT', 'DVDI_DRIVER_ABORTED']);

export class TaskVolumes {
  private readonly volumes: TrackedVolume[] = [];
  private attachedAll = false;
  private fenced = false;

  constructor(private readonly options: TaskVolumesOptions) {}

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
    while (!signal.aborted) {
      try {
        await this.options.clock.sleep(interval, signal);
      } catch {
        return;
      }
      const { lost } = await this.renewAll();
      await this.refreshHolderGauges();
      const first = lost[0];
      if (first !== undefined) {
        const volume = this.volumes.find((v) => v.request.name === first);
        onLost(new LeaseLostError(first, volume?.request.driver ?? '?', 'while running'));
        return;
      }
    }
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
          log.warn({ preempted: granted.preempted }, 'preempted the volume from other nodes');
          metrics?.preemptions.inc({ volume: request.name });
        }
        await this.performMount(volume, granted.staleMountId, signal, log);
      } else {
        await this.join(volume, granted.mountpoint, log);
      }
      volume.state = 'ready';
      metrics?.volumeMounted.set({ volume: request.name, driver: request.driver }, 1);
      outcome(true);
      log.info({ hostPath: volume.hostPath, mountpoint: volume.mountpoint, ms: Math.round(clock.monotonic() - started) }, 'volume ready');
    } catch (error) {
      if (volume.state !== 'released') volume.state = 'failed';
      outcome(false);
      throw error;
    }
  }

  /** Loop on acquire until this holder may mount or join, within the acquire timeout. */
  private async acquire(
    volume: TrackedVolume,
    signal: AbortSignal,
    log: Logger,
  ): Promise<Extract<AcquireResult, { kind: 'mount' }> | Extract<AcquireResult, { kind: 'join' }>> {
    const { clock, store, acquireTimeoutMs, mountTimeoutMs } = this.options;
    const { request } = volume;
    const started = clock.monotonic();
    let delay = this.options.pollInitialMs ?? 100;
    // Polling is one store round trip: keep it short so a released volume is picked up fast.
    const maxDelay = this.options.pollMaxMs ?? 250;
    let lastProgressLog = started;
    for (;;) {
      if (signal.aborted) throw new AbortedError(`acquire of volume ${request.name}`);
      let result: AcquireResult;
      try {
        result = await store.acquire({
          ...volume.ref,
          task: this.options.task,
          mode: request.access,
          preempt: request.preempt,
          ttlMs: this.options.leaseTtlMs,
        });
        this.options.metrics?.storeUp.set({ backend: store.backend }, 1);
      } catch (error) {
        this.options.metrics?.storeUp.set({ backend: store.backend }, 0);
        // A new claim fails closed, but only after the acquire timeout: a store that is
        // reconnecting (or failing over) gets the same patience as a volume held elsewhere.
        if (clock.monotonic() - started >= acquireTimeoutMs) throw new StoreUnavailableError(store.backend, 'acquire', request.name, error);
        log.warn({ err: describeError(error) }, 'store unavailable while acquiring; retrying until the acquire timeout');
        await clock.sleep(Math.max(10, Math.min(delay, acquireTimeoutMs - (clock.monotonic() - started))), signal);
        delay = Math.min(delay * 2, maxDelay);
        continue;
      }
      const waited = clock.monotonic() - started;
      switch (result.kind) {
        case 'mount':
        case 'join':
          volume.registered = true;
          volume.epoch = result.epoch;
          volume.lastLeaseAt = clock.monotonic();
          return result;
        case 'mode-conflict':
          throw new AccessModeConflictError(request.name, request.driver, request.access, result.mode);
        case 'wait':
          volume.registered = true;
          volume.state = 'waiting';
          volume.lastLeaseAt = clock.monotonic();
          if (waited > acquireTimeoutMs + mountTimeoutMs) {
            throw new DvdiError(
              'DVDI_VOLUME_BUSY',
              `volume ${request.name} stayed ${result.state} by another task on this node (holder ${result.performer}) for ${Math.round(waited)} ms`,
              { context: { volume: request.name, state: result.state }, exitCode: ExitCode.Unavailable },
            );
          }
          break;
        case 'held':
        case 'quarantine':
          volume.state = 'waiting';
          if (waited >= acquireTimeoutMs) {
            const nodes = result.kind === 'held' ? result.nodes : ['(store quarantine after data loss)'];
            throw new VolumeHeldError(request.name, request.driver, nodes, Math.round(waited));
          }
          break;
      }
      if (clock.monotonic() - lastProgressLog >= 5000) {
        lastProgressLog = clock.monotonic();
        log.info({ waitedMs: Math.round(waited), reason: result.kind, ...(result.kind === 'held' ? { nodes: result.nodes } : {}) }, 'still waiting for volume');
      }
      const remaining = acquireTimeoutMs - waited;
      const pause = result.kind === 'quarantine' ? Math.min(result.retryInMs, Math.max(remaining, 50)) : delay;
      await clock.sleep(Math.max(10, pause), signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  }

  /** This holder is the node's performer: Create?, Mount (ID = our token), bind, markMounted. */
  private async performMount(volume: TrackedVolume, staleMountId: string | undefined, signal: AbortSignal, log: Logger): Promise<void> {
    const { request, ref, hostPath } = volume;
    const driver = this.options.drivers.driver(request.driver);
    const undo: Array<{ what: string; run: () => Promise<unknown> }> = [];
    volume.state = 'mounting';
    try {
      if (staleMountId !== undefined) {
        // A performer died mid-mount: its driver Mount may have happened. Unmount that ID first
        // so the plugin's per-ID count stays one Unmount per Mount; a refusal (the Mount never
        // reached the plugin) is fine when nothing is mounted with it (unmount-outcome.ts). The
        // dead performer's ledger entry stays: its Mount may still be on its way to the plugin,
        // and the reconciler sends that Unmount again once nobody here uses the volume.
        log.warn({ staleMountId }, 'taking over from a dead performer; releasing its mount ID first');
        await unmountTolerant({ driver, name: request.name, mountId: staleMountId, bindPath: hostPath, logger: log, what: 'takeover from a dead performer' });
      }
      // Get and Create can be cut short by shutdown: nothing is mounted yet, nothing to undo.
      const existing = await driver.get(request.name, { signal });
      if (existing === undefined) {
        if (request.explicitCreate) throw new VolumeMissingError(request.name, request.driver);
        log.info({ optionKeys: Object.keys(request.opts) }, 'creating volume');
        await driver.create(request.name, request.opts, { signal });
      }
      if (signal.aborted) throw new AbortedError(`mount of volume ${request.name}`);
      const entry = { driver: request.driver, name: request.name, mountId: ref.token };
      await this.options.ledger?.record(entry);
      let mountpoint: string;
      try {
        mountpoint = await driver.mount(request.name, ref.token, { signal, ...(request.preempt ? { preempt: true } : {}) });
      } catch (error) {
        if (error instanceof DvdiError && UNCERTAIN_MOUNT_CODES.has(error.code)) {
          // A timed-out (or abandoned) Mount may still complete in the plugin, even after this
          // Unmount: the ledger entry stays, so the reconciler sends the Unmount again later
          // until the facts show nothing mounted with that ID (unmount-outcome.ts).
          undo.push({
            what: 'driver Unmount after Mount timeout',
            run: () => unmountTolerant({ driver, name: request.name, mountId: ref.token, bindPath: hostPath, logger: log, what: 'undo of an unfinished Mount' }),
          });
        } else {
          // A refused Mount gets no Unmount (moby#22564), and there is nothing to remember.
          await this.options.ledger?.forget(entry);
        }
        throw error;
      }
      undo.push({
        what: 'driver Unmount',
        run: async () => {
          await unmountTolerant({ driver, name: request.name, mountId: ref.token, bindPath: hostPath, mountpoint, logger: log, what: 'undo of a Mount' });
          await this.options.ledger?.forget(entry);
        },
      });
      if (signal.aborted) throw new AbortedError(`mount of volume ${request.name}`);
      await this.options.mounter.bind(mountpoint, hostPath, { readOnly: request.readOnly });
      undo.push({ what: 'lazy unmount of the bind', run: () => this.options.mounter.unmountLazy(hostPath) });
      const marked = await this.options.store.markMounted(ref, mountpoint);
      if (marked.kind !== 'ok') throw new LeaseLostError(request.name, request.driver, 'while mounting');
      volume.mountpoint = mountpoint;
      volume.mountId = ref.token;
    } catch (error) {
      for (const step of undo.reverse()) {
        try {
          await step.run();
        } catch (undoError) {
          log.error({ step: step.what, err: describeError(undoError) }, 'undo step failed');
        }
      }
      await this.options.store.abortMount(ref).catch((abortError: unknown) =>
        log.error({ err: describeError(abortError) }, 'could not reset the mount state; the reconciler will once the lease expires'),
      );
      volume.registered = false;
      volume.state = 'released';
      throw error;
    }
  }

  /** The volume is already mounted on this node: check (or repair) the bind, no driver Mount. */
  private async join(volume: TrackedVolume, mountpoint: string, log: Logger): Promise<void> {
    volume.state = 'mounting';
    volume.mountpoint = mountpoint;
    try {
      // Idempotent: the node's bind normally exists already; a missing one is made again, and a
      // read-only/read-write mismatch with the other tasks of this node is refused.
      await this.options.mounter.bind(mountpoint, volume.hostPath, { readOnly: volume.request.readOnly });
      const view = await this.options.store.inspect({ driver: volume.request.driver, name: volume.request.name });
      volume.mountId = view?.nodes.find((n) => n.node === this.options.node)?.mountId;
    } catch (error) {
      await this.releaseOne(volume).catch((releaseError: unknown) =>
        log.error({ err: describeError(releaseError) }, 'release after a failed join failed'),
      );
      throw error;
    }
  }

  /** Release one claim; when the store names us the node's last user, unmount lazily + driver Unmount. */
  private async releaseOne(volume: TrackedVolume): Promise<void> {
    if (!volume.registered) return;
    const { request, ref, hostPath } = volume;
    const { clock, metrics, store } = this.options;
    const started = clock.monotonic();
    volume.state = 'releasing';
    let result;
    try {
      result = await store.release(ref);
    } catch (error) {
      throw new StoreUnavailableError(store.backend, 'release', request.name, error);
    }
    metrics?.volumeMounted.set({ volume: request.name, driver: request.driver }, 0);
    if (result.kind === 'unmount') {
      try {
        await this.options.mounter.unmountLazy(hostPath);
        if (result.mountId !== undefined) {
          await unmountTolerant({
            driver: this.options.drivers.driver(request.driver),
            name: request.name,
            mountId: result.mountId,
            bindPath: hostPath,
            mountpoint: result.mountpoint ?? volume.mountpoint,
            logger: this.options.logger,
            what: 'release',
          });
          await this.options.ledger?.forget({ driver: request.driver, name: request.name, mountId: result.mountId });
        }
        await store.markUnmounted(ref);
        metrics?.unmountDuration.observe({ driver: request.driver, outcome: 'ok' }, (clock.monotonic() - started) / 1000);
        this.options.logger.info({ volume: request.name, hostPath }, 'last user on this node: volume unmounted');
      } catch (error) {
        metrics?.unmountDuration.observe({ driver: request.driver, outcome: 'error' }, (clock.monotonic() - started) / 1000);
        throw error;
      }
    } else {
      this.options.logger.info({ volume: request.name }, 'released; other holders on this node keep the volume mounted');
    }
    volume.registered = false;
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
      volume.lastLeaseAt = this.options.clock.monotonic();
      return true;
    }
    log.error(
      { answer: result.kind, ...(result.kind === 'held' ? { nodes: result.nodes } : {}), ...('epoch' in result ? { epoch: result.epoch, had: volume.epoch } : {}) },
      're-registration refused: the volume moved on without this holder',
    );
    // If the acquire registered us anyway, fence() finds the claim live and releases it the
    // ordinary way (the node's last user unmounts), so nothing is left waiting on it.
    return false;
  }

  /** After a lost lease: unmount on this node if, and only if, no live holder here keeps it. */
  private async takeOverUnmount(volume: TrackedVolume): Promise<void> {
    const { request, hostPath } = volume;
    const ref: HolderRef = { ...volume.ref, token: randomUUID() };
    const claim = await this.options.store.claimUnmount(ref, this.options.leaseTtlMs);
    if (claim.kind !== 'unmount') {
      this.options.logger.warn({ volume: request.name, claim: claim.kind }, 'fenced; another live holder on this node keeps the mount');
      return;
    }
    await this.options.mounter.unmountLazy(hostPath);
    if (claim.mountId !== undefined) {
      await unmountTolerant({ driver: this.options.drivers.driver(request.driver), name: request.name, mountId: claim.mountId, bindPath: hostPath, mountpoint: claim.mountpoint, logger: this.options.logger, what: 'fence' });
      await this.options.ledger?.forget({ driver: request.driver, name: request.name, mountId: claim.mountId });
    }
    await this.options.store.markUnmounted(ref);
    this.options.logger.warn({ volume: request.name, hostPath }, 'fenced: bind detached and driver Unmount sent');
  }
}
