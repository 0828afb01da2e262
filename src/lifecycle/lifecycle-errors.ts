// Errors of the attach / detach / fence use cases, each with the CONTRACT exit code. A store that
// cannot be reached is refcount/refcount-errors.ts StoreUnavailableError, for every caller.
import { DvdiError, ExitCode } from '../common/errors.js';

export class VolumeHeldError extends DvdiError {
  constructor(volume: string, driver: string, nodes: readonly string[], waitedMs: number) {
    super(
      'DVDI_VOLUME_HELD',
      `volume ${volume} (driver ${driver}) is held exclusively by node ${nodes.join(', ')}; gave up after ${waitedMs} ms ` +
        `(raise DVDI_ACQUIRE_TIMEOUT_MS to wait longer, or set DVDI_VOLUME_PREEMPT=true to take it)`,
      { context: { volume, driver, nodes: nodes.join(','), waitedMs }, exitCode: ExitCode.Unavailable },
    );
  }
}

export class AccessModeConflictError extends DvdiError {
  constructor(volume: string, driver: string, wanted: string, held: string) {
    super(
      'DVDI_ACCESS_MODE_CONFLICT',
      `volume ${volume} (driver ${driver}) is held in ${held} mode; this task asked for ${wanted} (DVDI_VOLUME_ACCESS must match while the volume is in use)`,
      { context: { volume, driver, wanted, held }, exitCode: ExitCode.Unavailable },
    );
  }
}

export class VolumeMissingError extends DvdiError {
  /** `reason`: what asked for explicit create (the sidecar's setting, dvdcli's flag). */
  constructor(volume: string, driver: string, reason = 'DVDI_VOLUME_EXPLICITCREATE is true') {
    super(
      'DVDI_VOLUME_MISSING',
      `volume ${volume} does not exist in driver ${driver} and ${reason}, so it is not created`,
      { context: { volume, driver }, exitCode: ExitCode.MountFailed },
    );
  }
}

export class LeaseLostError extends DvdiError {
  constructor(volume: string, driver: string, when: string) {
    super('DVDI_LEASE_LOST', `lease on volume ${volume} (driver ${driver}) was lost ${when} (revoked by a preemption or expired)`, {
      context: { volume, driver, when },
      exitCode: ExitCode.Fenced,
    });
  }
}
