// The flow of `dvdi sidecar`, second half (after HTTP listens): the task container → the node's
// services (mount-root preflight, store) → one reconcile sweep, then the schedule → attach every
// volume while keeping leases → ready file → wait for a shutdown signal, the task container's
// end or a lost lease → detach (or fence) → exit code. The safety-critical sequences are
// lifecycle/'s; this module only orders them.
import type { Clock } from '../common/clock.js';
import { ErrorCode } from '../common/error-codes.js';
import { AbortedError, DvdiError, ExitCode, describeError, exitCodeOf, type ExitCode as ExitCodeT } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { removeReadyFile, writeReadyFile } from '../common/ready-file.js';
import { VERSION } from '../common/version.js';
import { describeConfig, loadVolumeRequests, type Config, type Env } from '../config/index.js';
import type { ContainerRuntime } from '../docker/container-runtime.js';
import { DockerodeRuntime } from '../docker/dockerode-runtime.js';
import { readTaskContainer, TaskContainerWatch, volumeLabels } from '../docker/task-container.js';
import { VolumeHealthMonitor } from '../health/volume-health.js';
import type { LeaseLostError } from '../lifecycle/lifecycle-errors.js';
import { TaskVolumes } from '../lifecycle/task-volumes.js';
import { scheduleReconciler, type RunningSchedule } from '../reconcile/reconcile-schedule.js';
import { reconcileOnce, type SweepDeps } from '../reconcile/reconcile-sweep.js';
import { openNodeServices, type NodeServices } from '../wiring/node-services.js';
import type { Inputs, Running, SidecarProcess } from './sidecar-view.js';

/** The task container's DVDI_VOLUME_* labels are the lowest-ranked source: env wins. */
async function withTaskContainer(inputs: Inputs, env: Env, runtime: ContainerRuntime, clock: Clock): Promise<Inputs> {
  const { config } = inputs;
  if (config.taskContainer === undefined) return inputs;
  const taskContainer = await readTaskContainer({ runtime, container: config.taskContainer, dockerHost: config.dockerHost, clock });
  return { config, specs: loadVolumeRequests(env, volumeLabels(taskContainer.labels)).specs, taskContainer };
}

/** Everything after HTTP: the task container, the services, the session. */
export async function runStarted(proc: SidecarProcess, firstInputs: Inputs, run: Running): Promise<ExitCodeT> {
  const { logger, view, shutdown } = run;
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
  // A ready file left by a sidecar that was killed would say "ready" before anything is attached.
  if (inputs.config.readyFile !== undefined) await removeReadyFile(inputs.config.readyFile);
  // The task container ending is a shutdown like SIGTERM: nobody may be left to signal us.
  const stopWatching = new AbortController();
  const container = inputs.taskContainer;
  view.watch = container === undefined ? undefined : new TaskContainerWatch({ runtime, container, clock: proc.clock, logger: logger.child({ module: 'docker' }) });
  const watching = view.watch?.run(stopWatching.signal).then((ended) => {
    if (ended !== undefined && !shutdown.signal.aborted) shutdown.abort(new AbortedError(`task container ${ended.how}`));
  });
  let services: NodeServices | undefined;
  let schedule: LaterSchedule | undefined;
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
    schedule = laterSchedule(sweep, inputs.config.reconcileCron);
    return await runSession(services, inputs, run, shutdown.signal, () => schedule?.start());
  } finally {
    stopWatching.abort();
    await watching;
    if (inputs.config.readyFile !== undefined) await removeReadyFile(inputs.config.readyFile).catch(() => undefined);
    await schedule?.stop().catch(() => undefined);
    await services?.close();
  }
}

/** How long an attach may take before the reconciler's schedule starts anyway. */
export const SCHEDULE_WHILE_ATTACHING_MS = 2_000;

interface LaterSchedule {
  /** Start the schedule now (once; later calls do nothing). */
  start(): void;
  stop(): Promise<void>;
}

/**
 * The reconciler's schedule, started when the attach is over (ready or failed) or after
 * SCHEDULE_WHILE_ATTACHING_MS of attaching, whichever comes first. node-cron computes every date
 * with Intl.DateTimeFormat, and the first one loads ICU data (10-30 ms of CPU): work that need not
 * stand between start and ready, since the sweep just ran and the first tick is a period away.
 */
function laterSchedule(sweep: SweepDeps, expression: string): LaterSchedule {
  let running: RunningSchedule | undefined;
  let stopped = false;
  const start = (): void => {
    clearTimeout(timer);
    if (running !== undefined || stopped) return;
    running = scheduleReconciler(sweep, expression, sweep.logger);
  };
  const timer = setTimeout(start, SCHEDULE_WHILE_ATTACHING_MS);
  return {
    start,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.stop();
    },
  };
}

/** Attach with leases kept from the first acquire on; ready; wait; detach or fence. */
async function runSession(services: NodeServices, inputs: Inputs, run: Running, shutdown: AbortSignal, attached: () => void): Promise<ExitCodeT> {
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
    attached();
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
  if (config.readyFile !== undefined) await writeReadyFile(config.readyFile, `${new Date().toISOString()}\n`);
  logger.info({ volumes: specs.map((s) => s.name) }, 'ready');
  // After the ready line and the 200: the first cron date is the slowest step left.
  setImmediate(attached);
  const health = watchHealth(volumes, run, services.clock);
  await untilAborted(AbortSignal.any([shutdown, lease.lostSignal]));
  view.stage = 'stopping';
  leases.abort();
  await Promise.all([lease.keeper, health.stop()]);
  if (config.readyFile !== undefined) await removeReadyFile(config.readyFile);
  return stop(volumes, lease.lost(), config, logger);
}

/**
 * Readiness follows the mount: every bound volume is checked on an interval; a dead one (plugin
 * restart, source deleted underneath) turns /readyz 503 and dvdi_ready 0 until it answers again.
 */
function watchHealth(volumes: TaskVolumes, run: Running, clock: Clock): { stop(): Promise<void> } {
  const { view, metrics } = run;
  const health = new VolumeHealthMonitor(() => volumes.readiness().volumes.filter((v) => v.state === 'ready'), {
    clock,
    logger: run.logger.child({ module: 'health' }),
    gauge: metrics.volumeHealthy,
    onChange: () => metrics.ready.set(view.readiness().ready ? 1 : 0),
  });
  view.health = health;
  const stopping = new AbortController();
  const loop = health.run(stopping.signal);
  return {
    stop: async () => {
      stopping.abort();
      await loop;
    },
  };
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
