// The sidecar's policy over the lifecycle core, with fakes: the attach and detach sequences and
// their order, a joiner, the undo in reverse, an abort at each step, waiting for a volume held
// by another node, and a renewal racing the undo of a failed attach.
import test from 'ava';
import { ErrorCode } from '../../../src/common/error-codes.js';
import type { DvdiError } from '../../../src/common/errors.js';
import { AbortedError } from '../../../src/common/errors.js';
import { TaskVolumes } from '../../../src/lifecycle/task-volumes.js';
import type { RefcountStore } from '../../../src/refcount/refcount-store.js';
import { refused, request, rig, type Rig } from './lifecycle-fakes.js';

function sidecar(r: Rig, overrides: { node?: string; task?: string; store?: RefcountStore; acquireTimeoutMs?: number } = {}): TaskVolumes {
  return new TaskVolumes({
    node: overrides.node ?? 'node-a',
    task: overrides.task ?? 'task-1',
    leaseTtlMs: 15_000,
    acquireTimeoutMs: overrides.acquireTimeoutMs ?? 30_000,
    mountTimeoutMs: 120_000,
    store: overrides.store ?? r.store,
    drivers: r.drivers,
    mounter: r.mounter,
    ledger: r.ledger,
    clock: r.clock,
    logger: r.logger,
    undoTimeoutMs: r.undoTimeoutMs,
  });
}

const never = new AbortController().signal;

test('attach: Get, Create, ledger before Mount, Mount with the token, bind; detach in reverse with the same ID', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const volumes = sidecar(r);
  await volumes.attachAll([request('pg')], never);
  t.true(volumes.readiness().ready);
  const id = r.driver.mountedIds('pg')[0]!;
  t.deepEqual(r.events, ['Get pg', 'Create pg', `ledger+ ${id}`, `Mount pg ${id}`, 'bind /fake-root/pg']);
  t.is((await r.store.inspect({ driver: 'fake', name: 'pg' }))?.nodes[0]?.state, 'mounted');

  r.events.length = 0;
  const { failures } = await volumes.detachAll();
  t.deepEqual(failures, []);
  t.deepEqual(r.events, ['unbind /fake-root/pg', `Unmount pg ${id}`, `ledger- ${id}`]);
  t.deepEqual(r.driver.mountedIds('pg'), []);
  t.is(r.ledger.entries.size, 0);
  t.deepEqual(await r.store.list(), []);
});

test('a second task of the node joins without a driver Mount; only the last one unmounts', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const first = sidecar(r, { task: 'one' });
  const second = sidecar(r, { task: 'two' });
  await first.attachAll([request('shared', { access: 'shared' })], never);
  await second.attachAll([request('shared', { access: 'shared' })], never);
  t.is(r.events.filter((e) => e.startsWith('Mount')).length, 1);
  await first.detachAll();
  t.true(r.mounter.binds.has('/fake-root/shared'), 'the other task still uses it');
  t.is(r.events.filter((e) => e.startsWith('Unmount')).length, 0);
  await second.detachAll();
  t.false(r.mounter.binds.has('/fake-root/shared'));
  t.is(r.events.filter((e) => e.startsWith('Unmount')).length, 1);
});

test('a lost lease at markMounted undoes newest first: bind, then driver Unmount, then the ledger entry', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const store: RefcountStore = Object.create(r.store) as RefcountStore;
  store.markMounted = async () => ({ kind: 'lost' });
  const volumes = sidecar(r, { store });
  const error = await t.throwsAsync(volumes.attachAll([request('pg')], never));
  t.is((error as DvdiError).code, ErrorCode.LeaseLost);
  const id = r.events.find((e) => e.startsWith('Mount'))!.split(' ')[2]!;
  t.deepEqual(r.events.slice(-4), ['bind /fake-root/pg', 'unbind /fake-root/pg', `Unmount pg ${id}`, `ledger- ${id}`]);
  t.deepEqual(await r.store.list(), [], 'abortMount reset the node state and dropped the holder');
  t.is(volumes.readiness().volumes[0]?.state, 'released');
});

test('a failing second volume undoes the first one too', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  r.driver.hooks.mount = (volume) => {
    if (volume === 'b') refused('Mount');
  };
  const volumes = sidecar(r);
  const error = await t.throwsAsync(volumes.attachAll([request('a'), request('b')], never));
  t.is((error as DvdiError).code, ErrorCode.DriverRefused);
  t.false(r.mounter.binds.has('/fake-root/a'));
  t.deepEqual(r.driver.mountedIds('a'), []);
  t.false(r.events.some((e) => e.startsWith('Unmount b')), 'a refused Mount gets no Unmount');
  t.is(r.ledger.entries.size, 0);
  t.deepEqual(await r.store.list(), []);
});

