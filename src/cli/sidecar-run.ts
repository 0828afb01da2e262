// The flow of `dvdi sidecar`: settings and volume requests → HTTP (listening at once: /readyz
// 503 with the reason, /livez 200) → the node's services (mount-root preflight, store) → one
// reconcile sweep, then the schedule → attach every volume while keeping leases → ready file →
// wait for a shutdown signal, the task container's end or a lost lease → detach (or fence) →
// exit code. The safety-critical sequences are lifecycle/'s; this module only orders them.
import { rm, writeFile } from 'node:fs/promises';
import { Registry } from 'prom-client';
import type { Clock } from '../common/clock.js';
import { ErrorCode } from '../common/error-codes.js';
import { AbortedError, DvdiError, ExitCode, describeError, exitCodeOf, type ExitCode as ExitCodeT } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { VERSION } from '../common/version.js';
import { ConfigError, describeConfig, loadSidecarConfig, loadVolumeRequests, type Config, type Env, type VolumeSpec } from '../config/index.js';
import type { ContainerDetails, ContainerRuntime } from '../docker/container-runtime.js';
import { DockerodeRuntime } from '../docker/dockerode-runtime.js';
import { readTaskContainer, TaskContainerWatch, volumeLabels } from '../docker/task-container.js';
import { startHttpServer, type RunningHttpServer } from '../http/http-server.js';
import type { LeaseLostError } from '../lifecycle/lifecycle-errors.js';
import { TaskVolumes } from '../lifecycle/task-volumes.js';
import { createSidecarMetrics, type SidecarMetrics } from '../metrics/sidecar-metrics.js';
import { scheduleReconciler, type RunningSchedule } from '../reconcile/reconcile-schedule.js';
import { reconcileOnce } from '../reconcile/reconcile-sweep.js';
import { openNodeServices, type NodeServices, type WiringOptions } from '../wiring/node-services.js';

export interface SidecarProcess {
  env: Env;
  hostname: string;
  clock: Clock;
  /** Called with the first shutdown signal's name. */
  onShutdownSignal(listener: (signal: string) => void): void;
  stderr(text: string): void;
  /** Test seams of the wiring (host mounter, Docker engine). */
  wiring?: Pick<WiringOptions, 'hostMounter' | 'runtime' | 'managedSocketDir'>;
}

/** Why the sidecar is not ready yet (the `reason` of /readyz while 503). */
export type StartStage = 'starting' | 'waiting for store' | 'attaching' | 'ready' | 'stopping';

interface Inputs {
  config: Config;
  specs: readonly VolumeSpec[];
  taskContainer?: ContainerDetails;
}

