// Connecting to a real Redis Cluster whose masters are slow to answer for a moment (SIGSTOP for
// 2.5 s: the kernel accepts the connection, the server says nothing). ioredis' own ready check sent CLUSTER INFO
// to a random master and, with the offline queue off, was refused while that master's connection
// was still being made; it then tore every connection down and started again, for as long as
// the masters were slow (under load on a shared machine: a store not ready after 10 s). The store
// now waits for every master to answer PING on its own connection instead.
import test from 'ava';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createRedisRefcountStore } from '../../../src/refcount/redis-refcount-store.js';
import { startRedisCluster, stopAllRedis, type ClusterTopology } from '../../helpers/redis-server.js';

let cluster: ClusterTopology;

test.before(async () => {
  // A long node timeout: stalled masters must not be failed over during the test.
  cluster = await startRedisCluster({ nodeTimeoutMs: 20_000 });
});

test.after.always(async () => {
  for (const server of cluster?.servers ?? []) server.resume();
  await stopAllRedis();
});

test('a store becomes ready once every master answers, without tearing its connections down while they are slow', async (t) => {
  const masters = await cluster.masters();
  t.is(masters.length, 3);
  for (const master of masters) master.pause();
  // Seeds: the replicas, which answer the topology query at once; the masters it names stall.
  const seeds = cluster.servers.filter((s) => !masters.includes(s)).map((s) => ({ host: '127.0.0.1', port: s.port }));
  t.is(seeds.length, 3);
  // The store warns once when its connection closes ("redis connection lost; reconnecting").
  const warnings: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      warnings.push(chunk.toString());
      done();
    },
  });
  const store = createRedisRefcountStore({ clusterNodes: seeds, prefix: 'connect', logger: pino({ level: 'warn' }, sink), commandTimeoutMs: 4000 });
  try {
    // 2.5 s: shorter than the handshake's timeout (the command timeout, here 4 s + 0.5 s); giving
    // up on an unanswered handshake is fair, the reconnect tested here came at once.
    t.false(await store.waitReady(2500), 'not ready while no master answers');
    t.is(await store.ping(), false);
    for (const master of masters) master.resume();
    t.true(await store.waitReady(10_000), 'ready once the masters answer');
    t.deepEqual(warnings, [], 'the client never tore its connections down while it waited');
    // The first commands, on every master at once, are answered.
    const views = await Promise.all(Array.from({ length: 30 }, (_, i) => store.inspect({ driver: 'd', name: `v${i}` })));
    t.deepEqual(views, Array.from({ length: 30 }, () => undefined));
  } finally {
    for (const master of masters) master.resume();
    await store.close();
  }
});
