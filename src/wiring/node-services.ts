// One wiring of a node's services, used by every command (sidecar, reconcile, status, dvdcli):
// settings → mount root (preflight) → the mounter bound to the real root → store (answering
// within the connect budget) → driver registry (plugin directories, then managed v2 plugins:
// Docker's lookup order, the same chain everywhere) → the node's mount ledger → metrics. Each
// command picks how much of the root it needs; nothing else builds these clients.
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../common/clock.js';
import { InternalError, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Config } from '../config/index.js';
import type { ContainerRuntime } from '../docker/container-runtime.js';
import { DockerodeRuntime } from '../docker/dockerode-runtime.js';
import { ChainedPluginResolver, ManagedPluginResolver } from '../docker/managed-plugin-resolver.js';
import { DirectoryPluginResolver } from '../driver/plugin-discovery.js';
import { VolumeDriverRegistry } from '../driver/volume-driver-registry.js';
import type { LifecycleDeps } from '../lifecycle/volume-lifecycle.js';
import type { MountLedgerPort, MounterPort } from '../lifecycle/ports.js';
import type { SidecarMetrics } from '../metrics/sidecar-metrics.js';
import { LinuxMounter } from '../mounter/linux-mounter.js';
import { claimMountRoot } from '../mounter/mount-root-owner.js';
import { holderBeatFiles, mountLedgerFiles, orphanMemoryFile, sweepLockFile, sweepStampFile } from '../reconcile/node-files.js';
import type { SweepDeps } from '../reconcile/reconcile-sweep.js';
import { EmbeddedRefcountStore } from '../refcount/embedded-refcount-store.js';
import { StoreUnavailableError } from '../refcount/refcount-errors.js';
import type { RefcountStore } from '../refcount/refcount-store.js';
import { STORE_CONNECT_BUDGET_MS, storeAnswers } from '../refcount/store-connect.js';

/** Where the embedded store, the ledger and the sweep's files live, under the (real) mount root. */
export const EMBEDDED_STATE_DIR = '.dvdi';

/** What the wiring needs of the host's mounter (LinuxMounter; a fake in unit tests). */
export type HostMounter = Pick<LinuxMounter, 'preflight' | 'volumePath' | 'bind' | 'unmountLazy' | 'isMounted' | 'listBinds' | 'listProbes' | 'removeProbe'>;

/**
 * How much of the mount root a command needs: `required` preflights it (failure is fatal),
 * `optional` uses it when it passes preflight (dvdcli without DVDI_MOUNT_ROOT), `state-only`
 * reads the store's files under it without any mount (status, dvdcli renew).
 */
export type RootNeed = 'required' | 'optional' | 'state-only';

export interface WiringOptions {
  logger: Logger;
  clock: Clock;
  metrics?: SidecarMetrics | undefined;
  root: RootNeed;
  /** Test seams: the host mounter, the Docker engine and the managed plugins' socket directory. */
  hostMounter?: HostMounter;
  runtime?: ContainerRuntime;
  managedSocketDir?: string;
  /** Told before each slow step (the sidecar's /readyz reason). */
  onStage?: (stage: 'preflight' | 'store') => void;
}

export interface NodeServices {
  config: Config;
  /** The real path of the mount root (or the configured one when it was not preflighted). */
  realRoot: string;
  /** Bound to realRoot; undefined when the root is not usable for mounts. */
  mounter: MounterPort | undefined;
  store: RefcountStore;
  drivers: VolumeDriverRegistry;
  ledger: MountLedgerPort;
  clock: Clock;
  logger: Logger;
  metrics: SidecarMetrics | undefined;
  /** The lifecycle core's dependencies (undo budget: the driver Unmount's limit). */
  lifecycle(): LifecycleDeps;
  /** The reconciler's dependencies on this node (needs a mounter). */
  sweep(): SweepDeps;
  close(): Promise<void>;
}

/** The one mounter object of a process, bound to the node's real mount root. */
export function rootMounter(host: HostMounter, realRoot: string): MounterPort {
  return {
    root: realRoot,
    volumePath: (name) => host.volumePath(realRoot, name),
    bind: (source, target, options) => host.bind(source, target, options),
    unmountLazy: (target) => host.unmountLazy(target),
    isMounted: (target) => host.isMounted(target),
    listBinds: () => host.listBinds(realRoot),
    listProbes: () => host.listProbes(realRoot),
    removeProbe: (path) => host.removeProbe(realRoot, path),
  };
}

/** Driver clients over the resolver chain every command uses: plugin directories, then managed plugins. */
export function driverRegistry(config: Config, logger: Logger, clock: Clock, options: Pick<WiringOptions, 'metrics' | 'runtime' | 'managedSocketDir'> = {}): VolumeDriverRegistry {
  const runtime = options.runtime ?? new DockerodeRuntime({ dockerHost: config.dockerHost });
  const { metrics } = options;
  return new VolumeDriverRegistry({
    resolver: new ChainedPluginResolver([
      new DirectoryPluginResolver(config.pluginDirs),
      new ManagedPluginResolver({ runtime, dockerHost: config.dockerHost, ...(options.managedSocketDir === undefined ? {} : { socketDir: options.managedSocketDir }) }),
    ]),
    clock,
    logger,
    mountTimeoutMs: config.mountTimeoutMs,
    unmountTimeoutMs: config.unmountTimeoutMs,
    // Docker's "1 minute" class (Get, Path, List, Remove, Capabilities, Activate) follows the
    // unmount limit: one setting, the same 60 s default, and a hung Get during an attach is
    // bounded by what the operator configured rather than by a constant.
    callTimeoutMs: config.unmountTimeoutMs,
    ...(metrics === undefined
      ? {}
      : {
          onCall: (event) => {
            metrics.driverRequests.inc({ driver: event.driver, method: event.method, outcome: event.outcome });
            metrics.driverRequestDuration.observe({ driver: event.driver, method: event.method }, event.seconds);
          },
        }),
  });
}

