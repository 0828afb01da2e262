// The reconciler's sweep over the lifecycle core, with fakes: it takes over the unmount of a
// holder that died (reaped after its lease), leaves a live holder alone, unmounts an orphan bind
// after its grace, and re-sends the Unmount of a ledger entry no store record explains.
import test from 'ava';
import type { HolderBeat, HolderBeatPort } from '../../../src/lifecycle/ports.js';
import { TaskVolumes } from '../../../src/lifecycle/task-volumes.js';
import { reconcileOnce, type SweepDeps } from '../../../src/reconcile/reconcile-sweep.js';
import { request, rig, type Rig } from './lifecycle-fakes.js';

function sweepDeps(r: Rig, saves: Array<Record<string, number>> = []): SweepDeps {
  let firstSeen: Record<string, number> = {};
  return {
    node: 'node-a',
    store: r.store,
    drivers: r.drivers,
    mounter: r.mounter,
    ledger: r.ledger,
    lock: { tryAcquire: async () => ({ release: async () => undefined }) },
    orphans: { load: async () => firstSeen, save: async (next) => void saves.push((firstSeen = next)) },
    leaseTtlMs: 15_000,
    clock: r.clock,
    logger: r.logger,
    undoTimeoutMs: 5000,
  };
}

const never = new AbortController().signal;

function holder(r: Rig): TaskVolumes {
  return new TaskVolumes({ node: 'node-a', task: 't', leaseTtlMs: 15_000, acquireTimeoutMs: 10_000, mountTimeoutMs: 10_000, ...r, mounter: r.mounter });
}

test('the orphan memory is written only when a sweep changes it', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const saves: Array<Record<string, number>> = [];
  const deps = sweepDeps(r, saves);
  await reconcileOnce(deps);
  await reconcileOnce(deps);
  t.deepEqual(saves, [], 'nothing to remember, twice: no write');
  r.mounter.binds.set('/fake-root/stray', { source: '/plugin/stray', readOnly: false });
  await reconcileOnce(deps);
  const since = r.clock.now();
  t.deepEqual(saves, [{ stray: since }], 'a new candidate is written');
  r.clock.step(5_000);
  await reconcileOnce(deps);
  t.is(saves.length, 1, 'the same candidate, the same first sighting: no write');
  r.mounter.binds.delete('/fake-root/stray');
  await reconcileOnce(deps);
  t.deepEqual(saves, [{ stray: since }, {}], 'the candidate gone: written');
});

test('a live holder is never touched; a dead one is reaped and its unmount taken over with its mount ID', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  await holder(r).attachAll([request('pg')], never);
  const id = r.driver.mountedIds('pg')[0]!;
  const live = await reconcileOnce(sweepDeps(r));
  t.deepEqual(live.unmounted, []);
  t.true(r.mounter.binds.has('/fake-root/pg'));

  r.clock.step(60_000);
  const report = await reconcileOnce(sweepDeps(r));
  t.deepEqual(report.reaped, [{ driver: 'fake', name: 'pg' }]);
  t.deepEqual(report.unmounted, [{ driver: 'fake', name: 'pg' }]);
  t.deepEqual(r.events.slice(-3), ['unbind /fake-root/pg', `Unmount pg ${id}`, `ledger- ${id}`]);
  t.deepEqual(await r.store.list(), []);
});

test('an unexplained bind is an orphan only after a lease TTL of grace', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  r.mounter.binds.set('/fake-root/stray', { source: '/plugin/stray', readOnly: false });
  const deps = sweepDeps(r);
  t.deepEqual((await reconcileOnce(deps)).pendingOrphans, ['stray']);
  r.clock.step(15_000);
  t.deepEqual((await reconcileOnce(deps)).orphans, ['stray']);
  t.is(r.mounter.binds.size, 0);
});

test('a ledger entry no record explains gets its Unmount again after the grace, and goes once Path shows nothing', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  await r.ledger.record({ driver: 'fake', name: 'gone', mountId: 'late-id' });
  r.driver.mounts.set('gone', new Set(['late-id'])); // the Mount completed after its sidecar gave up
  const deps = sweepDeps(r);
  r.clock.step(15_000);
  await reconcileOnce(deps); // the grace starts
  r.clock.step(15_000);
  const report = await reconcileOnce(deps);
  t.deepEqual(report.ledgerUnmounts, [{ driver: 'fake', name: 'gone', mountId: 'late-id', stillMounted: false }]);
  t.deepEqual(r.driver.mountedIds('gone'), []);
  t.is(r.ledger.entries.size, 0);
});

/** The holders' beats in memory (ports.ts HolderBeatPort). */
function memoryBeats(): HolderBeatPort & { beats: Map<string, HolderBeat> } {
  const beats = new Map<string, HolderBeat>();
  return {
    beats,
    beat: async (beat) => void beats.set(beat.token, { ...beat }),
    forget: async (token) => void beats.delete(token),
    list: async () => [...beats.values()],
  };
}

