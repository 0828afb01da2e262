// The Redis store against real server trouble: a crash and an empty restart (reconnect, no replay
// of what failed while down, renew `missing` → reclaim, quarantine for other nodes), a paused
// server (the command timeout), and a Sentinel failover. One private redis-server per test.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { silentLogger } from '../../../src/common/logger.js';
import { createRedisRefcountStore, type RedisRefcountStore } from '../../../src/refcount/redis-refcount-store.js';
import type { AcquireRequest, VolumeKey } from '../../../src/refcount/refcount-store.js';
import { startRedisServer, startSentinelTopology, stopAllRedis } from '../../helpers/redis-server.js';

test.after.always(() => stopAllRedis());

const vol = (): VolumeKey => ({ driver: 'drv', name: `v-${randomBytes(4).toString('hex')}` });
const req = (v: VolumeKey, node: string, token: string, o: Partial<AcquireRequest> = {}): AcquireRequest => ({
  ...v,
  node,
  token,
  task: `task-${token}`,
  mode: 'exclusive',
  preempt: false,
  ttlMs: 30_000,
  ...o,
});

async function storeOn(url: string, prefix: string, commandTimeoutMs = 1000): Promise<RedisRefcountStore> {
  const store = createRedisRefcountStore({ url, prefix, logger: silentLogger(), commandTimeoutMs });
  if (!(await store.waitReady(5000))) throw new Error('store did not connect');
  return store;
}

/** Retry `fn` until it resolves (the store reconnects in the background), within `ms`. */
async function eventually<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

async function admin(url: string): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

test.serial('crash + empty restart: calls while down fail fast and typed, are never replayed; then missing → reclaim → join, and quarantine for other nodes', async (t) => {
  const server = await startRedisServer();
  const prefix = 'faults';
  const setup = await admin(server.url);
  await setup.set(`${prefix}:alive`, '0');
  setup.disconnect();
  const store = await storeOn(server.url, prefix);
  t.teardown(() => store.close());

  const v1 = vol();
  const v2 = vol();
  const first = await store.acquire(req(v1, 'A', 'a1'));
  t.like(first, { kind: 'mount' });
  const epoch = first.kind === 'mount' ? first.epoch : -1;
  t.like(await store.markMounted({ ...v1, node: 'A', token: 'a1' }, '/mnt/v1'), { kind: 'ok' });
  t.like(await store.acquire(req(v2, 'A', 'a2')), { kind: 'mount' });

  await server.kill9();
  const renewWhileDown = await t.throwsAsync(store.renew({ ...v1, node: 'A', token: 'a1' }, 30_000));
  t.is((renewWhileDown as { code?: string }).code, 'DVDI_STORE_UNAVAILABLE');
  const orphanAcquire = vol();
  const acquireWhileDown = await t.throwsAsync(store.acquire(req(orphanAcquire, 'C', 'c1', { mode: 'shared' })));
  t.is((acquireWhileDown as { code?: string }).code, 'DVDI_STORE_UNAVAILABLE');
  t.false(await store.ping());

  await server.restart();
  t.true(await store.waitReady(10_000), 'the store reconnects by itself');
  await sleep(300);
  // Nothing issued while down ran late: the acquire would have created this record.
  t.is(await eventually(5000, () => store.inspect(orphanAcquire)), undefined);

  // The restart lost every record (and the scripts: EVALSHA falls back to EVAL).
  const ttlMs = 2000;
  const quarantined = await store.acquire(req(v2, 'B', 'b1', { ttlMs }));
  t.is(quarantined.kind, 'quarantine', 'no exclusive grant to another node right after the loss');
  t.deepEqual(await store.renew({ ...v1, node: 'A', token: 'a1' }, 30_000), { kind: 'missing' });
  t.deepEqual(await store.acquire(req(v1, 'A', 'a1', { reclaim: { mountpoint: '/mnt/v1', mountId: 'a1', epoch } })), { kind: 'join', epoch, mountpoint: '/mnt/v1' });
  t.deepEqual(await store.acquire(req(v1, 'B', 'b1', { ttlMs })), { kind: 'held', nodes: ['A'] });
  t.is((await store.list()).filter((v) => v.name === v1.name).length, 1, 'the reclaimed volume is indexed again');

  // v2's holder never came back: after one TTL from the loss, B gets it.
  const retryInMs = quarantined.kind === 'quarantine' ? quarantined.retryInMs : 0;
  t.true(retryInMs > 0 && retryInMs <= ttlMs);
  await sleep(retryInMs + 100);
  t.like(await store.acquire(req(v2, 'B', 'b1', { ttlMs })), { kind: 'mount' });
});

