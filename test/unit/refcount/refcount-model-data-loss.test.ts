// The pure model's rules for stores that can lose data: renew `missing` (lossy stores only),
// acquire `quarantine` while the store is younger than one lease, and `reclaim`, which recreates
// a node's mount without a second driver Mount and keeps the holder's epoch.
import test from 'ava';
import * as model from '../../../src/refcount/refcount-model.js';
import type { AcquireRequest } from '../../../src/refcount/refcount-store.js';

const VOL = { driver: 'd', name: 'v' };
const NOW = 1_000_000;
const req = (node: string, token: string, o: Partial<AcquireRequest> = {}): AcquireRequest => ({
  ...VOL,
  node,
  token,
  task: `task-${token}`,
  mode: 'exclusive',
  preempt: false,
  ttlMs: 1000,
  ...o,
});

test('renew of an absent record: missing from a lossy store, lost otherwise', (t) => {
  const ref = { ...VOL, node: 'A', token: 't' };
  t.deepEqual(model.renew(undefined, ref, 1000, NOW, true).result, { kind: 'missing' });
  t.deepEqual(model.renew(undefined, ref, 1000, NOW).result, { kind: 'lost' });
  // A record that exists without the holder is `lost` either way: the lease ended or was revoked.
  const { volume } = model.acquire(undefined, req('B', 'b'), NOW);
  t.deepEqual(model.renew(volume, ref, 1000, NOW, true).result, { kind: 'lost' });
});

test('quarantine: an exclusive grant to an unknown node waits until the store is one TTL old', (t) => {
  const young = model.acquire(undefined, req('B', 'b'), NOW, { storeAgeMs: 400 });
  t.deepEqual(young.result, { kind: 'quarantine', retryInMs: 600 });
  t.is(young.volume, undefined, 'nothing registered');
  t.deepEqual(model.acquire(undefined, req('B', 'b', { preempt: true }), NOW, { storeAgeMs: 0 }).result, { kind: 'quarantine', retryInMs: 1000 });
  t.like(model.acquire(undefined, req('B', 'b'), NOW, { storeAgeMs: 1000 }).result, { kind: 'mount' });
  t.like(model.acquire(undefined, req('B', 'b', { mode: 'shared' }), NOW, { storeAgeMs: 0 }).result, { kind: 'mount' }, 'shared claims exclude nobody');
  t.like(model.acquire(undefined, req('B', 'b'), NOW).result, { kind: 'mount' }, 'a store that cannot lose data has no quarantine');
});

test('quarantine: a node the record knows is no new node; a node held elsewhere is told `held` first', (t) => {
  const a = model.acquire(undefined, req('A', 'a1'), NOW, { storeAgeMs: 5000 });
  t.like(model.acquire(a.volume, req('A', 'a2'), NOW, { storeAgeMs: 0 }).result, { kind: 'wait' });
  t.deepEqual(model.acquire(a.volume, req('B', 'b'), NOW, { storeAgeMs: 0 }).result, { kind: 'held', nodes: ['A'] });
});

test('reclaim recreates mounted(mountpoint, mountId) with the holder’s epoch, bypassing quarantine', (t) => {
  const reclaim = { mountpoint: '/mnt/A', mountId: 'a1', epoch: 7 };
  const first = model.acquire(undefined, req('A', 'a1', { reclaim }), NOW, { storeAgeMs: 0 });
  t.deepEqual(first.result, { kind: 'join', epoch: 7, mountpoint: '/mnt/A' });
  t.like(first.volume?.nodes[0], { node: 'A', state: 'mounted', mountpoint: '/mnt/A', mountId: 'a1' });
  t.is(first.volume?.lastGrantNode, 'A');
  // The next grant to another node moves the epoch past the reclaimed one.
  const released = model.release(first.volume, { ...VOL, node: 'A', token: 'a1' }, NOW + 1);
  const unmounted = model.markUnmounted(released.volume, { ...VOL, node: 'A', token: 'a1' }, NOW + 2);
  t.deepEqual(model.acquire(unmounted.volume, req('B', 'b'), NOW + 3, { storeAgeMs: 5000 }).result, { kind: 'mount', epoch: 8 });
});

test('reclaim never lowers the epoch, and gets the ordinary answer when V is held elsewhere', (t) => {
  const b = model.acquire(undefined, req('B', 'b', { ttlMs: 10_000 }), NOW, { storeAgeMs: 50_000 });
  t.deepEqual(model.acquire(b.volume, req('A', 'a1', { reclaim: { mountpoint: '/m', mountId: 'a1', epoch: 9 } }), NOW).result, { kind: 'held', nodes: ['B'] });
  const low = model.acquire(undefined, req('A', 'a1', { mode: 'shared', reclaim: { mountpoint: '/m', mountId: 'a1', epoch: 3 } }), NOW);
  t.is(low.volume?.epoch, 3);
  const again = model.acquire(low.volume, req('A', 'a2', { mode: 'shared', reclaim: { mountpoint: '/m', mountId: 'a1', epoch: 1 } }), NOW);
  t.deepEqual(again.result, { kind: 'join', epoch: 3, mountpoint: '/m' });
});