test('a holder that still beats on this node keeps its volume whatever the store shows (lapsed lease, lost record); a stale beat does not', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const holders = memoryBeats();
  const volumes = new TaskVolumes({ node: 'node-a', task: 't', leaseTtlMs: 15_000, acquireTimeoutMs: 10_000, mountTimeoutMs: 10_000, ...r, mounter: r.mounter, holders });
  await volumes.attachAll([request('pg')], never);
  t.is(holders.beats.size, 1, 'a ready holder beats');
  const deps = { ...sweepDeps(r), holders };
  // The store's lease lapsed (an outage longer than the TTL), but the holder beat just now.
  r.clock.step(60_000);
  await volumes.beatAll();
  const kept = await reconcileOnce(deps);
  t.deepEqual(kept.reaped, [{ driver: 'fake', name: 'pg' }]);
  t.deepEqual(kept.unmounted, []);
  t.deepEqual(kept.keptForHolders, [{ driver: 'fake', name: 'pg' }]);
  t.true(r.mounter.binds.has('/fake-root/pg'));
  // The record lost with the data: bind and ledger entry unexplained, yet kept past their grace.
  await r.store.close();
  const fresh = await rig();
  t.teardown(() => fresh.close());
  const lost = { ...deps, store: fresh.store };
  for (let i = 0; i < 3; i++) {
    r.clock.step(10_000);
    await volumes.beatAll();
    const report = await reconcileOnce(lost);
    t.deepEqual([report.orphans, report.ledgerUnmounts], [[], []], `sweep ${i}`);
  }
  t.true(r.mounter.binds.has('/fake-root/pg'));
  // The holder stopped beating (killed, or stalled a TTL): the sweep acts again, and the old beat goes.
  r.clock.step(16_000);
  t.deepEqual((await reconcileOnce(lost)).pendingOrphans, ['pg']);
  r.clock.step(15_000);
  const after = await reconcileOnce(lost);
  t.deepEqual(after.orphans, ['pg']);
  t.is(holders.beats.size, 0, 'a beat two TTLs old is forgotten');
});

test('a scheduled run for an instant the node was swept since skips; a later instant, a failed sweep or a stamp from the future does not', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  let stamp: number | undefined;
  let listed = 0;
  const store = Object.create(r.store) as typeof r.store;
  store.listNode = (node) => {
    listed += 1;
    return r.store.listNode(node);
  };
  const deps: SweepDeps = { ...sweepDeps(r), store, stamp: { lastStarted: async () => stamp, record: async (at) => void (stamp = at) } };
  const slot = r.clock.now();
  r.clock.step(10);
  const first = await reconcileOnce(deps, { slot });
  t.false(first.skipped);
  t.is(stamp, slot + 10, 'the stamp is when the sweep began');
  t.is(listed, 1);
  r.clock.step(100); // another sidecar woken for the same instant, after the lock came free
  const second = await reconcileOnce(deps, { slot });
  t.true(second.skipped && second.alreadySwept === true);
  t.is(listed, 1, 'a skipped run reads nothing from the store');
  t.false((await reconcileOnce(deps)).skipped, 'an unscheduled run (start-up, `dvdi reconcile`) always sweeps');
  t.is(listed, 2);
  r.clock.step(30_000);
  t.false((await reconcileOnce(deps, { slot: r.clock.now() })).skipped, 'the next instant sweeps');
  t.is(listed, 3);

  // A sweep with errors leaves no stamp: the next sidecar of the same instant tries again.
  r.clock.step(30_000);
  const failing = r.clock.now();
  const before = stamp;
  store.listNode = async () => {
    listed += 1;
    throw new Error('store down');
  };
  const failed = await reconcileOnce(deps, { slot: failing });
  t.true(failed.errors.length > 0);
  t.is(stamp, before);
  t.false((await reconcileOnce(deps, { slot: failing })).skipped);
  t.is(listed, 5);

  // A stamp later than now (a clock stepped back, a forged file) is not believed.
  stamp = r.clock.now() + 3_600_000;
  t.false((await reconcileOnce(deps, { slot: r.clock.now() })).skipped);
  t.is(listed, 6);
});

test('a scheduled run tries the lock once and skips if another holds it; an unscheduled run waits for it', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const asked: Array<boolean | undefined> = [];
  let held = true;
  const deps: SweepDeps = {
    ...sweepDeps(r),
    lock: {
      tryAcquire: async (options) => {
        asked.push(options?.wait);
        return held ? undefined : { release: async () => undefined };
      },
    },
  };
  const report = await reconcileOnce(deps, { slot: r.clock.now() });
  t.true(report.skipped);
  t.deepEqual(asked, [false], 'one try, no wait');
  await reconcileOnce(deps);
  t.deepEqual(asked, [false, undefined], 'an unscheduled run (start-up, `dvdi reconcile`) waits as before');
  held = false;
  t.false((await reconcileOnce(deps, { slot: r.clock.now() })).skipped);
});
