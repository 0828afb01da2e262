// The reconciler's sweep over the lifecycle core, with fakes: it takes over the unmount of a
// holder that died (reaped after its lease), leaves a live holder alone, unmounts an orphan bind
// after its grace, and re-sends the Unmount of a ledger entry no store record explains.
import test from 'ava';
import { TaskVolumes } from '../../../src/lifecycle/task-volumes.js';
import { reconcileOnce, type SweepDeps } from '../../../src/reconcile/reconcile-sweep.js';
import { request, rig, type Rig } from './lifecycle-fakes.js';

function sweepDeps(r: Rig): SweepDeps {
  let firstSeen: Record<string, number> = {};
  return {
    node: 'node-a',
    store: r.store,
    drivers: r.drivers,
    mounter: r.mounter,
    ledger: r.ledger,
    lock: { tryAcquire: async () => ({ release: async () => undefined }) },
    orphans: { load: async () => firstSeen, save: async (next) => void (firstSeen = next) },
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
