// Model-based tests (test/contract/refcount-store-model-based.ts) against the Redis store: one
// private redis-server for the file, a unique key prefix per property run (removed after it),
// every client of a run on its own connection; store time is Redis TIME, so letting a lease end
// is a real sleep of a few ms.
import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RefcountStore } from '../../src/refcount/refcount-store.js';
import { useRedisServer } from './redis-fixture.js';
import { runModelBasedSuite, type ModelWorld } from './refcount-store-model-based.js';

const redis = useRedisServer(test, 'mbt');

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

runModelBasedSuite(test, 'redis', { newWorld, sequentialRuns: 200, interleavingRuns: 100 });
