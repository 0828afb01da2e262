// Composition root of `dvdi sidecar`: the one place that reads process.env (through config/),
// builds the clients (driver, mounter, store, HTTP, metrics), wires them into the lifecycle and
// installs the signal handlers. Order: config → mount-root preflight → store → HTTP (503 until
// ready) → attach every volume → ready file → keep leases → on SIGTERM/SIGINT detach → exit.
import { realpath, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { systemClock } from './common/clock.js';
import { AbortedError, DvdiError, ExitCode, describeError, exitCodeOf, type ExitCode as ExitCodeT } from './common/errors.js';
import { createLogger, type Logger } from './common/logger.js';
import { VERSION } from './common/version.js';
import { ConfigError, describeConfig, loadSidecarConfig, loadVolumeRequests, type Config, type Env, type VolumeSpec } from './config/index.js';
import type { ContainerDetails } from './docker/container-runtime.js';
import { DockerodeRuntime } from './docker/dockerode-runtime.js';
import { ChainedPluginResolver, ManagedPluginResolver } from './docker/managed-plugin-resolver.js';
import { readTaskContainer, TaskContainerWatch, volumeLabels } from './docker/task-container.js';
import { DirectoryPluginResolver } from './driver/plugin-discovery.js';
import { VolumeDriverRegistry } from './driver/volume-driver-registry.js';
import { startHttpServer } from './http/http-server.js';
import { VolumeHealthMonitor } from './health/volume-health.js';
import type { LeaseLostError } from './lifecycle/lifecycle-errors.js';
import type { DriverRegistryPort, MounterPort, MountLedgerPort } from './lifecycle/ports.js';
import { TaskVolumes } from './lifecycle/task-volumes.js';
import { createSidecarMetrics, type SidecarMetrics } from './metrics/sidecar-metrics.js';
import { LinuxMounter } from './mounter/linux-mounter.js';
import { EmbeddedRefcountStore } from './refcount/embedded-refcount-store.js';
import { STORE_CONNECT_BUDGET_MS, storeAnswers } from './refcount/store-connect.js';
import { mountLedgerFiles, orphanMemoryFile, sweepLockFile } from './reconcile/node-files.js';
import { scheduleReconciler, type RunningSchedule } from './reconcile/reconcile-schedule.js';
import { reconcileOnce, type SweepDeps } from './reconcile/reconcile-sweep.js';
import type { RefcountStore } from './refcount/refcount-store.js';
import { renderStatus } from './cli/status-render.js';

/** Where the embedded store keeps its state, under the (real) mount root. */
export const EMBEDDED_STATE_DIR = '.dvdi';

export interface SidecarProcess {
  /** Default: process.env (this module and config/ are the only readers of it). */
  env?: Env;
  /** Resolves with the first shutdown signal's name. */
  onShutdownSignal(listener: (signal: string) => void): void;
}

function driverRegistry(config: Config, logger: Logger, metrics: SidecarMetrics): VolumeDriverRegistry {
  return new VolumeDriverRegistry({
    // Docker's lookup order: legacy plugins in the plugin directories, then managed (v2) plugins.
    resolver: new ChainedPluginResolver([
      new DirectoryPluginResolver(config.pluginDirs),
      new ManagedPluginResolver({ runtime: new DockerodeRuntime({ dockerHost: config.dockerHost }), dockerHost: config.dockerHost }),
    ]),
    clock: systemClock,
    logger,
    mountTimeoutMs: config.mountTimeoutMs,
    unmountTimeoutMs: config.unmountTimeoutMs,
    // Docker's "1 minute" class (Get, Path, List, Remove, Capabilities, Activate) follows the
    // unmount limit: one setting, the same 60 s default, and a hung Get during an attach is
    // bounded by what the operator configured rather than by a constant.
    callTimeoutMs: config.unmountTimeoutMs,
    onCall: (event) => {
      metrics.driverRequests.inc({ driver: event.driver, method: event.method, outcome: event.outcome });
      metrics.driverRequestDuration.observe({ driver: event.driver, method: event.method }, event.seconds);
    },
  });
}

/** The store the settings name: Redis when configured, else the embedded file store under the (real) mount root. */
export async function createStore(config: Config, realRoot: string, logger: Logger): Promise<RefcountStore> {
  if (config.storeBackend === 'redis') {
    // ioredis is loaded only when configured: it costs ~60 ms at start on the embedded path.
    const { createRedisRefcountStore } = await import('./refcount/redis-refcount-store.js');
    return createRedisRefcountStore({
      ...(config.redisUrl === undefined ? {} : { url: config.redisUrl }),
      ...(config.redisSentinels.length > 0 ? { sentinels: config.redisSentinels } : {}),
      ...(config.redisSentinelName === undefined ? {} : { sentinelName: config.redisSentinelName }),
      prefix: config.redisPrefix,
      logger: logger.child({ module: 'store' }),
    });
  }
  return new EmbeddedRefcountStore({ dir: join(realRoot, EMBEDDED_STATE_DIR), clock: systemClock, logger: logger.child({ module: 'store' }) });
}

/** The node's mount ledger (files under ROOT/.dvdi/mounts), shared by sidecars and the sweep. */
export function mountLedger(realRoot: string): MountLedgerPort {
  return mountLedgerFiles(join(realRoot, EMBEDDED_STATE_DIR), systemClock);
}

/** The reconciler's dependencies on this node (shared by the sidecar and `dvdi reconcile`). */
export function buildSweepDeps(parts: {
  config: Config;
  realRoot: string;
  mounter: LinuxMounter;
  store: RefcountStore;
  drivers: DriverRegistryPort;
  logger: Logger;
  metrics?: SidecarMetrics;
}): SweepDeps {
  const { config, realRoot, mounter, logger } = parts;
  const stateDir = join(realRoot, EMBEDDED_STATE_DIR);
  const log = logger.child({ module: 'reconcile' });
  return {
    node: config.nodeId,
    store: parts.store,
    drivers: parts.drivers,
    mounter: {
      listBinds: () => mounter.listBinds(realRoot),
      volumePath: (name) => mounter.volumePath(realRoot, name),
      unmountLazy: (target) => mounter.unmountLazy(target),
      listProbes: () => mounter.listProbes(realRoot),
      removeProbe: (path) => mounter.removeProbe(realRoot, path),
    },
    lock: sweepLockFile(stateDir, log),
    orphans: orphanMemoryFile(stateDir),
    ledger: mountLedger(realRoot),
    leaseTtlMs: config.leaseTtlMs,
    clock: systemClock,
    logger: log,
    ...(parts.metrics ? { metrics: parts.metrics } : {}),
  };
}

/** Runs the sidecar until shutdown; resolves with the process exit code (CONTRACT.md). */
export async function runSidecar(proc: SidecarProcess): Promise<ExitCodeT> {
  const env = proc.env ?? process.env;
  let config: Config;
  let specs: readonly VolumeSpec[] | undefined;
  let taskContainer: ContainerDetails | undefined;
  try {
    // Settings and volume requests are checked together so one run names every problem.
    const problems: ConfigError[] = [];
    let loaded: Config | undefined;
    try {
      loaded = loadSidecarConfig(env, hostname());
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(error);
    }
    try {
      specs = loadVolumeRequests(env).specs;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(error);
    }
    if (problems.length > 0 || loaded === undefined || specs === undefined) throw ConfigError.combine(problems);
    config = loaded;
    if (config.taskContainer !== undefined) {
      // The task container's DVDI_VOLUME_* labels are the lowest-ranked source: env wins.
      const runtime = new DockerodeRuntime({ dockerHost: config.dockerHost });
      taskContainer = await readTaskContainer({ runtime, container: config.taskContainer, dockerHost: config.dockerHost, clock: systemClock });
      specs = loadVolumeRequests(env, volumeLabels(taskContainer.labels)).specs;
    }
  } catch (error) {
    process.stderr.write(`dvdi sidecar: ${describeError(error)}\n`);
    return exitCodeOf(error) === ExitCode.Internal ? ExitCode.Config : exitCodeOf(error);
  }
  const logger = createLogger(config.logLevel, { node: config.nodeId, task: config.taskId });
  for (const warning of config.warnings) logger.warn(warning);
  logger.info({ version: VERSION, config: describeConfig(config, specs) }, 'dvdi sidecar starting');
  if (specs.length === 0) logger.warn('no DVDI_VOLUME_NAME[0-9] is set: nothing to mount; reporting ready');

  const registry = new Registry();
  const metrics = createSidecarMetrics(registry);
  metrics.ready.set(0);
  const shutdown = new AbortController();
  let shutdownSignal: string | undefined;
  const requestShutdown = (signal: string): void => {
    if (shutdown.signal.aborted) return;
    shutdownSignal = signal;
    logger.info({ signal }, 'shutdown requested');
    shutdown.abort(new AbortedError(signal));
  };
  proc.onShutdownSignal(requestShutdown);
  // The task container ending is a shutdown like SIGTERM: nobody may be left to signal us.
  const stopWatching = new AbortController();
  const watch =
    taskContainer === undefined
      ? undefined
      : new TaskContainerWatch({ runtime: new DockerodeRuntime({ dockerHost: config.dockerHost }), container: taskContainer, clock: systemClock, logger: logger.child({ module: 'docker' }) });
  const watching = watch?.run(stopWatching.signal).then((ended) => {
    if (ended !== undefined) requestShutdown(`task container ${ended.how}`);
  });

  let store: RefcountStore | undefined;
  let schedule: RunningSchedule | undefined;
  let http: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  let code: ExitCodeT = ExitCode.Ok;
  try {
    const mounter = new LinuxMounter({ logger: logger.child({ module: 'mounter' }) });
    const realRoot = await mounter.preflight(config.mountRoot);
    const mounterPort: MounterPort = {
      volumePath: (name) => mounter.volumePath(realRoot, name),
      bind: (source, target, options) => mounter.bind(source, target, options),
      unmountLazy: (target) => mounter.unmountLazy(target),
    };
    store = await createStore(config, realRoot, logger);
    const storeUp = await storeAnswers(store, STORE_CONNECT_BUDGET_MS, logger);
    metrics.storeUp.set({ backend: store.backend }, storeUp ? 1 : 0);
    if (!storeUp) {
      throw new DvdiError('DVDI_STORE_UNAVAILABLE', `refcount store (${store.backend}) did not answer within ${STORE_CONNECT_BUDGET_MS} ms at start`, { exitCode: ExitCode.Unavailable });
    }

    const drivers = driverRegistry(config, logger.child({ module: 'driver' }), metrics);
    // One sweep before acquiring anything (ARCHITECTURE.md "Recovery"), then on the schedule.
    const sweepDeps = buildSweepDeps({ config, realRoot, mounter, store, drivers, logger, metrics });
    await reconcileOnce(sweepDeps);
    schedule = scheduleReconciler(sweepDeps, config.reconcileCron, logger.child({ module: 'reconcile' }));

    const volumes = new TaskVolumes({
      node: config.nodeId,
      task: config.taskId,
      leaseTtlMs: config.leaseTtlMs,
      acquireTimeoutMs: config.acquireTimeoutMs,
      mountTimeoutMs: config.mountTimeoutMs,
      store,
      drivers,
      ledger: mountLedger(realRoot),
      mounter: mounterPort,
      clock: systemClock,
      logger: logger.child({ module: 'lifecycle' }),
      metrics,
    });
    const backend = store.backend;
    // Readiness follows the mount: a bound volume that died (plugin restart, deleted source)
    // turns /readyz 503 and dvdi_ready 0 until it answers again (health/volume-health.ts).
    const health = new VolumeHealthMonitor(
      () => volumes.readiness().volumes.filter((v) => v.state === 'ready'),
      {
        clock: systemClock,
        logger: logger.child({ module: 'health' }),
        gauge: metrics.volumeHealthy,
        onChange: (dead) => metrics.ready.set(dead.size === 0 && volumes.readiness().ready ? 1 : 0),
      },
    );
    const readiness = () => {
      const report = volumes.readiness();
      const dead = health.dead();
      if (dead.size === 0) return report;
      return { ready: false, volumes: report.volumes.map((v) => (dead.has(v.name) ? { ...v, state: 'dead', reason: dead.get(v.name) } : v)) };
    };
    http = await startHttpServer(
      {
        readiness,
        status: async () => ({
          node: config.nodeId,
          task: config.taskId,
          version: VERSION,
          store: { backend, up: (await metrics.storeUp.get()).values.some((v) => v.value === 1) },
          ready: readiness().ready,
          volumes: await volumes.status(),
          ...(watch === undefined ? {} : { docker: watch.status() }),
        }),
        registry,
      },
      { host: config.httpAddr.host, port: config.httpAddr.port, logger: logger.child({ module: 'http' }) },
    );
    logger.info({ url: http.url }, 'http endpoints listening');

    // Leases are kept from the first acquire on: a performer mounting for minutes must not lose it.
    const leases = new AbortController();
    let lost: LeaseLostError | undefined;
    const lostSignal = new AbortController();
    const keeper = volumes.keepLeases(leases.signal, (error) => {
      lost = error;
      lostSignal.abort();
    });

    try {
      await volumes.attachAll(specs, AbortSignal.any([shutdown.signal, lostSignal.signal]));
    } catch (error) {
      leases.abort();
      await keeper;
      if (shutdownSignal !== undefined) {
        // Whatever the in-flight step answered to being cut short (AbortedError, an aborted
        // driver call), the attach undid every completed step: a requested shutdown is clean.
        logger.info({ err: describeError(error) }, 'shutdown while attaching: every completed step was undone');
        return ExitCode.Ok;
      }
      if (lost !== undefined) throw lost;
      throw error;
    }
    if (config.readyFile !== undefined) await writeFile(config.readyFile, `${new Date().toISOString()}\n`);
    logger.info({ volumes: specs.map((s) => s.name) }, 'ready');
    const healthStop = new AbortController();
    const healthLoop = health.run(healthStop.signal);

    await new Promise<void>((resolve) => {
      if (shutdown.signal.aborted || lostSignal.signal.aborted) return resolve();
      shutdown.signal.addEventListener('abort', () => resolve(), { once: true });
      lostSignal.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    leases.abort();
    healthStop.abort();
    await Promise.all([keeper, healthLoop]);
    if (config.readyFile !== undefined) await rm(config.readyFile, { force: true });

    if (lost !== undefined) {
      logger.error({ err: describeError(lost) }, 'lease lost: fencing (not ready, bind detached unless another holder on this node keeps it)');
      await withDeadline(volumes.fence(), config.shutdownTimeoutMs, logger, 'fencing');
      code = ExitCode.Fenced;
    } else {
      const result = await withDeadline(volumes.detachAll(), config.shutdownTimeoutMs, logger, 'detaching');
      if (result !== undefined && result.failures.length > 0) {
        logger.warn({ failures: result.failures.map((f) => ({ volume: f.volume, err: describeError(f.error) })) }, 'some volumes could not be released; the reconciler finishes them');
      }
      logger.info('clean shutdown');
    }
  } catch (error) {
    code = exitCodeOf(error);
    logger.error({ code: error instanceof DvdiError ? error.code : undefined, err: describeError(error), exitCode: code }, 'sidecar failed');
    process.stderr.write(`dvdi sidecar: ${describeError(error)}\n`);
  } finally {
    stopWatching.abort();
    await watching;
    if (config.readyFile !== undefined) await rm(config.readyFile, { force: true }).catch(() => undefined);
    await schedule?.stop().catch(() => undefined);
    await http?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
  }
  return code;
}

async function withDeadline<T>(work: Promise<T>, ms: number, logger: Logger, what: string): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      logger.error({ ms }, `${what} did not finish within DVDI_SHUTDOWN_TIMEOUT_MS; exiting, the reconciler finishes it`);
      resolve(undefined);
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `dvdi reconcile`: one sweep of this node with the sidecar's settings, then exit. Prints the
 * report as JSON on stdout; exit 0 when the sweep ran clean, 3 when a step failed, 4 when the
 * store is unavailable, 2 on invalid settings.
 */
export async function runReconcileCommand(envOverride?: Env): Promise<ExitCodeT> {
  const env = envOverride ?? process.env;
  let config: Config;
  try {
    config = loadSidecarConfig(env, hostname());
  } catch (error) {
    process.stderr.write(`dvdi reconcile: ${describeError(error)}\n`);
    return ExitCode.Config;
  }
  const logger = createLogger(config.logLevel, { node: config.nodeId, command: 'reconcile' });
  let store: RefcountStore | undefined;
  try {
    const mounter = new LinuxMounter({ logger: logger.child({ module: 'mounter' }) });
    const realRoot = await mounter.preflight(config.mountRoot);
    store = await createStore(config, realRoot, logger);
    if (!(await storeAnswers(store, STORE_CONNECT_BUDGET_MS, logger))) {
      throw new DvdiError('DVDI_STORE_UNAVAILABLE', `refcount store (${store.backend}) is not available`, { exitCode: ExitCode.Unavailable });
    }
    // The sidecar's lookup (plugin directories, then managed plugins through the engine): a
    // sweep must reach every plugin a sidecar mounted through.
    const drivers = driverRegistry(config, logger.child({ module: 'driver' }), createSidecarMetrics(new Registry(), { defaultMetrics: false }));
    const report = await reconcileOnce(buildSweepDeps({ config, realRoot, mounter, store, drivers, logger }));
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (report.skipped) process.stderr.write('dvdi reconcile: another sweep holds this node\'s lock; nothing done\n');
    return report.errors.length > 0 ? ExitCode.MountFailed : ExitCode.Ok;
  } catch (error) {
    process.stderr.write(`dvdi reconcile: ${describeError(error)}\n`);
    return exitCodeOf(error);
  } finally {
    await store?.close().catch(() => undefined);
  }
}

/** `dvdi status [--json]`: the store's view of every volume in use, for operators. */
export async function runStatusCommand(json: boolean, envOverride?: Env): Promise<ExitCodeT> {
  const env = envOverride ?? process.env;
  let config: Config;
  try {
    config = loadSidecarConfig(env, hostname());
  } catch (error) {
    process.stderr.write(`dvdi status: ${describeError(error)}\n`);
    return ExitCode.Config;
  }
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { command: 'status' });
  let store: RefcountStore | undefined;
  try {
    // The embedded store lives under the real mount root; no preflight needed just to read it.
    const realRoot = await realpath(config.mountRoot).catch(() => config.mountRoot);
    store = await createStore(config, realRoot, logger);
    if (!(await storeAnswers(store, STORE_CONNECT_BUDGET_MS, logger))) {
      throw new DvdiError('DVDI_STORE_UNAVAILABLE', `refcount store (${store.backend}) did not answer within ${STORE_CONNECT_BUDGET_MS} ms`, { exitCode: ExitCode.Unavailable });
    }
    const volumes = await store.list();
    process.stdout.write(json ? `${JSON.stringify({ backend: store.backend, volumes }, null, 2)}\n` : renderStatus(store.backend, volumes));
    return ExitCode.Ok;
  } catch (error) {
    process.stderr.write(`dvdi status: ${describeError(error)}\n`);
    return exitCodeOf(error) === ExitCode.Internal ? ExitCode.Unavailable : exitCodeOf(error);
  } finally {
    await store?.close().catch(() => undefined);
  }
}

/**
 * `dvdcli …`, the rexray/dvdcli drop-in that Mesos agents execute: the same settings, plugin
 * discovery (managed plugins too), mount root and store as the sidecar, handed to
 * cli/dvdcli-command.ts. Resolves with the exit code: 0 success, 1 failure, 2 usage error.
 */
export async function runDvdcliCommand(argv: readonly string[], envOverride?: Env): Promise<number> {
  const env = envOverride ?? process.env;
  const { runDvdcli } = await import('./cli/dvdcli-command.js');
  const metrics = createSidecarMetrics(new Registry());
  return runDvdcli(argv, {
    env,
    hostname: hostname(),
    mountRootConfigured: (env.DVDI_MOUNT_ROOT ?? '').trim() !== '',
    async prepareMountRoot(root, logger) {
      const mounter = new LinuxMounter({ logger });
      const realRoot = await mounter.preflight(root);
      return {
        realRoot,
        mounter: {
          volumePath: (name) => mounter.volumePath(realRoot, name),
          bind: (source, target, options) => mounter.bind(source, target, options),
          unmountLazy: (target) => mounter.unmountLazy(target),
          isMounted: (target) => mounter.isMounted(target),
        },
      };
    },
    storeRootWithoutPreflight: (root) => realpath(root).catch(() => root),
    createStore,
    createDrivers: (config, logger) => driverRegistry(config, logger, metrics),
    mountLedger,
    stdout: (text) => new Promise<void>((resolve) => process.stdout.write(text, () => resolve())),
    stderr: (text) => {
      process.stderr.write(text);
    },
  });
}
