// Model-based tests (test/contract/refcount-store-model-based.ts) against the Redis store on one
// of three real topologies: one private redis-server, Sentinel or a 3+3 Redis Cluster per file, a
// unique key prefix per property run (removed after it), every client of a run on its own
// connection; store time is Redis TIME, so letting a lease end is a real sleep of a few ms.
import type { TestFn } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RefcountStore } from '../../src/refcount/refcount-store.js';
import { useRedisServer, type Topology } from './redis-fixture.js';
import { runModelBasedSuite, type ModelWorld } from './refcount-store-model-based.js';

export function runRedisModelBasedSuite(test: TestFn, topology: Topology, runs: { sequentialRuns: number; interleavingRuns: number }): void {
  const redis = useRedisServer(test, `mb${topology.slice(0, 2)}`, topology);

  async function newWorld(): Promise<ModelWorld> {
    // This Redis has held our (empty) data "for ever": no quarantine (not what these tests are about).
    const prefix = await redis.newPrefix();
    const stores: RefcountStore[] = [];
    return {
      async open() {
        const store = await redis.openStore(prefix);
        stores.push(store);
        return store;
      },
      pass: (ms) => sleep(ms),
      async dispose() {
        await Promise.all(stores.map((s) => s.close()));
        await redis.deleteMatching(`${prefix}:*`);
      },
    };
  }

  runModelBasedSuite(test, topology === 'standalone' ? 'redis' : `redis-${topology}`, { newWorld, ...runs });
}
