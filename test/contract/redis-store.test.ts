// The RefcountStore contract against the Redis store on a private redis-server (one per file,
// a unique key prefix per test), in real time (Redis TIME). Every test starts with SCRIPT FLUSH,
// while other tests run, so the whole suite also proves the EVALSHA → EVAL recovery on NOSCRIPT.
// After the run, no key of the suite may lack an expiry except the marker and the index.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { silentLogger } from '../../src/common/logger.js';
import { createRedisRefcountStore } from '../../src/refcount/redis-refcount-store.js';
import { startRedisServer, stopAllRedis, type RedisServer } from '../helpers/redis-server.js';
import { runStoreContract } from './refcount-store-contract.js';

const SUITE = `ct-${randomBytes(4).toString('hex')}`;
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

runStoreContract(test, 'redis', async () => {
  const prefix = `${SUITE}:${randomBytes(4).toString('hex')}`;
  await admin.script('FLUSH');
  // This Redis has held our (empty) data "for ever": no quarantine outside the data-loss tests.
  await admin.set(`${prefix}:alive`, '0');
  const store = createRedisRefcountStore({ url: server.url, prefix, logger: silentLogger() });
  if (!(await store.waitReady(5000))) throw new Error('redis store did not connect');
  return {
    store,
    // What a restart without persistence does to this store's keys (marker and index included).
    loseData: () => deleteMatching(`${prefix}:*`),
  };
});

test.after('no key of the suite is left without an expiry, except the marker and the index', async (t) => {
  const leftovers: string[] = [];
  let cursor = '0';
  let volumes = 0;
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${SUITE}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      if (key.endsWith(':alive') || key.endsWith(':volumes')) continue;
      volumes += 1;
      const pttl = await admin.pttl(key);
      if (pttl <= 0) leftovers.push(`${key} pttl=${pttl}`);
    }
  } while (cursor !== '0');
  t.true(volumes > 10, `the suite left ${volumes} volume records to check`);
  t.deepEqual(leftovers, []);
});
