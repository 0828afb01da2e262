// One reconcile sweep of this node, as a plain async function (docs/architecture.md "Decisions"):
//   1 reap this node's expired holders in the store;
//   2 take over the unmount of every volume with no live holder on this node (lazy unmount of
//     the bind, driver Unmount with the recorded mount ID, mark unmounted);
//   3 unmount binds under the mount root that no store record of this node explains (orphans).
// A per-node lock lets one sweep run at a time, and every sidecar of the node wakes for the same
// cron instant: a scheduled run skips when another holds the lock or when the node has been swept
// since its instant (the sweep stamp), so a node sweeps once per instant, not once per sidecar.
// A live holder's volume is never touched: step 2 goes through the store's claimUnmount, which
// refuses while a live holder is on the node, and step 3 only acts on a bind the store has not
// explained for at least one lease TTL (so holders that re-register after a store data loss, or
// a mount between its bind and markMounted, are never mistaken for orphans). Nor is a volume
// that a holder of this node still keeps by the node's own knowledge, its beat (lifecycle/ports.ts HolderBeatPort), whatever the store says:
// after a failover longer than the TTL, or one that lost the last writes, the store shows the
// holder's lease lapsed or its record gone, while the holder is alive and re-registers as soon
// as its own connection is back (each process finds the new primary on its own, seconds apart).
// Taking the volume over then took a ready holder's mount away, or, when its reclaim landed
// after the takeover, let it re-register over a mount that was gone (Sentinel chaos seeds 9009,
// 4444). Such a holder re-registers or fences itself; its fence does the unmount.
// The volumes of steps 1 and 2 are read from the store (the node's index and its records), which
// whoever can write to it shapes: logs, error texts and the printed report show their names
// cleaned and capped (common/external-text.ts); the sweep itself acts on them as they are.
import { describeError } from '../common/errors.js';
import { cleanExternalText as clean } from '../common/external-text.js';
import { beatsOf, freshBeats } from '../lifecycle/holder-beats.js';
import type { HolderBeat, MounterPort } from '../lifecycle/ports.js';
import { VolumeLifecycle, type LifecycleDeps } from '../lifecycle/volume-lifecycle.js';
import type { SidecarMetrics } from '../metrics/sidecar-metrics.js';
import type { RefcountStore, VolumeKey, VolumeView } from '../refcount/refcount-store.js';

/** The per-node sweep lock: `tryAcquire` answers undefined when another sweep holds it. */
export interface SweepLockPort {
  /** `wait: false`: one try, no waiting for a sweep that holds it (default: a short wait). */
  tryAcquire(options?: { wait?: boolean }): Promise<{ release(): Promise<void> } | undefined>;
}

/** Where the sweep remembers when it first saw each unexplained bind (survives processes). */
export interface OrphanMemoryPort {
  load(): Promise<Record<string, number>>;
  save(firstSeen: Record<string, number>): Promise<void>;
}

/** When the node's last sweep without errors began, whichever sidecar ran it. */
export interface SweepStampPort {
  lastStarted(): Promise<number | undefined>;
  record(startedAt: number): Promise<void>;
}

/** The core's dependencies (with the mount root it sweeps) and the sweep's own. */
export interface SweepDeps extends LifecycleDeps {
  node: string;
  mounter: MounterPort;
  lock: SweepLockPort;
  orphans: OrphanMemoryPort;
  /** Without it only the lock keeps the node's sidecars from sweeping one instant twice. */
  stamp?: SweepStampPort;
  leaseTtlMs: number;
  metrics?: SidecarMetrics;
}

export interface SweepOptions {
  /** The cron instant (ms) this run is for: skipped when a sweep of the node began at or after it. */
  slot?: number;
}

export interface SweepReport {
  /** Another sweep held the lock, or (`alreadySwept`) the node was swept since this run's instant. */
  skipped: boolean;
  alreadySwept?: boolean;
  reaped: VolumeKey[];
  /** Volumes whose node-level unmount this sweep performed. */
  unmounted: VolumeKey[];
  /** Volumes the store shows orphaned (reaped) or does not explain, left alone because a holder
   * of this node still beats for them (it re-registers or fences itself). */
  keptForHolders: VolumeKey[];
  /** Names of orphan binds this sweep unmounted. */
  orphans: string[];
  /** Unexplained binds seen but still within their grace. */
  pendingOrphans: string[];
  /** Leftover preflight probes removed. */
  probes: string[];
  /** Driver Mounts from the node's ledger that no store record explained, Unmounted again. */
  ledgerUnmounts: Array<{ driver: string; name: string; mountId: string; stillMounted: boolean }>;
  errors: Array<{ what: string; error: string }>;
}

