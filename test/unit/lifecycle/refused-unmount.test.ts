// The refused-Unmount rule where the lifecycle core applies it (VolumeLifecycle.driverUnmount), so
// that every caller gets it: a sidecar's release, the takeover of a dead performer's ID and the
// sweep's ledger Unmount. A plugin like rclone refuses Unmount of an ID it does not hold; that
// is done when the facts (Get's Status.Mounts, else the mount table) show nothing mounted with
// it, and a failure (state kept for a retry) when they do not.
import test from 'ava';
import type { MountInfoEntry } from '../../../src/common/mountinfo.js';
import { TaskVolumes } from '../../../src/lifecycle/task-volumes.js';
import { refused, request, rig, type Rig } from './lifecycle-fakes.js';

function table(...points: string[]): () => Promise<MountInfoEntry[]> {
  return async () =>
    points.map((mountPoint, i) => ({ id: 100 + i, parentId: 1, device: '0:50', root: '/', mountPoint, options: ['rw'], optionalFields: [], fsType: 'fuse.rclone', source: 'x', superOptions: [] }));
}

function sidecar(r: Rig, mountTable: () => Promise<MountInfoEntry[]>, task = 'task-1'): TaskVolumes {
  return new TaskVolumes({
    node: 'node-a',
    task,
    leaseTtlMs: 15_000,
    acquireTimeoutMs: 30_000,
    mountTimeoutMs: 120_000,
    store: r.store,
    drivers: r.drivers,
    mounter: r.mounter,
    ledger: r.ledger,
    clock: r.clock,
    logger: r.logger,
    undoTimeoutMs: r.undoTimeoutMs,
    mountTable,
  });
}

const never = new AbortController().signal;

test('release: a refused Unmount with nothing left in the mount table is done (ledger entry forgotten, store cleared)', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const volumes = sidecar(r, table());
  await volumes.attachAll([request('pg')], never);
  const id = r.driver.mountedIds('pg')[0]!;
  r.driver.hooks.unmount = () => refused('Unmount');
  const { failures } = await volumes.detachAll();
  t.deepEqual(failures, []);
  t.true(r.events.includes(`Unmount pg ${id}`));
  t.is(r.ledger.entries.size, 0);
  t.deepEqual(await r.store.list(), []);
});

test('release: a refused Unmount while the plugin mountpoint is still mounted is a failure; the ledger entry stays', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const volumes = sidecar(r, table('/plugin/pg'));
  await volumes.attachAll([request('pg')], never);
  const id = r.driver.mountedIds('pg')[0]!;
  r.driver.hooks.unmount = () => refused('Unmount');
  const { failures } = await volumes.detachAll();
  t.is(failures.length, 1);
  t.true(r.ledger.entries.has(id));
});

test("Get's Status.Mounts decides before the mount table: an ID it lists is still mounted", async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const volumes = sidecar(r, table());
  await volumes.attachAll([request('pg')], never);
  const id = r.driver.mountedIds('pg')[0]!;
  r.driver.hooks.unmount = () => refused('Unmount');
  r.driver.get = async (name: string) => ({ Name: name, Status: { Mounts: [id] } });
  const { failures } = await volumes.detachAll();
  t.is(failures.length, 1);
  t.true(r.ledger.entries.has(id));
});

test("takeover from a dead performer: its refused ID does not block the attach, and its ledger entry stays for the sweep", async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  // A performer registered and recorded its ID, then died before its Mount reached the plugin.
  const dead = { driver: 'fake', name: 'pg', node: 'node-a', token: 'dead-performer' };
  const first = await r.store.acquire({ ...dead, task: 'task-0', mode: 'exclusive', preempt: false, ttlMs: 1000 });
  t.is(first.kind, 'mount');
  await r.ledger.record({ driver: 'fake', name: 'pg', mountId: dead.token });
  r.clock.step(20_000);
  r.driver.hooks.unmount = (_volume) => refused('Unmount');
  const volumes = sidecar(r, table());
  await volumes.attachAll([request('pg')], never);
  t.true(volumes.readiness().ready);
  t.true(r.events.includes(`Unmount pg ${dead.token}`));
  t.true(r.ledger.entries.has(dead.token));
});
