// Errors of the attach / detach / fence use cases, each with the CONTRACT exit code. A store that
// cannot be reached is refcount/refcount-errors.ts StoreUnavailableError, for every caller.
// Names may come from store records (the reconciler's volumes are the node index's; the nodes
// holding a volume are the record's), which whoever can write to the store shapes: messages show
// them through showExternal (a valid name is shown as it is), context fields cleaned.
import { DvdiError, ExitCode } from '../common/errors.js';
import { cleanExternalList, cleanExternalText as clean, showExternal as x, showExternalList } from '../common/external-text.js';

/** What kept the volume: the nodes the store named, or the store's quarantine after a data loss. */
const QUARANTINE = '(store quarantine after data loss)';

export class VolumeHeldError extends DvdiError {
  constructor(volume: string, driver: string, nodes: readonly string[] | 'quarantine', waitedMs: number) {
    super(
      'DVDI_VOLUME_HELD',
      `volume ${x(volume)} (driver ${x(driver)}) is held exclusively by node ${nodes === 'quarantine' ? QUARANTINE : showExternalList(nodes)}; gave up after ${waitedMs} ms ` +
        `(raise DVDI_ACQUIRE_TIMEOUT_MS to wait longer, or set DVDI_VOLUME_PREEMPT=true to take it)`,
      { context: { volume: clean(volume), driver: clean(driver), nodes: nodes === 'quarantine' ? QUARANTINE : cleanExternalList(nodes).join(','), waitedMs }, exitCode: ExitCode.Unavailable },
    );
  }
}

export class AccessModeConflictError extends DvdiError {
  constructor(volume: string, driver: string, wanted: string, held: string) {
    super(
      'DVDI_ACCESS_MODE_CONFLICT',
      `volume ${x(volume)} (driver ${x(driver)}) is held in ${x(held)} mode; this task asked for ${wanted} (DVDI_VOLUME_ACCESS must match while the volume is in use)`,
      { context: { volume: clean(volume), driver: clean(driver), wanted, held: clean(held) }, exitCode: ExitCode.Unavailable },
    );
  }
}

export class VolumeMissingError extends DvdiError {
  /** `reason`: what asked for explicit create (the sidecar's setting, dvdcli's flag). */
  constructor(volume: string, driver: string, reason = 'DVDI_VOLUME_EXPLICITCREATE is true') {
    super(
      'DVDI_VOLUME_MISSING',
      `volume ${x(volume)} does not exist in driver ${x(driver)} and ${reason}, so it is not created`,
      { context: { volume: clean(volume), driver: clean(driver) }, exitCode: ExitCode.MountFailed },
    );
  }
}

export class LeaseLostError extends DvdiError {
  constructor(volume: string, driver: string, when: string) {
    super('DVDI_LEASE_LOST', `lease on volume ${x(volume)} (driver ${x(driver)}) was lost ${when} (revoked by a preemption or expired)`, {
      context: { volume: clean(volume), driver: clean(driver), when },
      exitCode: ExitCode.Fenced,
    });
  }
}