export async function reconcileOnce(deps: SweepDeps, options: SweepOptions = {}): Promise<SweepReport> {
  const report: SweepReport = { skipped: false, reaped: [], unmounted: [], keptForHolders: [], orphans: [], pendingOrphans: [], probes: [], ledgerUnmounts: [], errors: [] };
  if (options.slot !== undefined && (await sweptSince(deps, options.slot))) return alreadySwept(deps, report, options.slot);
  // A scheduled run tries the lock once: the node's other sidecars woke for the same instant, and
  // whichever holds the lock sweeps it. Waiting (as unscheduled runs do) cost each of them ~10 ms
  // of CPU an instant, polling the lock while the first one swept.
  const lock = await deps.lock.tryAcquire(options.slot === undefined ? undefined : { wait: false }).catch((error: unknown) => {
    report.errors.push({ what: 'sweep lock', error: describeError(error) });
    return undefined;
  });
  if (lock === undefined) {
    report.skipped = true;
    deps.metrics?.reconcileRuns.inc({ outcome: report.errors.length > 0 ? 'error' : 'skipped' });
    return report;
  }
  let sweptMeanwhile = false;
  try {
    // Again under the lock: a sweep may have finished between the first look and the lock.
    if (options.slot !== undefined && (await sweptSince(deps, options.slot))) {
      sweptMeanwhile = true;
    } else {
      const startedAt = deps.clock.now();
      await sweepLocked(deps, report);
      // A sweep with errors leaves no stamp: the next sidecar woken for this instant tries again.
      if (report.errors.length === 0) await deps.stamp?.record(startedAt).catch((error: unknown) => deps.logger.warn({ err: describeError(error) }, 'sweep stamp not written; the node\'s other sidecars sweep this instant too'));
    }
  } finally {
    await lock.release().catch((error: unknown) => report.errors.push({ what: 'sweep lock release', error: describeError(error) }));
  }
  if (sweptMeanwhile) return alreadySwept(deps, report, options.slot);
  deps.metrics?.reconcileRuns.inc({ outcome: report.errors.length > 0 ? 'error' : 'ok' });
  if (report.unmounted.length > 0 || report.keptForHolders.length > 0 || report.orphans.length > 0 || report.probes.length > 0 || report.ledgerUnmounts.length > 0 || report.errors.length > 0) {
    deps.logger.info(
      { reaped: report.reaped.length, unmounted: report.unmounted.map((v) => clean(v.name)), keptForHolders: report.keptForHolders.map((v) => clean(v.name)), orphans: report.orphans, probes: report.probes, ledgerUnmounts: report.ledgerUnmounts, errors: report.errors },
      'reconcile sweep done',
    );
  } else {
    deps.logger.debug({ reaped: report.reaped.length, pendingOrphans: report.pendingOrphans }, 'reconcile sweep done');
  }
  return report;
}

/** Whether a sweep of the node began at or after `slot` (a stamp later than now, from a clock stepped back or a forged file, is not believed). */
async function sweptSince(deps: SweepDeps, slot: number): Promise<boolean> {
  const last = await deps.stamp?.lastStarted().catch(() => undefined);
  return last !== undefined && last >= slot && last <= deps.clock.now();
}

function alreadySwept(deps: SweepDeps, report: SweepReport, slot: number | undefined): SweepReport {
  report.skipped = report.alreadySwept = true;
  deps.metrics?.reconcileRuns.inc({ outcome: report.errors.length > 0 ? 'error' : 'skipped' });
  deps.logger.debug({ slot }, 'reconcile sweep skipped: the node was swept since this instant');
  return report;
}

/**
 * The report as a command prints it: the volumes read from the store with their names cleaned
 * and capped (everything else in it is this node's own or already display text).
 */
export function shownReport(report: SweepReport): SweepReport {
  const shown = (v: VolumeKey): VolumeKey => ({ driver: clean(v.driver), name: clean(v.name) });
  return { ...report, reaped: report.reaped.map(shown), unmounted: report.unmounted.map(shown), keptForHolders: report.keptForHolders.map(shown) };
}

