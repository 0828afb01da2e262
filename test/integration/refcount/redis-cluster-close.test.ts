// close() on Redis Cluster leaves no connection open (chaos, cluster seed 6006 under load: a
// `dvdi reconcile` printed its report, set its exit code and never exited — four per-node
// connections kept its event loop alive, none of them in the Cluster client's pool any more).
// ioredis's pool drops a node by key when *a* connection of that key ends; when a refresh
// replaces a node's connection (a master killed and back at once as a replica) and the old one
// ends only afterwards, the new one is taken out of the pool without being closed. The race is
// played here with the pool's own reset(), the call a slot refresh makes.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { silentLogger } from '../../../src/common/logger.js';
import { createRedisRefcountStore } from '../../../src/refcount/redis-refcount-store.js';
import { waitFor } from '../../helpers/cli.js';
import { startRedisCluster, stopAllRedis, type ClusterTopology } from '../../helpers/redis-server.js';

let cluster: ClusterTopology;
test.before(async () => {
  cluster = await startRedisCluster();
  await cluster.waitOk();
});
test.after.always(() => stopAllRedis());

interface PoolInternals {
  nodes: { all: Record<string, Redis>; slave: Record<string, Redis> };
  reset(nodes: Array<{ host: string; port: number; readOnly: boolean }>): void;
}

/** This process's TCP connections to the cluster's servers. */
function openConnections(): number {
  const ports = new Set(cluster.servers.map((s) => s.port));
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return (handles as Array<{ remotePort?: number; destroyed?: boolean }>).filter((h) => h.remotePort !== undefined && ports.has(h.remotePort) && h.destroyed !== true).length;
}

test('Redis Cluster: close() also closes a node connection that the client dropped from its pool without closing', async (t) => {
  const store = createRedisRefcountStore({ clusterNodes: cluster.seeds, prefix: `close${randomBytes(3).toString('hex')}`, logger: silentLogger() });
  t.true(await store.waitReady(10_000), 'the store connected');
  t.true(await store.ping());
  const pool = (store as unknown as { redis: { connectionPool: PoolInternals } }).redis.connectionPool;
  await waitFor('the client to know the cluster', () => Object.keys(pool.nodes.all).length >= 3, 10_000);
  const nodes = Object.keys(pool.nodes.all).map((key) => {
    const [host, port] = key.split(':') as [string, string];
    return { host, port: Number(port), readOnly: key in pool.nodes.slave };
  });
  const victim = nodes[0]!;
  const key = `${victim.host}:${victim.port}`;
  pool.reset(nodes.filter((n) => n !== victim)); // a refresh without it: its connection is disconnected
  pool.reset(nodes); // the next refresh has it again: a new connection, before the old one ended
  await waitFor("the old connection's end to take the new one out of the pool", () => !(key in pool.nodes.all), 10_000);
  await waitFor('the dropped connection to be up beside the pool', () => openConnections() > Object.keys(pool.nodes.all).length, 10_000);

  await store.close();
  await waitFor('every connection to the cluster closed', () => openConnections() === 0, 5000).catch(() => undefined);
  t.is(openConnections(), 0, 'a connection outlived close(): a CLI process would never exit');
});
