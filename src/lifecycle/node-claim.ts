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
import type { Clock } from '../common/clock.js';
import { AbortedError, DvdiError, ExitCode, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { AcquireResult, HolderRef, RefcountStore, VolumeKey } from '../refcount/refcount-store.js';
import { AccessModeConflictError, LeaseLostError, StoreUnavailableError, VolumeHeldError } from './lifecycle-errors.js';
import type { MountLedgerPort } from './ports.js';
import { unmountTolerant } from './unmount-outcome.js';

/** The `task` recorded for node-level claims (dvdi status shows it). */
export const NODE_CLAIM_TASK = 'dvdcli';

/** What a node claim needs of a volume plugin; VolumeDriverClient fits. Calls take a signal. */
export interface NodeClaimDriver {
  get(name: string, options?: { signal?: AbortSignal }): Promise<unknown>;
  create(name: string, opts: Readonly<Record<string, string>>, options?: { signal?: AbortSignal }): Promise<void>;
  mount(name: string, id: string, options?: { signal?: AbortSignal }): Promise<string>;
  unmount(name: string, id: string, options?: { signal?: AbortSignal }): Promise<void>;
}

/** The mount root, when one is usable on this node. */
export interface NodeClaimMounter {
  volumePath(name: string): Promise<string>;
  bind(source: string, target: string, options: { readOnly: boolean }): Promise<unknown>;
  unmountLazy(target: string): Promise<unknown>;
}

export interface NodeClaimOptions {
  node: string;
  store: RefcountStore;
  drivers: { driver(name: string): NodeClaimDriver };
  /** Present when a mount root is usable: binds there are made (bindMode) and always cleaned up. */
  mounter?: NodeClaimMounter | undefined;
  /** true: `mount` binds at ROOT/<name> and answers that path; false: answers the plugin's mountpoint. */
  bindMode: boolean;
  /** Lease of the acquire itself (DVDI_LEASE_TTL_MS, as the sidecars). */
  acquireTtlMs: number;
  /** Lease the claim keeps once mounted (nobody renews it in between). */
  claimTtlMs: number;
  acquireTimeoutMs: number;
  clock: Clock;
  logger: Logger;
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** Budget for undo steps after a failure or an abort (they must not outlive the caller's kill). */
  undoTimeoutMs?: number;
  /** The node's record of driver Mounts, shared with the sidecars and the reconciler. */
  ledger?: MountLedgerPort;
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

const TIMEOUT_CODES = new Set(['DVDI_DRIVER_TIMEOUT', 'DVDI_DRIVER_ABORTED']);

export class NodeClaims {
  constructor(private readonly options: NodeClaimOptions) {}

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
    const granted = await this.acquire(ref, signal, log);
    try {
      let mountpoint: string;
      let joined: boolean;
      if (granted.kind === 'mount') {
        // The short lease is kept alive while the driver works (a slow attach must not lose it);
        // if this process is killed mid-mount, it ends soon and another holder takes over.
        const keeper = new AbortController();
        const keeping = this.keepLease(ref, keeper.signal, log);
        try {
          mountpoint = await this.performMount(request, ref, granted.staleMountId, signal, log);
        } finally {
          keeper.abort();
          await keeping;
        }
        joined = false;
      } else {
        mountpoint = granted.mountpoint;
        joined = true;
        if (mountpoint === '') throw new DvdiError('DVDI_NO_MOUNTPOINT', `volume ${request.name} is recorded as mounted on this node without a mount point`, { exitCode: ExitCode.MountFailed });
      }
      const path = await this.hostPath(request.name, mountpoint);
      const renewed = await this.storeCall('renew', request.name, () => this.options.store.renew(ref, this.options.claimTtlMs));
      if (renewed.kind !== 'ok') throw new LeaseLostError(request.name, request.driver, 'while mounting');
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
    const released = await this.storeCall('release', key.name, () => this.options.store.release(ref));
    if (released.kind === 'unmount') {
      await this.unmountNode(key, ref, released.mountId, signal);
      log.info('last user on this node: volume unmounted');
      return 'unmounted';
    }
    if (released.kind === 'released') {
      log.info('claim released; another holder on this node keeps the volume mounted');
      return 'released';
    }
    // No claim of ours (never taken, expired and reaped, or the store lost it): the caller says
    // nobody on its side uses the volume any more, so unmount unless a live holder here does.
    const claim = await this.storeCall('claimUnmount', key.name, () => this.options.store.claimUnmount(ref, this.options.acquireTtlMs));
    if (claim.kind === 'busy') {
      log.info('no dvdcli claim on this node; another live holder keeps the volume mounted');
      return 'busy';
    }
    if (claim.kind === 'absent') {
      log.info('no dvdcli claim and nothing mounted on this node');
      return 'not-mounted';
    }
    await this.unmountNode(key, ref, claim.mountId, signal);
    log.info('no dvdcli claim, no other holder: volume unmounted');
    return 'unmounted';
  }

  /** Renew every dvdcli claim of this node (the `renew` extension, run from a timer). */
  async renewAll(): Promise<{ renewed: string[]; lost: string[] }> {
    const volumes = await this.storeCall('list', '*', () => this.options.store.list());
    const renewed: string[] = [];
    const lost: string[] = [];
    for (const view of volumes) {
      const ref = this.ref(view);
      const own = view.holders.find((h) => h.token === ref.token && h.node === ref.node && h.role === 'holder');
      if (own === undefined) continue;
      const result = await this.storeCall('renew', view.name, () => this.options.store.renew(ref, this.options.claimTtlMs));
      (result.kind === 'ok' ? renewed : lost).push(`${view.driver}/${view.name}`);
    }
    return { renewed, lost };
  }

  // ---------------------------------------------------------------------------------------------

  private undoTimeoutMs(): number {
    return this.options.undoTimeoutMs ?? 9000;
  }

  /** ROOT/<name> when a mount root is usable (a fact for unmount-outcome.ts), else undefined. */
  private async bindPath(name: string): Promise<string | undefined> {
    return this.options.mounter === undefined ? undefined : this.options.mounter.volumePath(name).catch(() => undefined);
  }

  private async hostPath(name: string, mountpoint: string): Promise<string> {
    const { mounter, bindMode } = this.options;
    if (!bindMode || mounter === undefined) return mountpoint;
    const path = await mounter.volumePath(name);
    // Idempotent: the node's bind normally exists already when joining; a missing one is made again.
    await mounter.bind(mountpoint, path, { readOnly: false });
    return path;
  }

  private async keepLease(ref: HolderRef, stop: AbortSignal, log: Logger): Promise<void> {
    const interval = Math.max(100, Math.floor(this.options.acquireTtlMs / 3));
    while (!stop.aborted) {
      try {
        await this.options.clock.sleep(interval, stop);
      } catch {
        return;
      }
      // A lost lease shows at markMounted; a store hiccup is retried at the next tick.
      await this.options.store.renew(ref, this.options.acquireTtlMs).catch((error: unknown) => log.warn({ err: describeError(error) }, 'lease renewal during mount failed'));
    }
  }

  private async storeCall<T>(operation: string, volume: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof DvdiError && error.code === 'DVDI_STORE_MISUSE') throw error;
      throw new StoreUnavailableError(this.options.store.backend, operation, volume, error);
    }
  }

  /** Acquire with the ordinary TTL until this claim may mount or join, within the acquire timeout. */
  private async acquire(
    ref: HolderRef,
    signal: AbortSignal,
    log: Logger,
  ): Promise<Extract<AcquireResult, { kind: 'mount' }> | Extract<AcquireResult, { kind: 'join' }>> {
    const { clock, store, acquireTimeoutMs } = this.options;
    const started = clock.monotonic();
    let delay = this.options.pollInitialMs ?? 100;
    const maxDelay = this.options.pollMaxMs ?? 1000;
    let registered = false;
    try {
      for (;;) {
        if (signal.aborted) throw new AbortedError(`acquire of volume ${ref.name}`);
        const result = await this.storeCall('acquire', ref.name, () =>
          store.acquire({ ...ref, task: NODE_CLAIM_TASK, mode: 'exclusive', preempt: false, ttlMs: this.options.acquireTtlMs }),
        );
        const waited = Math.round(clock.monotonic() - started);
        switch (result.kind) {
          case 'mount':
          case 'join':
            return result;
          case 'mode-conflict':
            throw new AccessModeConflictError(ref.name, ref.driver, 'exclusive', result.mode);
          case 'wait':
            registered = true;
            if (waited >= acquireTimeoutMs) {
              throw new DvdiError('DVDI_VOLUME_BUSY', `volume ${ref.name} stayed ${result.state} by another holder on this node (${result.performer}) for ${waited} ms`, {
                context: { volume: ref.name, state: result.state },
                exitCode: ExitCode.Unavailable,
              });
            }
            break;
          case 'held':
          case 'quarantine':
            if (waited >= acquireTimeoutMs) {
              throw new VolumeHeldError(ref.name, ref.driver, result.kind === 'held' ? result.nodes : ['(store quarantine after data loss)'], waited);
            }
            log.debug({ waitedMs: waited, reason: result.kind, ...(result.kind === 'held' ? { nodes: result.nodes } : {}) }, 'waiting for the volume');
            break;
        }
        const pause = result.kind === 'quarantine' ? Math.min(result.retryInMs, delay) : delay;
        await clock.sleep(Math.max(10, Math.min(pause, acquireTimeoutMs - waited + 10)), signal);
        delay = Math.min(delay * 2, maxDelay);
      }
    } catch (error) {
      if (registered) {
        // A `wait` registered us: leave no claim behind (release never unmounts what another holder performs).
        await store.release(ref).catch((releaseError: unknown) => log.error({ err: describeError(releaseError) }, 'could not drop the claim after giving up'));
      }
      throw error;
    }
  }

  /** This claim performs the node's mount: Create?, Mount (ID = our token), bind, markMounted. */
  private async performMount(request: NodeMountRequest, ref: HolderRef, staleMountId: string | undefined, signal: AbortSignal, log: Logger): Promise<string> {
    const driver = this.options.drivers.driver(request.driver);
    const undo: Array<{ what: string; run: (signal: AbortSignal) => Promise<unknown> }> = [];
    try {
      if (staleMountId !== undefined) {
        log.warn({ staleMountId }, 'taking over from a dead performer; releasing its mount ID first');
        await unmountTolerant({ driver, name: request.name, mountId: staleMountId, bindPath: await this.bindPath(request.name), signal, logger: log, what: 'takeover from a dead performer' });
      }
      const existing = await driver.get(request.name, { signal });
      if (existing === undefined) {
        if (request.explicitCreate) {
          throw new DvdiError('DVDI_VOLUME_MISSING', `volume ${request.name} does not exist in driver ${request.driver} and explicit create is on (--explicitcreate), so it is not created`, {
            context: { volume: request.name, driver: request.driver },
            exitCode: ExitCode.MountFailed,
          });
        }
        log.info({ optionKeys: Object.keys(request.opts) }, 'creating volume');
        await driver.create(request.name, request.opts, { signal });
      }
      const entry = { driver: request.driver, name: request.name, mountId: ref.token };
      await this.options.ledger?.record(entry);
      let mountpoint: string;
      try {
        mountpoint = await driver.mount(request.name, ref.token, { signal });
      } catch (error) {
        // A Mount that timed out or was cut short may still complete in the plugin: Unmount our
        // ID now, and the ledger entry stays so the reconciler sends it again later. A refused
        // Mount gets no Unmount (moby#22564) and leaves nothing to remember.
        if (error instanceof DvdiError && TIMEOUT_CODES.has(error.code)) {
          undo.push({
            what: 'driver Unmount after an unfinished Mount',
            run: async (s) => unmountTolerant({ driver, name: request.name, mountId: ref.token, bindPath: await this.bindPath(request.name), signal: s, logger: log, what: 'undo of an unfinished Mount' }),
          });
        } else {
          await this.options.ledger?.forget(entry);
        }
        throw error;
      }
      undo.push({
        what: 'driver Unmount',
        run: async (s) => {
          await unmountTolerant({ driver, name: request.name, mountId: ref.token, bindPath: await this.bindPath(request.name), mountpoint, signal: s, logger: log, what: 'undo of a Mount' });
          await this.options.ledger?.forget(entry);
        },
      });
      if (mountpoint === '') throw new DvdiError('DVDI_NO_MOUNTPOINT', `driver ${request.driver} mounted ${request.name} but answered no mount point`, { exitCode: ExitCode.MountFailed });
      const { mounter, bindMode } = this.options;
      if (bindMode && mounter !== undefined) {
        const path = await mounter.volumePath(request.name);
        if (signal.aborted) throw new AbortedError(`mount of volume ${request.name}`);
        await mounter.bind(mountpoint, path, { readOnly: false });
        undo.push({ what: 'lazy unmount of the bind', run: () => mounter.unmountLazy(path) });
      }
      const marked = await this.storeCall('markMounted', request.name, () => this.options.store.markMounted(ref, mountpoint));
      if (marked.kind !== 'ok') throw new LeaseLostError(request.name, request.driver, 'while mounting');
      return mountpoint;
    } catch (error) {
      const undoSignal = AbortSignal.timeout(this.undoTimeoutMs());
      for (const step of undo.reverse()) {
        try {
          await step.run(undoSignal);
        } catch (undoError) {
          log.error({ step: step.what, err: describeError(undoError) }, 'undo step failed');
        }
      }
      await this.options.store.abortMount(ref).catch((abortError: unknown) =>
        log.error({ err: describeError(abortError) }, 'could not reset the mount state; a reconciler will once the lease expires'),
      );
      throw error;
    }
  }

  /** We are the node's unmounter: lazy unmount of the bind (if a root is usable), driver Unmount, mark. */
  private async unmountNode(key: VolumeKey, ref: HolderRef, mountId: string | undefined, signal: AbortSignal): Promise<void> {
    const { mounter } = this.options;
    if (mounter !== undefined) await mounter.unmountLazy(await mounter.volumePath(key.name));
    if (mountId !== undefined) {
      await unmountTolerant({
        driver: this.options.drivers.driver(key.driver),
        name: key.name,
        mountId,
        bindPath: await this.bindPath(key.name),
        signal,
        logger: this.options.logger,
        what: 'dvdcli unmount',
      });
      await this.options.ledger?.forget({ driver: key.driver, name: key.name, mountId });
    }
    const marked = await this.storeCall('markUnmounted', key.name, () => this.options.store.markUnmounted(ref));
    if (marked.kind !== 'ok') {
      this.options.logger.warn({ volume: key.name, answer: marked.kind }, 'unmounted, but the store did not take the report');
    }
  }
}