/**
 * The one place the sweep reads this node's volumes: those the store has in a state other than
 * absent on this node (they explain a bind and a ledger entry).
 */
async function readNodeVolumes(store: RefcountStore, node: string): Promise<VolumeView[]> {
  // The node's own index: O(this node's volumes), never the cluster's (docs/scale.md).
  const views = await store.listNode(node);
  return views.filter((v) => v.nodes.some((n) => n.node === node && n.state !== 'absent'));
}

function lifecycleOf(deps: SweepDeps): VolumeLifecycle {
  const { store, drivers, mounter, ledger, clock, logger, undoTimeoutMs, mountTable } = deps;
  return new VolumeLifecycle({ store, drivers, mounter, ledger, clock, logger, undoTimeoutMs, mountTable });
}

async function sweepLocked(deps: SweepDeps, report: SweepReport): Promise<void> {
  const { store, node, logger } = deps;
  const core = lifecycleOf(deps);
  // Read before the store: a holder that beats now was alive before anything below was decided.
  const beats = await freshBeats(deps.holders, deps.clock, deps.leaseTtlMs, logger);
  await forgetOldBeats(deps);
  /** True when a holder of this node keeps `volume` by its beat; reported once. */
  const keptForHolder = (volume: VolumeKey): boolean => {
    const mine = beatsOf(beats, volume);
    if (mine.length === 0) return false;
    if (!report.keptForHolders.some((v) => v.driver === volume.driver && v.name === volume.name)) {
      report.keptForHolders.push({ driver: volume.driver, name: volume.name });
      logger.warn({ volume: clean(volume.name), driver: clean(volume.driver), holders: mine.length }, 'the store shows no live holder here, but a holder on this node still keeps the volume (it re-registers or fences itself): left alone');
    }
    return true;
  };
  let storeAnswered = true;
  try {
    report.reaped = await store.reap(node);
  } catch (error) {
    storeAnswered = false;
    report.errors.push({ what: 'reap', error: describeError(error) });
  }

  for (const volume of report.reaped) {
    if (keptForHolder(volume)) continue;
    try {
      const claim = await core.takeOver(volume, node, deps.leaseTtlMs, await deps.mounter.volumePath(volume.name), AbortSignal.timeout(deps.undoTimeoutMs * 2));
      if (claim.kind === 'unmount') report.unmounted.push(volume);
    } catch (error) {
      report.errors.push({ what: `unmount ${clean(volume.driver)}/${clean(volume.name)}`, error: describeError(error) });
      logger.warn({ volume: clean(volume.name), driver: clean(volume.driver), err: describeError(error) }, 'orphan unmount failed; the next sweep retries once the claim expires');
    }
  }

  // Everything below needs a store that answered: with no answer nothing is known, so nothing goes.
  if (!storeAnswered) return;
  let views: VolumeView[];
  const ledger = await deps.ledger.list();
  try {
    views = await readNodeVolumes(store, node);
    // The node's own ledger is a second index: a volume it mounted that its store index does not
    // list (on Redis Cluster the index's slot lost the write in a failover, the record's kept
    // it) would never be reaped, its node state never unmounted in the store, and a later task
    // here would be told to join a mount that is gone. Its record decides; the index is repaired,
    // so the next reap sees it.
    const unindexed = ledger.filter((e) => !views.some((v) => v.driver === e.driver && v.name === e.name));
    if (unindexed.length > 0) {
      const recovered = (await store.reindexNode(node, unindexed)).filter((v) => v.nodes.some((n) => n.node === node && n.state !== 'absent'));
      for (const view of recovered) logger.warn({ volume: clean(view.name), driver: clean(view.driver) }, "volume missing from this node's store index, though its record has this node: re-indexed");
      views = [...views, ...recovered];
    }
  } catch (error) {
    report.errors.push({ what: 'list', error: describeError(error) });
    return;
  }
  const explained = new Set(views.map((v) => v.name));
  const binds = await deps.mounter.listBinds();
  const firstSeen = await deps.orphans.load();
  const now = deps.clock.now();
  const next: Record<string, number> = {};
  /** True once `key` has stayed unexplained for a lease TTL (remembered across sweeps). */
  const graceOver = (key: string): boolean => {
    const since = firstSeen[key] ?? now;
    if (now - since >= deps.leaseTtlMs) return true;
    next[key] = since;
    return false;
  };

  for (const bind of binds) {
    if (explained.has(bind.name)) continue;
    if (beats.some((b: HolderBeat) => b.name === bind.name)) {
      keptForHolder(beats.find((b) => b.name === bind.name)!);
      continue;
    }
    if (!graceOver(bind.name)) {
      report.pendingOrphans.push(bind.name);
      continue;
    }
    try {
      await deps.mounter.unmountLazy(bind.path);
      report.orphans.push(bind.name);
      deps.metrics?.reconcileOrphans.inc();
      logger.warn({ bind: bind.path }, 'orphan bind under the mount root unmounted (no store record explains it)');
    } catch (error) {
      next[bind.name] = firstSeen[bind.name] ?? now;
      report.errors.push({ what: `orphan ${bind.path}`, error: describeError(error) });
    }
  }

  // A preflight lives for milliseconds: a probe bind still there a lease TTL later is a leftover
  // of a killed sidecar.
  for (const probe of await deps.mounter.listProbes()) {
    if (!graceOver(`probe:${probe}`)) continue;
    try {
      await deps.mounter.removeProbe(probe);
      report.probes.push(probe);
      deps.metrics?.reconcileOrphans.inc();
      logger.warn({ probe }, 'leftover preflight probe unmounted');
    } catch (error) {
      report.errors.push({ what: `probe ${probe}`, error: describeError(error) });
    }
  }

  // Driver Mounts the node performed that no store record explains any more (Redis lost the
  // record, or a Mount completed in the plugin after its sidecar gave up on it): Unmount that ID
  // again, but only while this node has nothing of the volume mounted (an Unmount then cannot
  // take anything from a user: per-name counting plugins would otherwise unmount early) and
  // only after a lease TTL unexplained (a holder re-registers within that). The entry goes when
  // the facts (unmount-outcome.ts: Get's Status.Mounts, else the mount table — never Path) show
  // nothing mounted with that ID; until then every sweep sends the Unmount again.
  for (const entry of ledger) {
    const key = `ledger:${entry.driver}/${entry.name}/${entry.mountId}`;
    if (views.some((v) => v.driver === entry.driver && v.name === entry.name)) continue; // the store explains it: in use on this node
    if (keptForHolder(entry)) continue; // a holder of this node still uses it
    // The grace runs alongside a stray bind's, but the Unmount waits until the bind is gone.
    const over = now - entry.recordedAt >= deps.leaseTtlMs && graceOver(key);
    const bindPending = binds.some((b) => b.name === entry.name) && !report.orphans.includes(entry.name);
    if (!over || bindPending) {
      if (over) next[key] = firstSeen[key] ?? now;
      continue;
    }
    try {
      const outcome = await core.driverUnmount(entry, entry.mountId, undefined, { what: 'ledger Unmount' });
      const stillMounted = await core.stillMounted(entry, entry.mountId, outcome);
      if (!stillMounted) await deps.ledger.forget(entry);
      else next[key] = firstSeen[key] ?? now;
      report.ledgerUnmounts.push({ driver: entry.driver, name: entry.name, mountId: entry.mountId, stillMounted });
      logger.warn({ volume: entry.name, driver: entry.driver, mountId: entry.mountId, stillMounted }, 'driver Unmount sent for a mount no store record explains');
    } catch (error) {
      next[key] = firstSeen[key] ?? now;
      report.errors.push({ what: `ledger ${entry.driver}/${entry.name}`, error: describeError(error) });
    }
  }
  // Most sweeps remember what the last one did (nothing, on a healthy node): no fsync'd write
  // then, at start and every period of every sidecar that takes the node's turn.
  if (!sameMemory(firstSeen, next)) await deps.orphans.save(next);
}

function sameMemory(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}

/** Beats are forgotten by their holders; one left by a killed holder goes once it is a lease
 * TTL past stale (never while fresh: its holder may only be slow). */
async function forgetOldBeats(deps: SweepDeps): Promise<void> {
  if (deps.holders === undefined) return;
  try {
    const now = deps.clock.now();
    for (const beat of await deps.holders.list()) {
      if (Math.abs(now - beat.beatAt) >= 2 * deps.leaseTtlMs) await deps.holders.forget(beat.token);
    }
  } catch (error) {
    deps.logger.debug({ err: describeError(error) }, 'could not forget old beats; the next sweep tries again');
  }
}
