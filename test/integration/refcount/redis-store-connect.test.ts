// A fresh Redis store answers its first PING: the connection is made in the background, and with
// the offline queue off a PING sent before it is ready fails at once; the start-up wait then
// slept 100 ms before the next (about 100 ms of every Redis-path start). The ping now waits for
// a connection on its way, within its own limit. Real redis-server and a real Redis Cluster.
import test from 'ava';
import type { Clock } from '../../../src/common/clock.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { createRedisRefcountStore } from '../../../src/refcount/redis-refcount-store.js';
import { storeAnswers } from '../../../src/refcount/store-connect.js';
import { startRedisCluster, startRedisServer, stopAllRedis } from '../../helpers/redis-server.js';

test.after.always(async () => {
  await stopAllRedis();
});

/** The system clock, with every sleep the wait asks for written down. */
function recordingClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return { ...systemClock, sleeps, sleep: async (ms, signal) => void (sleeps.push(ms), await systemClock.sleep(ms, signal)) };
}

test('a fresh store on one server answers the first ping: the start-up wait never sleeps', async (t) => {
  const server = await startRedisServer();
  for (let i = 0; i < 5; i++) {
    const store = createRedisRefcountStore({ url: server.url, prefix: `connect-${i}`, logger: silentLogger() });
    try {
      const clock = recordingClock();
      t.true(await storeAnswers(store, 10_000, undefined, clock));
      t.deepEqual(clock.sleeps, [], `store ${i}: answered without a retry`);
    } finally {
      await store.close();
    }
  }
});

test('a fresh store on a Redis Cluster answers the first ping once every master does', async (t) => {
  const cluster = await startRedisCluster();
  const store = createRedisRefcountStore({ clusterNodes: cluster.servers.map((s) => ({ host: '127.0.0.1', port: s.port })), prefix: 'connect-cluster', logger: silentLogger() });
  try {
    const clock = recordingClock();
    t.true(await storeAnswers(store, 10_000, undefined, clock));
    t.deepEqual(clock.sleeps, [], 'answered without a retry');
  } finally {
    await store.close();
  }
});

test('a server that is not there: the wait retries, then answers false', async (t) => {
  const server = await startRedisServer();
  await server.stop();
  const store = createRedisRefcountStore({ url: server.url, prefix: 'connect-gone', logger: silentLogger() });
  try {
    const clock = recordingClock();
    t.false(await storeAnswers(store, 1_500, undefined, clock));
    t.true(clock.sleeps.length > 0, 'it retried until the budget ran out');
  } finally {
    await store.close();
  }
});