for (const step of ['get', 'create', 'mount', 'bind'] as const) {
  test(`an abort during ${step} leaves nothing mounted, no holder, and an Unmount only where the Mount may have happened`, async (t) => {
    const r = await rig();
    t.teardown(() => r.close());
    const abort = new AbortController();
    const cut = () => abort.abort(new AbortedError('SIGTERM'));
    if (step === 'bind') r.mounter.bindHook = cut;
    else r.driver.hooks[step] = cut;
    const volumes = sidecar(r);
    const error = await t.throwsAsync(volumes.attachAll([request('pg')], abort.signal));
    t.true([ErrorCode.Aborted, ErrorCode.DriverAborted].includes((error as DvdiError).code as never), String((error).message));
    t.is(r.mounter.binds.size, 0);
    t.deepEqual(r.driver.mountedIds('pg'), []);
    t.deepEqual(await r.store.list(), []);
    const mounted = r.events.some((e) => e.startsWith('Mount'));
    t.is(r.events.some((e) => e.startsWith('Unmount')), mounted, 'Unmount exactly when a Mount was sent');
    if (step === 'get' || step === 'create') t.false(mounted, 'no Mount after an abort before it');
    // An aborted Mount may still complete in the plugin: its ledger entry stays for the reconciler.
    t.is(r.ledger.entries.size, step === 'mount' ? 1 : 0);
  });
}

test('waiting: a volume held by another node is taken once released; polls never exceed 250 ms', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const nodeB = sidecar(r, { node: 'node-b' });
  await nodeB.attachAll([request('pg')], never);
  let released = false;
  r.clock.onSleep = () => {
    if (!released && r.clock.monotonic() >= 3000) {
      released = true;
      void nodeB.detachAll();
    }
  };
  const nodeA = sidecar(r);
  await nodeA.attachAll([request('pg')], never);
  t.true(nodeA.readiness().ready);
  t.true(r.clock.slept.length > 3);
  t.true(r.clock.slept.every((ms) => ms <= 250), `sleeps: ${r.clock.slept.join(',')}`);
});

test('waiting gives up after the acquire timeout with exit 4, leaving no claim of its own', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  await sidecar(r, { node: 'node-b' }).attachAll([request('pg')], never);
  const nodeA = sidecar(r, { acquireTimeoutMs: 2000 });
  const error = await t.throwsAsync(nodeA.attachAll([request('pg')], never));
  t.is((error as DvdiError).code, ErrorCode.VolumeHeld);
  t.is((error as DvdiError).exitCode, 4);
  t.true(r.clock.monotonic() >= 2000 && r.clock.monotonic() < 2300, `gave up at ${r.clock.monotonic()} ms`);
  const view = await r.store.inspect({ driver: 'fake', name: 'pg' });
  t.deepEqual(view?.holders.map((h) => h.node), ['node-b']);
});

test('a renewal racing the undo of a failed attach reports no lost lease (the attach error stands)', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const store: RefcountStore = Object.create(r.store) as RefcountStore;
  let renewDuringUndo: { lost: string[] } | undefined;
  // The keeper's tick lands after the undo removed the holder (abortMount) and before the attach returns.
  store.abortMount = async (ref) => {
    const answer = await r.store.abortMount(ref);
    renewDuringUndo = await volumes.renewAll();
    return answer;
  };
  r.driver.hooks.mount = () => refused('Mount');
  const volumes = sidecar(r, { store });
  const error = await t.throwsAsync(volumes.attachAll([request('pg')], never));
  t.is((error as DvdiError).code, ErrorCode.DriverRefused);
  t.deepEqual(renewDuringUndo, { lost: [] });
});

test('fence after a lost lease: the bind goes and the driver Unmount is sent with the mount ID', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const volumes = sidecar(r);
  await volumes.attachAll([request('pg')], never);
  const id = r.driver.mountedIds('pg')[0]!;
  r.clock.step(60_000); // the lease lapses
  const { lost } = await volumes.renewAll();
  t.deepEqual(lost, ['pg']);
  await volumes.fence();
  t.false(volumes.readiness().ready);
  t.is(r.mounter.binds.size, 0);
  t.true(r.events.includes(`Unmount pg ${id}`));
  t.is(r.ledger.entries.size, 0);
});

test('a lease lapsed in an outage: re-registered while the bind is there, fenced when the sweep took the bind meanwhile', async (t) => {
  for (const bindTakenOver of [false, true]) {
    const r = await rig();
    t.teardown(() => r.close());
    const store: RefcountStore = Object.create(r.store) as RefcountStore;
    const volumes = sidecar(r, { store });
    await volumes.attachAll([request('pg')], never);
    store.renew = () => Promise.reject(new Error('connection lost'));
    t.deepEqual((await volumes.renewAll()).lost, []); // the outage: mounts kept
    r.clock.step(60_000); // the lease lapses meanwhile
    // This node's sweep took over the unmount while the lease was lapsed: the bind is gone.
    if (bindTakenOver) r.mounter.binds.clear();
    store.renew = (ref, ttlMs) => r.store.renew(ref, ttlMs);
    t.deepEqual((await volumes.renewAll()).lost, bindTakenOver ? ['pg'] : [], `bind taken over: ${bindTakenOver}`);
  }
});

test('a re-registration that the store takes after a takeover removed the bind (between the check and the acquire) fences', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const store: RefcountStore = Object.create(r.store) as RefcountStore;
  const volumes = sidecar(r, { store });
  await volumes.attachAll([request('pg')], never);
  store.renew = () => Promise.reject(new Error('connection lost'));
  t.deepEqual((await volumes.renewAll()).lost, []);
  r.clock.step(60_000);
  store.renew = (ref, ttlMs) => r.store.renew(ref, ttlMs);
  // The sweep's takeover finishes while the holder's reclaim is on its way: the bind goes.
  store.acquire = (req) => {
    r.mounter.binds.clear();
    return r.store.acquire(req);
  };
  t.deepEqual((await volumes.renewAll()).lost, ['pg'], 'a holder without its bind never stays registered as ready');
});
