// The chaos suite's Sentinel set-up survives its own fault: whichever server is primary when it
// is killed comes back empty and becomes a replica again, including the server that started as
// the replica, restarted before the failover away from it finished. (It once came back with its
// first start's `--replicaof` and made the two servers replicas of each other, for good.)
import test from 'ava';
import { redisCli, stopAllRedis } from '../helpers/redis-server.js';
import { startChaosRedis, type ChaosRedis } from './chaos-redis.js';

let redis: ChaosRedis | undefined;

test.after.always(async () => {
  redis?.close();
  await redis?.killAll();
  await stopAllRedis();
});

test('sentinel: a primary killed and restarted at once, the first replica among them, leaves one primary and its replica', async (t) => {
  t.timeout(240_000);
  redis = await startChaosRedis('sentinel', '');
  const env = redis.env('');
  const [host, port] = env.DVDI_REDIS_SENTINELS!.split(',')[0]!.split(':');
  const primaryPort = async (): Promise<number> => Number((await redisCli(Number(port), ['SENTINEL', 'get-master-addr-by-name', env.DVDI_REDIS_SENTINEL_NAME!])).trim().split('\n')[1]);
  t.is(host, '127.0.0.1');
  const first = await primaryPort();
  // Down longer than the sentinels' failure detection: the replica is promoted.
  const failover = await redis.fault({ persistent: false, downMs: 4000 });
  await failover.recovered;
  const second = await primaryPort();
  t.not(second, first, 'the long fault made the first replica the primary');
  // Now the server that started as the replica is killed and back before any failover ends.
  for (const downMs of [200, 600]) {
    const fault = await redis.fault({ persistent: false, downMs });
    t.deepEqual((await fault.recovered).length, 1, `after a ${downMs} ms fault the set-up settles (one primary, one connected replica)`);
  }
  await redis.heal();
  const role = await redisCli(await primaryPort(), ['ROLE']);
  t.true(role.startsWith('master'), role);
});