/** The store the settings name: Redis when configured, else the embedded file store under the real root. */
export async function createStore(config: Config, realRoot: string, logger: Logger, clock: Clock): Promise<RefcountStore> {
  if (config.storeBackend === 'redis') {
    // ioredis is loaded only when configured: it costs ~60 ms at start on the embedded path.
    const { createRedisRefcountStore } = await import('../refcount/redis-refcount-store.js');
    return createRedisRefcountStore({
      ...(config.redisUrl === undefined ? {} : { url: config.redisUrl }),
      ...(config.redisSentinels.length > 0 ? { sentinels: config.redisSentinels } : {}),
      ...(config.redisSentinelName === undefined ? {} : { sentinelName: config.redisSentinelName }),
      ...(config.redisClusterNodes.length > 0 ? { clusterNodes: config.redisClusterNodes } : {}),
      prefix: config.redisPrefix,
      logger: logger.child({ module: 'store' }),
    });
  }
  return new EmbeddedRefcountStore({ dir: join(realRoot, EMBEDDED_STATE_DIR), clock, logger: logger.child({ module: 'store' }) });
}

/** A store that answered within the connect budget; closed and StoreUnavailableError otherwise. */
export async function connectStore(config: Config, realRoot: string, logger: Logger, clock: Clock, metrics?: SidecarMetrics): Promise<RefcountStore> {
  const store = await createStore(config, realRoot, logger, clock);
  const up = await storeAnswers(store, STORE_CONNECT_BUDGET_MS, logger, clock);
  metrics?.storeUp.set({ backend: store.backend }, up ? 1 : 0);
  if (!up) {
    await store.close().catch(() => undefined);
    throw new StoreUnavailableError(store.backend, 'connect', undefined, { waitedMs: STORE_CONNECT_BUDGET_MS });
  }
  return store;
}

async function prepareRoot(config: Config, options: WiringOptions, drivers: VolumeDriverRegistry): Promise<{ realRoot: string; mounter: MounterPort | undefined }> {
  const stateOnly = async () => ({ realRoot: await realpath(config.mountRoot).catch(() => config.mountRoot), mounter: undefined });
  if (options.root === 'state-only') return stateOnly();
  const host =
    options.hostMounter ??
    new LinuxMounter({
      logger: options.logger, // it names its own module
      pluginMountDirs: config.pluginMountDirs,
      // A managed plugin's PropagatedMount is where that plugin (only) may mount.
      pluginDirsOf: (driver) => drivers.driver(driver).ownHostDirs(),
    });
  let realRoot: string;
  try {
    realRoot = await host.preflight(config.mountRoot);
  } catch (error) {
    if (options.root === 'required') throw error;
    options.logger.debug({ root: config.mountRoot, err: describeError(error) }, 'mount root not usable; no binds');
    return stateOnly();
  }
  // A mount root belongs to one node ID: another ID's sweep would take this node's binds for orphans.
  await claimMountRoot({ realRoot, nodeId: config.nodeId, nodeIdSource: config.nodeIdSource, logger: options.logger });
  return { realRoot, mounter: rootMounter(host, realRoot) };
}

/** Build a node's services in the one order (see the module comment). */
export async function openNodeServices(config: Config, options: WiringOptions): Promise<NodeServices> {
  const { logger, clock, metrics } = options;
  const drivers = driverRegistry(config, logger.child({ module: 'driver' }), clock, options);
  options.onStage?.('preflight');
  const { realRoot, mounter } = await prepareRoot(config, options, drivers);
  options.onStage?.('store');
  const store = await connectStore(config, realRoot, logger, clock, metrics);
  const stateDir = join(realRoot, EMBEDDED_STATE_DIR);
  const ledger = mountLedgerFiles(stateDir, clock);
  // Beats mean something only where sidecars bind under a real mount root.
  const holders = mounter === undefined ? undefined : holderBeatFiles(stateDir);
  return {
    config,
    realRoot,
    mounter,
    store,
    drivers,
    ledger,
    clock,
    logger,
    metrics,
    lifecycle: () => ({ store, drivers, mounter, ledger, holders, clock, logger: logger.child({ module: 'lifecycle' }), undoTimeoutMs: config.unmountTimeoutMs }),
    sweep: () => {
      if (mounter === undefined) throw new InternalError('the reconciler needs a preflighted mount root');
      const log = logger.child({ module: 'reconcile' });
      return {
        node: config.nodeId,
        store,
        drivers,
        mounter,
        lock: sweepLockFile(stateDir, log),
        stamp: sweepStampFile(stateDir),
        orphans: orphanMemoryFile(stateDir),
        ledger,
        holders,
        leaseTtlMs: config.leaseTtlMs,
        clock,
        logger: log,
        undoTimeoutMs: config.unmountTimeoutMs,
        ...(metrics === undefined ? {} : { metrics }),
      };
    },
    close: () => store.close().catch(() => undefined),
  };
}
