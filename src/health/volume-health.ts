// Readiness follows the mount: while the sidecar runs, each bound volume is checked every few
// seconds — its bind still in the mount table, the bind's source not deleted underneath
// (mountinfo shows `//deleted` when a plugin removed the directory while it was bound), and the
// path answering a `stat` (a FUSE plugin that died leaves ENOTCONN, NFS ESTALE, broken storage
// EIO) within a time limit. A dead volume turns readiness off, sets dvdi_volume_healthy 0 and is
// logged once, with what the operator should do; it turns back when healthy again. The sidecar
// never remounts under a running task: the task holds open files on the dead mount, so only
// restarting the task (a new sidecar mounts afresh) gives it a live one.
import { stat } from 'node:fs/promises';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { readMountInfoAt, type MountInfoEntry } from '../common/mountinfo.js';

/** A volume this sidecar has bound under the mount root. */
export interface BoundVolume {
  name: string;
  driver: string;
  hostPath: string;
}

export type VolumeHealth = { healthy: true } | { healthy: false; reason: string };

export interface VolumeHealthOptions {
  clock: Clock;
  logger: Logger;
  /** dvdi_volume_healthy{volume,driver}. */
  gauge?: { set(labels: { volume: string; driver: string }, value: number): void };
  /** Called whenever the set of dead volumes changes (readiness and dvdi_ready follow it). */
  onChange?: (unhealthy: ReadonlyMap<string, string>) => void;
  /** Between checks (default 5000 ms). */
  intervalMs?: number;
  /** Longest a stat may take before the volume counts as dead (default 2000 ms). */
  statTimeoutMs?: number;
  /** The mount table's entries at these paths (more are fine); default /proc/self/mountinfo's. */
  mountTable?: (paths: ReadonlySet<string>) => Promise<readonly MountInfoEntry[]>;
  statPath?: (path: string) => Promise<unknown>;
}

export const DEFAULT_HEALTH_INTERVAL_MS = 5000;
export const DEFAULT_STAT_TIMEOUT_MS = 2000;

/** What an operator reads in the log line of a dead volume. */
export const DEAD_VOLUME_ACTION =
  'the task is using a dead mount: restart the task so that a new sidecar mounts the volume afresh (check the volume plugin first: a plugin restart drops FUSE mounts)';

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : String(error);
}

export class VolumeHealthMonitor {
  private readonly unhealthy = new Map<string, string>();
  /** A stat that has not answered yet: never start a second one on a hung path. */
  private readonly pendingStats = new Map<string, Promise<unknown>>();

  constructor(
    private readonly volumes: () => readonly BoundVolume[],
    private readonly options: VolumeHealthOptions,
  ) {}

  /** Dead volumes by name, with the reason. */
  dead(): ReadonlyMap<string, string> {
    return this.unhealthy;
  }

  /** Check every bound volume once and update state, gauge and log. */
  async checkOnce(): Promise<void> {
    const volumes = this.volumes();
    if (volumes.length === 0) return;
    let table: readonly MountInfoEntry[];
    try {
      table = await (this.options.mountTable ?? readMountInfoAt)(new Set(volumes.map((v) => v.hostPath)));
    } catch (error) {
      // Without the mount table nothing is known: keep the last verdicts.
      this.options.logger.warn({ err: errorCode(error) }, 'volume health: mount table unreadable; verdicts unchanged');
      return;
    }
    let changed = false;
    for (const volume of volumes) {
      const health = await this.checkVolume(volume, table);
      const was = this.unhealthy.get(volume.name);
      this.options.gauge?.set({ volume: volume.name, driver: volume.driver }, health.healthy ? 1 : 0);
      if (!health.healthy && was === undefined) {
        this.unhealthy.set(volume.name, health.reason);
        changed = true;
        this.options.logger.error({ volume: volume.name, driver: volume.driver, hostPath: volume.hostPath, reason: health.reason, action: DEAD_VOLUME_ACTION }, 'volume is dead: not ready');
      } else if (health.healthy && was !== undefined) {
        this.unhealthy.delete(volume.name);
        changed = true;
        this.options.logger.info({ volume: volume.name, driver: volume.driver, hostPath: volume.hostPath, was }, 'volume healthy again');
      } else if (!health.healthy) {
        this.unhealthy.set(volume.name, health.reason);
      }
    }
    if (changed) this.options.onChange?.(this.unhealthy);
  }

  /** Check now, then every interval until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const interval = this.options.intervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
    while (!signal.aborted) {
      await this.checkOnce().catch((error: unknown) => this.options.logger.warn({ err: errorCode(error) }, 'volume health check failed'));
      try {
        await this.options.clock.sleep(interval, signal);
      } catch {
        return;
      }
    }
  }

  private async checkVolume(volume: BoundVolume, table: readonly MountInfoEntry[]): Promise<VolumeHealth> {
    const mounts = table.filter((m) => m.mountPoint === volume.hostPath);
    const top = mounts[mounts.length - 1];
    if (top === undefined) return { healthy: false, reason: 'the bind is gone from the mount table' };
    if (top.root.endsWith('//deleted')) return { healthy: false, reason: `the bind's source was deleted underneath (${top.root})` };
    return this.statWithin(volume.hostPath);
  }

  private async statWithin(path: string): Promise<VolumeHealth> {
    const timeoutMs = this.options.statTimeoutMs ?? DEFAULT_STAT_TIMEOUT_MS;
    let pending = this.pendingStats.get(path);
    if (pending === undefined) {
      pending = (this.options.statPath ?? stat)(path);
      this.pendingStats.set(path, pending);
      const forget = (): void => {
        if (this.pendingStats.get(path) === pending) this.pendingStats.delete(path);
      };
      pending.then(forget, forget);
    }
    const timer = new AbortController();
    try {
      const answered = await Promise.race([
        pending.then(
          () => ({ healthy: true }) as const,
          (error: unknown) => ({ healthy: false, reason: `stat failed: ${errorCode(error)}` }) as const,
        ),
        this.options.clock.sleep(timeoutMs, timer.signal).then(
          () => ({ healthy: false, reason: `stat did not answer within ${timeoutMs} ms` }) as const,
          () => ({ healthy: false, reason: 'aborted' }) as const,
        ),
      ]);
      return answered;
    } finally {
      timer.abort();
    }
  }
}