/** Settings and volume requests, checked together so one run names every problem. */
function loadInputs(env: Env, hostname: string): { config: Config; specs: readonly VolumeSpec[] } {
  const problems: ConfigError[] = [];
  let config: Config | undefined;
  let specs: readonly VolumeSpec[] | undefined;
  try {
    config = loadSidecarConfig(env, hostname);
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
  if (problems.length > 0 || config === undefined || specs === undefined) throw ConfigError.combine(problems);
  return { config, specs };
}

/** The task container's DVDI_VOLUME_* labels are the lowest-ranked source: env wins. */
async function withTaskContainer(inputs: Inputs, env: Env, runtime: ContainerRuntime, clock: Clock): Promise<Inputs> {
  const { config } = inputs;
  if (config.taskContainer === undefined) return inputs;
  const taskContainer = await readTaskContainer({ runtime, container: config.taskContainer, dockerHost: config.dockerHost, clock });
  return { config, specs: loadVolumeRequests(env, volumeLabels(taskContainer.labels)).specs, taskContainer };
}

/** What the HTTP endpoints read: the start stage until the volumes exist, then the volumes. */
class SidecarView {
  stage: StartStage = 'starting';
  volumes: TaskVolumes | undefined;
  storeBackend: string | undefined;
  watch: TaskContainerWatch | undefined;

  constructor(
    private readonly config: Config,
    private readonly metrics: SidecarMetrics,
  ) {}

  readiness(): { ready: boolean; reason?: string; volumes: Array<{ name: string; driver: string; state: string; hostPath: string }> } {
    if (this.volumes === undefined || this.stage !== 'ready') {
      return { ready: false, reason: this.stage, volumes: this.volumes?.readiness().volumes ?? [] };
    }
    return this.volumes.readiness();
  }

  async status(): Promise<unknown> {
    const ready = this.readiness();
    return {
      node: this.config.nodeId,
      task: this.config.taskId,
      version: VERSION,
      store: { backend: this.storeBackend ?? this.config.storeBackend, up: (await this.metrics.storeUp.get()).values.some((v) => v.value === 1) },
      ready: ready.ready,
      ...(ready.ready ? {} : { reason: ready.reason ?? 'not ready' }),
      volumes: this.volumes === undefined ? [] : await this.volumes.status(),
      ...(this.watch === undefined ? {} : { docker: this.watch.status() }),
    };
  }
}

/** Runs the sidecar until shutdown; resolves with the process exit code (docs/contract). */
export async function runSidecar(proc: SidecarProcess): Promise<ExitCodeT> {
  let inputs: Inputs;
  try {
    inputs = loadInputs(proc.env, proc.hostname);
  } catch (error) {
    proc.stderr(`dvdi sidecar: ${describeError(error)}\n`);
    return exitCodeOf(error) === ExitCode.Internal ? ExitCode.Config : exitCodeOf(error);
  }
  const { config } = inputs;
  const logger = createLogger(config.logLevel, { node: config.nodeId, task: config.taskId });
  for (const warning of config.warnings) logger.warn(warning);
  const registry = new Registry();
  const metrics = createSidecarMetrics(registry);
  metrics.ready.set(0);
  const view = new SidecarView(config, metrics);
  let http: RunningHttpServer | undefined;
  try {
    // Listening comes first: a probe must see "starting", never "connection refused".
    http = await startHttpServer(
      { readiness: () => view.readiness(), status: () => view.status(), registry },
      { host: config.httpAddr.host, port: config.httpAddr.port, logger: logger.child({ module: 'http' }) },
    );
    logger.info({ url: http.url }, 'http endpoints listening');
    return await runStarted(proc, inputs, { logger, metrics, view });
  } catch (error) {
    return failed(proc, logger, error);
  } finally {
    await http?.close().catch(() => undefined);
  }
}

function failed(proc: SidecarProcess, logger: Logger, error: unknown): ExitCodeT {
  const code = exitCodeOf(error);
  logger.error({ code: error instanceof DvdiError ? error.code : undefined, err: describeError(error), exitCode: code }, 'sidecar failed');
  proc.stderr(`dvdi sidecar: ${describeError(error)}\n`);
  return code;
}

interface Running {
  logger: Logger;
  metrics: SidecarMetrics;
  view: SidecarView;
}

/** Everything after HTTP: the shutdown wiring, the task container, the services, the session. */
async function runStarted(proc: SidecarProcess, firstInputs: Inputs, run: Running): Promise<ExitCodeT> {
  const { logger, view } = run;
  const shutdown = new AbortController();
  proc.onShutdownSignal((signal) => {
    if (shutdown.signal.aborted) return;
    logger.info({ signal }, 'shutdown requested');
    shutdown.abort(new AbortedError(signal));
  });
  const runtime = proc.wiring?.runtime ?? new DockerodeRuntime({ dockerHost: firstInputs.config.dockerHost });
  let inputs: Inputs;
  try {
    inputs = await withTaskContainer(firstInputs, proc.env, runtime, proc.clock);
  } catch (error) {
    proc.stderr(`dvdi sidecar: ${describeError(error)}\n`);
    return exitCodeOf(error) === ExitCode.Internal ? ExitCode.Config : exitCodeOf(error);
  }
  logger.info({ version: VERSION, config: describeConfig(inputs.config, inputs.specs) }, 'dvdi sidecar starting');
  if (inputs.specs.length === 0) logger.warn('no DVDI_VOLUME_NAME[0-9] is set: nothing to mount; reporting ready');
  // The task container ending is a shutdown like SIGTERM: nobody may be left to signal us.
  const stopWatching = new AbortController();
  const container = inputs.taskContainer;
  view.watch = container === undefined ? undefined : new TaskContainerWatch({ runtime, container, clock: proc.clock, logger: logger.child({ module: 'docker' }) });
  const watching = view.watch?.run(stopWatching.signal).then((ended) => {
    if (ended !== undefined && !shutdown.signal.aborted) shutdown.abort(new AbortedError(`task container ${ended.how}`));
  });
  let services: NodeServices | undefined;
  let schedule: RunningSchedule | undefined;
  try {
    services = await openNodeServices(inputs.config, {
      logger,
      clock: proc.clock,
      metrics: run.metrics,
      root: 'required',
      ...proc.wiring,
      onStage: (stage) => {
        if (stage === 'store') view.stage = 'waiting for store';
      },
    });
    view.storeBackend = services.store.backend;
    // One sweep before acquiring anything (docs/architecture.md "Recovery"), then on the schedule.
    const sweep = services.sweep();
    await reconcileOnce(sweep);
    schedule = scheduleReconciler(sweep, inputs.config.reconcileCron, sweep.logger);
    return await runSession(services, inputs, run, shutdown.signal);
  } finally {
    stopWatching.abort();
    await watching;
    if (inputs.config.readyFile !== undefined) await rm(inputs.config.readyFile, { force: true }).catch(() => undefined);
    await schedule?.stop().catch(() => undefined);
    await services?.close();
  }
}

/** Attach with leases kept from the first acquire on; ready; wait; detach or fence. */
async function runSession(services: NodeServices, inputs: Inputs, run: Running, shutdown: AbortSignal): Promise<ExitCodeT> {
  const { config, specs } = inputs;
  const { logger, view } = run;
  const volumes = new TaskVolumes({
    node: config.nodeId,
    task: config.taskId,
    leaseTtlMs: config.leaseTtlMs,
    acquireTimeoutMs: config.acquireTimeoutMs,
    mountTimeoutMs: config.mountTimeoutMs,
    ...services.lifecycle(),
    mounter: services.mounter ?? missingMounter(),
    metrics: run.metrics,
  });
  view.volumes = volumes;
  view.stage = 'attaching';
  const leases = new AbortController();
  const lease = watchLeases(volumes, leases.signal);
  try {
    await volumes.attachAll(specs, AbortSignal.any([shutdown, lease.lostSignal]));
  } catch (error) {
    leases.abort();
    await lease.keeper;
    if (shutdown.aborted) {
      // Whatever the in-flight step answered to being cut short, the attach undid every
      // completed step: a requested shutdown is clean.
      logger.info({ err: describeError(error) }, 'shutdown while attaching: every completed step was undone');
      return ExitCode.Ok;
    }
    // The attach's own error wins; a lost lease only when it is what cut the attach short.
    const lost = lease.lost();
    if (lost !== undefined && wasCutShort(error)) throw lost;
    throw error;
  }
  view.stage = 'ready';
  if (config.readyFile !== undefined) await writeFile(config.readyFile, `${new Date().toISOString()}\n`);
  logger.info({ volumes: specs.map((s) => s.name) }, 'ready');
  await untilAborted(AbortSignal.any([shutdown, lease.lostSignal]));
  view.stage = 'stopping';
  leases.abort();
  await lease.keeper;
  if (config.readyFile !== undefined) await rm(config.readyFile, { force: true });
  return stop(volumes, lease.lost(), config, logger);
}

function missingMounter(): never {
  throw new DvdiError(ErrorCode.Internal, 'the sidecar runs only on a preflighted mount root');
}

function wasCutShort(error: unknown): boolean {
  return error instanceof DvdiError && (error.code === ErrorCode.Aborted || error.code === ErrorCode.DriverAborted);
}

function watchLeases(volumes: TaskVolumes, stop: AbortSignal): { keeper: Promise<void>; lostSignal: AbortSignal; lost(): LeaseLostError | undefined } {
  let lost: LeaseLostError | undefined;
  const lostController = new AbortController();
  const keeper = volumes.keepLeases(stop, (error) => {
    lost = error;
    lostController.abort();
  });
  return { keeper, lostSignal: lostController.signal, lost: () => lost };
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

async function stop(volumes: TaskVolumes, lost: LeaseLostError | undefined, config: Config, logger: Logger): Promise<ExitCodeT> {
  if (lost !== undefined) {
    logger.error({ err: describeError(lost) }, 'lease lost: fencing (not ready, bind detached unless another holder on this node keeps it)');
    await withDeadline(volumes.fence(), config.shutdownTimeoutMs, logger, 'fencing');
    return ExitCode.Fenced;
  }
  const result = await withDeadline(volumes.detachAll(), config.shutdownTimeoutMs, logger, 'detaching');
  if (result !== undefined && result.failures.length > 0) {
    logger.warn({ failures: result.failures.map((f) => ({ volume: f.volume, err: describeError(f.error) })) }, 'some volumes could not be released; the reconciler finishes them');
  }
  logger.info('clean shutdown');
  return ExitCode.Ok;
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
