// The dvdcli node claim over the lifecycle core, with fakes: one claim per node, a second mount
// joins and renews it, unmount as the last user, an unmount without a claim takes over, and a
// node claim shares the node's mount with a sidecar.
import test from 'ava';
import { ErrorCode } from '../../../src/common/error-codes.js';
import type { DvdiError } from '../../../src/common/errors.js';
import { NodeClaims, nodeClaimToken } from '../../../src/lifecycle/node-claim.js';
import { TaskVolumes } from '../../../src/lifecycle/task-volumes.js';
import { refused, request, rig, type Rig } from './lifecycle-fakes.js';

function claims(r: Rig, bindMode = true): NodeClaims {
  return new NodeClaims({
    node: 'node-a',
    store: r.store,
    drivers: r.drivers,
    mounter: r.mounter,
    bindMode,
    acquireTtlMs: 15_000,
    claimTtlMs: 24 * 3600_000,
    acquireTimeoutMs: 10_000,
    clock: r.clock,
    logger: r.logger,
    ledger: r.ledger,
  });
}

const never = new AbortController().signal;
const vol = { driver: 'fake', name: 'data', opts: {}, explicitCreate: false };

test('mount performs the node mount under the deterministic token; a second mount joins the same claim', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const first = await claims(r).mount(vol, never);
  t.deepEqual(first, { path: '/fake-root/data', mountpoint: '/plugin/data', joined: false });
  const token = nodeClaimToken('node-a', 'fake', 'data');
  t.deepEqual(r.driver.mountedIds('data'), [token]);
  t.true(r.ledger.entries.has(token), 'recorded in the node ledger');
  const again = await claims(r).mount(vol, never);
  t.true(again.joined);
  t.is(r.events.filter((e) => e.startsWith('Mount')).length, 1);
  const view = await r.store.inspect(vol);
  t.is(view?.holders.length, 1, 'one claim per node');
  t.true((view?.holders[0]?.expiresInMs ?? 0) > 3600_000, 'renewed to the long claim TTL');
});

test('unmount as the last user: bind, Unmount with the token, ledger, store — then nothing to unmount', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  await claims(r).mount(vol, never);
  const token = nodeClaimToken('node-a', 'fake', 'data');
  r.events.length = 0;
  t.is(await claims(r).unmount(vol, never), 'unmounted');
  t.deepEqual(r.events, ['unbind /fake-root/data', `Unmount data ${token}`, `ledger- ${token}`]);
  t.is(await claims(r).unmount(vol, never), 'not-mounted');
});

test('a node claim and a sidecar share the mount; whoever is last unmounts', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const sidecar = new TaskVolumes({ node: 'node-a', task: 't', leaseTtlMs: 15_000, acquireTimeoutMs: 10_000, mountTimeoutMs: 10_000, ...r, mounter: r.mounter });
  await sidecar.attachAll([request('data', { access: 'exclusive' })], never);
  const joined = await claims(r).mount(vol, never);
  t.true(joined.joined);
  t.is(await claims(r).unmount(vol, never), 'released');
  t.true(r.mounter.binds.has('/fake-root/data'));
  await sidecar.detachAll();
  t.false(r.mounter.binds.has('/fake-root/data'));
  t.is(r.events.filter((e) => e.startsWith('Unmount')).length, 1);
});

test('unmount without a claim takes over a node state nobody live holds (a sidecar that died)', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const dead = new TaskVolumes({ node: 'node-a', task: 't', leaseTtlMs: 15_000, acquireTimeoutMs: 10_000, mountTimeoutMs: 10_000, ...r, mounter: r.mounter });
  await dead.attachAll([request('data')], never);
  const id = r.driver.mountedIds('data')[0]!;
  r.clock.step(60_000); // its lease lapses; nobody released
  t.is(await claims(r).unmount(vol, never), 'unmounted');
  t.true(r.events.includes(`Unmount data ${id}`), "the dead holder's mount ID");
  t.is(r.mounter.binds.size, 0);
  t.is((await r.store.inspect(vol))?.nodes.find((n) => n.node === 'node-a')?.state, 'absent', 'the expired holder is the reaper\'s; the node state is clean');
});

test('a refused Mount leaves no claim, no ledger entry and no Unmount', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  r.driver.hooks.mount = () => refused('Mount');
  const error = await t.throwsAsync(claims(r).mount(vol, never));
  t.is((error as DvdiError).code, ErrorCode.DriverRefused);
  t.false(r.events.some((e) => e.startsWith('Unmount')));
  t.is(r.ledger.entries.size, 0);
  t.deepEqual(await r.store.list(), []);
});

test('without bind mode the plugin mountpoint is answered and nothing is bound', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const result = await claims(r, false).mount(vol, never);
  t.is(result.path, '/plugin/data');
  t.is(r.mounter.binds.size, 0);
});
