// The RefcountStore contract against the Redis store on a private redis-server (one per file,
// a unique key prefix per test), in real time (Redis TIME). Every test starts with SCRIPT FLUSH,
// while other tests run, so the whole suite also proves the EVALSHA → EVAL recovery on NOSCRIPT.
// After the run, no key of the suite may lack an expiry except the marker and the index.
import test from 'ava';
import { useRedisServer } from './redis-fixture.js';
import { runStoreContract } from './refcount-store-contract.js';

const redis = useRedisServer(test, 'ct');

runStoreContract(test, 'redis', async () => {
  await redis.admin().script('FLUSH');
  // This Redis has held our (empty) data "for ever": no quarantine outside the data-loss tests.
  const prefix = await redis.newPrefix();
  const store = await redis.openStore(prefix);
  return {
    store,
    // What a restart without persistence does to this store's keys (marker and index included).
    loseData: () => redis.deleteMatching(`${prefix}:*`),
  };
});

test.after('no key of the suite is left without an expiry, except the marker and the index', async (t) => {
  const leftovers: string[] = [];
  let cursor = '0';
  let volumes = 0;
  do {
    const [next, keys] = await redis.admin().scan(cursor, 'MATCH', `${redis.suite}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      if (key.endsWith(':alive') || key.endsWith(':volumes')) continue;
      volumes += 1;
      const pttl = await redis.admin().pttl(key);
      if (pttl <= 0) leftovers.push(`${key} pttl=${pttl}`);
    }
  } while (cursor !== '0');
  t.true(volumes > 10, `the suite left ${volumes} volume records to check`);
  t.deepEqual(leftovers, []);
});
