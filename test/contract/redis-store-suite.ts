// The RefcountStore contract against the Redis store, on one of three real topologies (one
// redis-server, Sentinel, a 3+3 Redis Cluster; one per test file, a unique key prefix per test),
// in real time (Redis TIME). Every test starts with SCRIPT FLUSH on every master, while other
// tests run, so the whole suite also proves the EVALSHA → EVAL recovery on NOSCRIPT. After the
// run, no key of the suite may lack an expiry except the markers and the volume index. Then the
// Redis-only parts: the per-node index lost, rebuilt, pruned.
import type { TestFn } from 'ava';
import { useRedisServer, type Topology } from './redis-fixture.js';
import { runStoreContract } from './refcount-store-contract.js';

export function runRedisStoreSuite(test: TestFn, topology: Topology): void {
  const redis = useRedisServer(test, `ct${topology.slice(0, 2)}`, topology);

  runStoreContract(test, topology, async () => {
    await redis.flushScripts();
    // This Redis has held our (empty) data "for ever": no quarantine outside the data-loss tests.
    const prefix = await redis.newPrefix();
    const store = await redis.openStore(prefix);
    return {
      store,
      // What a restart without persistence does to this store's keys (marker and index included).
      loseData: () => redis.deleteMatching(`${prefix}:*`),
    };
  });

  test.after('no key of the suite is left without an expiry, except the markers and the volume index', async (t) => {
    const leftovers: string[] = [];
    let volumes = 0;
    for (const key of await redis.keys(`${redis.suite}:*`)) {
      if (key.endsWith(':alive') || key.endsWith(':volumes')) continue;
      volumes += 1;
      const pttl = await redis.admin().pttl(key);
      if (pttl <= 0) leftovers.push(`${key} pttl=${pttl}`);
    }
    t.true(volumes > 10, `the suite left ${volumes} volume records to check`);
    t.deepEqual(leftovers, []);
  });

  // ------------------------------------------------------------------ the node index (Redis only)

  const acquireOn = (node: string, token: string, name: string, ttlMs = 60_000) => ({ driver: 'drv', name, node, token, task: `task-${token}`, mode: 'exclusive' as const, preempt: false, ttlMs });

  test('node index: lost on its own (a Cluster slot failed over), it is complete again after one renew of each live holder', async (t) => {
    const prefix = await redis.newPrefix();
    const store = await redis.openStore(prefix);
    t.teardown(() => store.close());
    t.like(await store.acquire(acquireOn('A', 'a1', 'v1')), { kind: 'mount' });
    t.like(await store.acquire(acquireOn('A', 'a2', 'v2')), { kind: 'mount' });
    await redis.admin().del(store.nodeIndexKey('A'));
    t.deepEqual(await store.listNode('A'), [], 'the lost index hides the volumes');
    t.like(await store.renew({ driver: 'drv', name: 'v1', node: 'A', token: 'a1' }, 60_000), { kind: 'ok' });
    t.like(await store.renew({ driver: 'drv', name: 'v2', node: 'A', token: 'a2' }, 60_000), { kind: 'ok' });
    t.deepEqual((await store.listNode('A')).map((v) => v.name), ['v1', 'v2']);
  });

  test('node index: lost under a holder that no longer renews, reindexNode() puts back what the record has of the node (its ledger names it)', async (t) => {
    const prefix = await redis.newPrefix();
    const store = await redis.openStore(prefix);
    t.teardown(() => store.close());
    // As in the contract: the lease is long while the test needs it, and shortened right before
    // time passes (a 500 ms lease from the start ran out before markMounted on a loaded CI).
    const a1 = { driver: 'drv', name: 'v1', node: 'A', token: 'a1' };
    t.like(await store.acquire(acquireOn('A', 'a1', 'v1')), { kind: 'mount' });
    t.like(await store.markMounted(a1, '/m/v1'), { kind: 'ok' });
    t.like(await store.acquire(acquireOn('B', 'b1', 'v2')), { kind: 'mount' });
    t.like(await store.renew(a1, 300), { kind: 'ok' });
    await redis.admin().del(store.nodeIndexKey('A')); // after the renew, which indexes again
    await new Promise((r) => setTimeout(r, 500)); // a1's lease is over: nobody renews v1 any more
    t.deepEqual(await store.reap('A'), [], 'the lost index hides the orphan from reap');
    const views = await store.reindexNode('A', [{ driver: 'drv', name: 'v1' }, { driver: 'drv', name: 'v2' }, { driver: 'drv', name: 'never' }]);
    t.deepEqual(views.map((v) => v.name), ['v1'], "only the volume whose record has node A (v2 is B's, 'never' has no record)");
    t.deepEqual((await store.listNode('A')).map((v) => v.name), ['v1']);
    t.deepEqual((await store.reap('A')).map((v) => v.name), ['v1'], 'reap sees the orphan again');
  });

  test('node index: rebuildIndexes() recreates every node index and the cluster-wide index from the records', async (t) => {
    const prefix = await redis.newPrefix();
    const store = await redis.openStore(prefix);
    t.teardown(() => store.close());
    t.like(await store.acquire(acquireOn('A', 'a1', 'v1')), { kind: 'mount' });
    t.like(await store.acquire(acquireOn('B', 'b1', 'v2')), { kind: 'mount' });
    t.like(await store.acquire(acquireOn('C', 'c1', 'v3', 1)), { kind: 'mount' });
    // One key per DEL: on a cluster they live in different slots.
    for (const key of [store.nodeIndexKey('A'), store.nodeIndexKey('B'), store.nodeIndexKey('C'), store.indexKey]) await redis.admin().del(key);
    t.deepEqual(await store.list(), []);
    t.is(await store.rebuildIndexes(), 3);
    t.deepEqual((await store.listNode('A')).map((v) => v.name), ['v1']);
    t.deepEqual((await store.listNode('B')).map((v) => v.name), ['v2']);
    t.deepEqual((await store.listNode('C')).map((v) => v.name), ['v3'], 'an expired holder still counts: its node must reap it');
    t.deepEqual((await store.list()).map((v) => v.name), ['v1', 'v2', 'v3']);
  });

  test('node index: reap prunes an entry without presence only after the index grace; an entry with presence stays however old', async (t) => {
    const prefix = await redis.newPrefix();
    const store = await redis.openStore(prefix);
    t.teardown(() => store.close());
    t.like(await store.acquire(acquireOn('A', 'a1', 'gone')), { kind: 'mount' });
    t.like(await store.abortMount({ driver: 'drv', name: 'gone', node: 'A', token: 'a1' }), { kind: 'ok' });
    t.like(await store.acquire(acquireOn('A', 'a2', 'kept')), { kind: 'mount' });
    const key = store.nodeIndexKey('A');
    await store.reap('A');
    t.is(await redis.admin().zcard(key), 2, 'touched moments ago: kept although the node left "gone" (an acquire may be in flight)');
    // Age both entries past the grace (60 s).
    for (const name of ['gone', 'kept']) await redis.admin().zadd(key, Date.now() - 120_000, JSON.stringify(['drv', name]));
    await redis.admin().zadd(key, Date.now(), 'not-a-volume-id');
    t.deepEqual(await store.reap('A'), []);
    t.deepEqual((await redis.admin().zrange(key, 0, -1)).sort(), [JSON.stringify(['drv', 'kept']), 'not-a-volume-id'].sort(), 'only the aged entry without presence went; a foreign member is ignored');
    t.deepEqual((await store.listNode('A')).map((v) => v.name), ['kept']);
  });
}
