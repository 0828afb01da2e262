// What the sidecar's HTTP endpoints read while it starts and runs (the start stage until the
// volumes exist, then the volumes), and the types its two halves share: sidecar-run.ts (settings,
// HTTP) and sidecar-session.ts (services, attach, detach), loaded once HTTP listens.
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { VERSION } from '../common/version.js';
import type { Config, Env, VolumeSpec } from '../config/index.js';
import type { ContainerDetails } from '../docker/container-runtime.js';
import type { TaskContainerWatch } from '../docker/task-container.js';
import type { VolumeHealthMonitor } from '../health/volume-health.js';
import type { TaskVolumes } from '../lifecycle/task-volumes.js';
import type { SidecarMetrics } from '../metrics/sidecar-metrics.js';
import type { WiringOptions } from '../wiring/node-services.js';

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

export interface Inputs {
  config: Config;
  specs: readonly VolumeSpec[];
  taskContainer?: ContainerDetails;
}

/** What the HTTP endpoints read: the start stage until the volumes exist, then the volumes. */
export class SidecarView {
  stage: StartStage = 'starting';
  volumes: TaskVolumes | undefined;
  storeBackend: string | undefined;
  watch: TaskContainerWatch | undefined;
  /** Readiness follows the mount: a dead bound volume (health/volume-health.ts) means not ready. */
  health: VolumeHealthMonitor | undefined;

  constructor(
    private readonly config: Config,
    private readonly metrics: SidecarMetrics,
  ) {}

  readiness(): { ready: boolean; reason?: string; volumes: Array<{ name: string; driver: string; state: string; hostPath: string }> } {
    if (this.volumes === undefined || this.stage !== 'ready') {
      return { ready: false, reason: this.stage, volumes: this.volumes?.readiness().volumes ?? [] };
    }
    const report = this.volumes.readiness();
    const dead = this.health?.dead();
    if (dead === undefined || dead.size === 0) return report;
    return { ready: false, volumes: report.volumes.map((v) => (dead.has(v.name) ? { ...v, state: 'dead', reason: dead.get(v.name) ?? 'dead' } : v)) };
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

export interface Running {
  /** Aborted by the first shutdown signal or the task container's end. */
  shutdown: AbortController;
  logger: Logger;
  metrics: SidecarMetrics;
  view: SidecarView;
}

