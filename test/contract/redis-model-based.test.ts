// Model-based tests (test/contract/refcount-store-model-based.ts) against the Redis store: one
// private redis-server for the file, a unique key prefix per property run (removed after it),
// every client of a run on its own connection; store time is Redis TIME, so letting a lease end
// is a real sleep of a few ms.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { silentLogger } from '../../src/common/logger.js';
import { createRedisRefcountStore } from '../../src/refcount/redis-refcount-store.js';
import type { RefcountStore } from '../../src/refcount/refcount-store.js';
import { startRedisServer, stopAllRedis, type RedisServer } from '../helpers/redis-server.js';
import { runModelBasedSuite, type ModelWorld } from './refcount-store-model-based.js';

const SUITE = `mbt-${randomBytes(4).toString('hex')}`;
let server: RedisServer;
let admin: Redis;

test.before(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
});

test.after.always(async () => {
  admin?.disconnect();
  await stopAllRedis();
});

async function deleteMatching(pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await admin.unlink(...keys);
  } while (cursor !== '0');
}

async function newWorld(): Promise<ModelWorld> {
  const prefix = `${SUITE}:${randomBytes(4).toString('hex')}`;
  // This Redis has held our (empty) data "for ever": no quarantine (not what these tests are about).
  await admin.set(`${prefix}:alive`, '0');
  const stores: RefcountStore[] = [];
  return {
    async open() {
      const store = createRedisRefcountStore({ url: server.url, prefix, logger: silentLogger() });
      stores.push(store);
      if (!(await store.waitReady(5000))) throw new Error('redis store did not connect');
      return store;
    },
    pass: (ms) => sleep(ms),
    async dispose() {
      await Promise.all(stores.map((s) => s.close()));
      await deleteMatching(`${prefix}:*`);
    },
  };
}

runModelBasedSuite(test, 'redis', { newWorld, sequentialRuns: 200, interleavingRuns: 100 });