test.serial('command timeout: a paused server fails the call with a typed timeout, then the store answers again', async (t) => {
  const server = await startRedisServer();
  const prefix = 'pause';
  const control = await admin(server.url);
  t.teardown(() => control.disconnect());
  await control.set(`${prefix}:alive`, '0');
  const store = await storeOn(server.url, prefix, 500);
  t.teardown(() => store.close());
  const v = vol();
  t.like(await store.acquire(req(v, 'A', 'a1')), { kind: 'mount' });

  await control.call('CLIENT', 'PAUSE', '3000', 'ALL');
  const started = performance.now();
  const error = await t.throwsAsync(store.renew({ ...v, node: 'A', token: 'a1' }, 30_000));
  const elapsed = performance.now() - started;
  t.is((error as { code?: string }).code, 'DVDI_STORE_TIMEOUT');
  // Bounded by the command timeout, not by the pause (no speed assertion beyond that).
  t.true(elapsed < 2900, `the call waited ${Math.round(elapsed)} ms`);
  await control.call('CLIENT', 'UNPAUSE');
  t.like(await eventually(5000, () => store.renew({ ...v, node: 'A', token: 'a1' }, 30_000)), { kind: 'ok' });
});

test.serial('Sentinel: the store rides through a failover of its primary', async (t) => {
  const topology = await startSentinelTopology();
  t.teardown(() => topology.stopAll());
  const prefix = 'sentinel';
  const setup = await admin(topology.primary.url);
  await setup.set(`${prefix}:alive`, '0');
  // Let the replica catch up before the primary dies (async replication could lose the marker).
  await setup.call('WAIT', '1', '5000');
  setup.disconnect();

  const store = createRedisRefcountStore({ sentinels: topology.sentinels, sentinelName: topology.masterName, prefix, logger: silentLogger(), commandTimeoutMs: 1000 });
  t.teardown(() => store.close());
  t.true(await store.waitReady(10_000));
  const v = vol();
  t.like(await store.acquire(req(v, 'A', 'a1')), { kind: 'mount' });
  const replicated = await admin(topology.primary.url);
  await replicated.call('WAIT', '1', '5000');
  replicated.disconnect();

  await topology.primary.kill9();
  // Sentinels notice after 1 s and promote the replica; the store finds it through them.
  const renewed = await eventually(30_000, () => store.renew({ ...v, node: 'A', token: 'a1' }, 30_000));
  t.like(renewed, { kind: 'ok' }, 'the lease survived on the promoted replica');
  const after = vol();
  t.like(await store.acquire(req(after, 'B', 'b1')), { kind: 'mount' }, 'writes go to the new primary');
  const promoted = await admin(topology.replica.url);
  t.teardown(() => promoted.disconnect());
  t.is(((await promoted.call('ROLE')) as unknown[])[0], 'master', 'the replica is the primary now');
});

test.serial('an entry lost from the cluster-wide index (another slot than the record) comes back: at the next acquire, and at the node sweep', async (t) => {
  const server = await startRedisServer();
  const prefix = 'indexloss';
  const client = await admin(server.url);
  t.teardown(() => client.disconnect());
  await client.set(`${prefix}:alive`, '0');
  const store = await storeOn(server.url, prefix);
  t.teardown(() => store.close());
  const listed = async (): Promise<string[]> => (await store.list()).map((v) => v.name);

  // Lost before a later holder comes: a shared volume joined by a second task.
  const shared = vol();
  t.like(await store.acquire(req(shared, 'A', 's1', { mode: 'shared' })), { kind: 'mount' });
  t.deepEqual(await listed(), [shared.name]);
  const [sharedMember] = await client.smembers(store.indexKey);
  t.is(await client.srem(store.indexKey, sharedMember!), 1, 'the index entry is gone, as after a failover of its slot');
  t.deepEqual(await listed(), [], 'status misses the held volume');
  t.like(await store.acquire(req(shared, 'B', 's2', { mode: 'shared' })), { kind: 'mount' });
  t.deepEqual(await listed(), [shared.name], 'the second acquire indexed it again');

  // Lost while held, with no acquire to come: the holder node's sweep (reap) restores it.
  const held = vol();
  t.like(await store.acquire(req(held, 'C', 'h1')), { kind: 'mount' });
  const members = await client.smembers(store.indexKey);
  const heldMember = members.find((m) => m.includes(held.name))!;
  t.is(await client.srem(store.indexKey, heldMember), 1);
  t.false((await listed()).includes(held.name));
  t.deepEqual(await store.reap('C'), [], 'nothing to reap: the holder is live');
  t.true((await listed()).includes(held.name), 'the sweep of node C indexed it again');
});
