// One reconcile sweep of this node, as a plain async function (ARCHITECTURE.md "Recovery"):
//   1 reap this node's expired holders in the store;
//   2 take over the unmount of every volume with no live holder on this node (lazy unmount of
//     the bind, driver Unmount with the recorded mount ID, mark unmounted);
//   3 unmount binds under the mount root that no store record of this node explains (orphans).
// A per-node lock lets one sweep run at a time. A live holder's volume is never touched: step 2
// goes through the store's claimUnmount, which refuses while a live holder is on the node, and
// step 3 only acts on a bind the store has not explained for at least one lease TTL (so holders
// that re-register after a store data loss, or a mount between its bind and markMounted, are
// never mistaken for orphans).
import { randomUUID } from 'node:crypto';
import type { Clock } from '../common/clock.js';
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { DriverRegistryPort } from '../lifecycle/ports.js';
import type { SidecarMetrics } from '../metrics/sidecar-metrics.js';
import type { RefcountStore, VolumeKey } from '../refcount/refcount-store.js';

/** What the sweep needs of the mounter. */
export interface SweepMounterPort {
  /** Every bind directly at ROOT/<name>. */
  listBinds(): Promise<Array<{ name: string; path: string }>>;
  volumePath(name: string): Promise<string>;
  unmountLazy(target: string): Promise<unknown>;
}

/** The per-node sweep lock: `tryAcquire` answers undefined when another sweep holds it. */
export interface SweepLockPort {
  tryAcquire(): Promise<{ release(): Promise<void> } | undefined>;
}

/** Where the sweep remembers when it first saw each unexplained bind (survives processes). */
export interface OrphanMemoryPort {
  load(): Promise<Record<string, number>>;
  save(firstSeen: Record<string, number>): Promise<void>;
}

export interface SweepDeps {
  node: string;
  store: RefcountStore;
  drivers: DriverRegistryPort;
  mounter: SweepMounterPort;
  lock: SweepLockPort;
  orphans: OrphanMemoryPort;
  leaseTtlMs: number;
  clock: Clock;
  logger: Logger;
  metrics?: SidecarMetrics;
}

export interface SweepReport {
  skipped: boolean;
  reaped: VolumeKey[];
  /** Volumes whose node-level unmount this sweep performed. */
  unmounted: VolumeKey[];
  /** Names of orphan binds this sweep unmounted. */
  orphans: string[];
  /** Unexplained binds seen but still within their grace. */
  pendingOrphans: string[];
  errors: Array<{ what: string; error: string }>;
}

export async function reconcileOnce(deps: SweepDeps): Promise<SweepReport> {
  const report: SweepReport = { skipped: false, reaped: [], unmounted: [], orphans: [], pendingOrphans: [], errors: [] };
  const lock = await deps.lock.tryAcquire().catch((error: unknown) => {
    report.errors.push({ what: 'sweep lock', error: describeError(error) });
    return undefined;
  });
  if (lock === undefined) {
    report.skipped = true;
    deps.metrics?.reconcileRuns.inc({ outcome: report.errors.length > 0 ? 'error' : 'skipped' });
    return report;
  }
  try {
    await sweepLocked(deps, report);
  } finally {
    await lock.release().catch((error: unknown) => report.errors.push({ what: 'sweep lock release', error: describeError(error) }));
  }
  deps.metrics?.reconcileRuns.inc({ outcome: report.errors.length > 0 ? 'error' : 'ok' });
  if (report.unmounted.length > 0 || report.orphans.length > 0 || report.errors.length > 0) {
    deps.logger.info(
      { reaped: report.reaped.length, unmounted: report.unmounted.map((v) => v.name), orphans: report.orphans, errors: report.errors },
      'reconcile sweep done',
    );
  } else {
    deps.logger.debug({ reaped: report.reaped.length, pendingOrphans: report.pendingOrphans }, 'reconcile sweep done');
  }
  return report;
}

async function sweepLocked(deps: SweepDeps, report: SweepReport): Promise<void> {
  const { store, node, logger } = deps;
  let storeAnswered = true;
  try {
    report.reaped = await store.reap(node);
  } catch (error) {
    storeAnswered = false;
    report.errors.push({ what: 'reap', error: describeError(error) });
  }

  for (const volume of report.reaped) {
    try {
      if (await takeOverUnmount(deps, volume)) report.unmounted.push(volume);
    } catch (error) {
      report.errors.push({ what: `unmount ${volume.driver}/${volume.name}`, error: describeError(error) });
      logger.warn({ volume: volume.name, driver: volume.driver, err: describeError(error) }, 'orphan unmount failed; the next sweep retries once the claim expires');
    }
  }

  // Orphan binds need a store that answered: with no answer nothing is known, so nothing goes.
  if (!storeAnswered) return;
  let explained: Set<string>;
  try {
    explained = new Set(
      (await store.list()).filter((v) => v.nodes.some((n) => n.node === node && n.state !== 'absent')).map((v) => v.name),
    );
  } catch (error) {
    report.errors.push({ what: 'list', error: describeError(error) });
    return;
  }
  const binds = await deps.mounter.listBinds();
  const firstSeen = await deps.orphans.load();
  const now = deps.clock.now();
  const next: Record<string, number> = {};
  for (const bind of binds) {
    if (explained.has(bind.name)) continue;
    const since = firstSeen[bind.name] ?? now;
    if (now - since < deps.leaseTtlMs) {
      next[bind.name] = since;
      report.pendingOrphans.push(bind.name);
      continue;
    }
    try {
      await deps.mounter.unmountLazy(bind.path);
      report.orphans.push(bind.name);
      deps.metrics?.reconcileOrphans.inc();
      logger.warn({ bind: bind.path, unexplainedForMs: now - since }, 'orphan bind under the mount root unmounted (no store record explains it)');
    } catch (error) {
      next[bind.name] = since;
      report.errors.push({ what: `orphan ${bind.path}`, error: describeError(error) });
    }
  }
  await deps.orphans.save(next);
}

/** Claim the node-level unmount of a volume nobody live holds here, and perform it. */
async function takeOverUnmount(deps: SweepDeps, volume: VolumeKey): Promise<boolean> {
  const ref = { ...volume, node: deps.node, token: randomUUID() };
  const claim = await deps.store.claimUnmount(ref, deps.leaseTtlMs);
  if (claim.kind !== 'unmount') return false;
  const log = deps.logger.child({ volume: volume.name, driver: volume.driver });
  log.warn({ state: claim.state, mountId: claim.mountId }, 'no live holder on this node: taking over the unmount');
  await deps.mounter.unmountLazy(await deps.mounter.volumePath(volume.name));
  if (claim.mountId !== undefined) await deps.drivers.driver(volume.driver).unmount(volume.name, claim.mountId);
  const marked = await deps.store.markUnmounted(ref);
  if (marked.kind !== 'ok') log.warn({ answer: marked.kind }, 'unmount done but the store did not take markUnmounted');
  return true;
}
