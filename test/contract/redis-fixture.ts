// Private Redis topologies per test file for the store suites — one redis-server, a primary +
// replica + three sentinels, or a 3 masters + 3 replicas Redis Cluster — an admin connection to
// it, and the helpers every Redis runner needs: a unique suite prefix, a store whose data has been
// there "for ever" (no quarantine unless a test asks for data loss), deleting a prefix's keys.
import type { TestFn } from 'ava';
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { silentLogger } from '../../src/common/logger.js';
import { CLUSTER_SLOTS, createRedisRefcountStore, slotMarkerKeyOf, type RedisRefcountStore, type RedisRefcountStoreOptions } from '../../src/refcount/redis-refcount-store.js';
import { startRedisCluster, startRedisServer, startSentinelTopology, stopAllRedis } from '../helpers/redis-server.js';

export type Topology = 'standalone' | 'sentinel' | 'cluster';

export interface RedisFixture {
  readonly topology: Topology;
  /** Key prefix shared by every store of this file (`<suite>:<random>` per store). */
  readonly suite: string;
  /** An admin connection (a Cluster client on a cluster: it routes each key to its master). */
  admin(): Redis | Cluster;
  /** A fresh prefix under the suite, marked as holding its data for ever (no quarantine). */
  newPrefix(): Promise<string>;
  /** A connected store on `prefix`. */
  openStore(prefix: string): Promise<RedisRefcountStore>;
  /** Every key matching `pattern` on every master. */
  keys(pattern: string): Promise<string[]>;
  /** What a restart without persistence does to a prefix's keys (marker and index included). */
  deleteMatching(pattern: string): Promise<void>;
  /** SCRIPT FLUSH on every master. */
  flushScripts(): Promise<void>;
}

export function useRedisServer(test: TestFn, suiteName: string, topology: Topology = 'standalone'): RedisFixture {
  const suite = `${suiteName}-${randomBytes(4).toString('hex')}`;
  let admin: Redis | Cluster | undefined;
  let connect: Pick<RedisRefcountStoreOptions, 'url' | 'sentinels' | 'sentinelName' | 'clusterNodes'> | undefined;
  test.before(async () => {
    if (topology === 'cluster') {
      const cluster = await startRedisCluster();
      connect = { clusterNodes: cluster.seeds };
      admin = new Cluster(cluster.seeds, { scaleReads: 'master' });
      await new Promise<void>((resolve, reject) => {
        (admin as Cluster).once('ready', () => resolve());
        (admin as Cluster).once('error', reject);
      });
    } else if (topology === 'sentinel') {
      const sentinel = await startSentinelTopology(`mbt${randomBytes(3).toString('hex')}`);
      connect = { sentinels: sentinel.sentinels, sentinelName: sentinel.masterName };
      admin = new Redis(sentinel.primary.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await admin.connect();
    } else {
      const server = await startRedisServer();
      connect = { url: server.url };
      admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await admin.connect();
    }
  });
  test.after.always(async () => {
    admin?.disconnect();
    await stopAllRedis();
  });
  const connected = (): Redis | Cluster => {
    if (admin === undefined) throw new Error('the redis fixture is used before its before hook ran');
    return admin;
  };
  const masters = (): Redis[] => {
    const a = connected();
    return a instanceof Cluster ? a.nodes('master') : [a];
  };
  const keys = async (pattern: string): Promise<string[]> => {
    const out: string[] = [];
    for (const server of masters()) {
      let cursor = '0';
      do {
        const [next, found] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        out.push(...found);
      } while (cursor !== '0');
    }
    return out;
  };
  return {
    topology,
    suite,
    admin: connected,
    keys,
    async newPrefix() {
      const prefix = `${suite}:${randomBytes(4).toString('hex')}`;
      if (topology === 'cluster') {
        // One marker per hash slot on a cluster: mark them all as old, one pipeline per master.
        const a = connected() as Cluster;
        const byNode = new Map(a.nodes('master').map((n) => [`${n.options.host ?? ''}:${n.options.port ?? 0}`, n.pipeline()]));
        for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
          const owner = a.slots[slot]?.[0];
          const pipeline = owner === undefined ? undefined : byNode.get(owner);
          if (pipeline === undefined) throw new Error(`no master known for slot ${slot}`);
          pipeline.set(slotMarkerKeyOf(prefix, slot), '0');
        }
        await Promise.all([...byNode.values()].map((p) => p.exec()));
      } else {
        await connected().set(`${prefix}:alive`, '0');
      }
      return prefix;
    },
    async openStore(prefix) {
      // The contract is about answers, not latency: every test of a file runs at once against one
      // server or cluster, each after a SCRIPT FLUSH (so its first calls reload the scripts), and
      // on a loaded CI machine a Cluster acquire took longer than the sidecar's 2 s default.
      const store = createRedisRefcountStore({ ...connect!, prefix, logger: silentLogger(), commandTimeoutMs: 10_000 });
      if (!(await store.waitReady(10_000))) {
        await store.close();
        throw new Error('redis store did not connect');
      }
      return store;
    },
    async deleteMatching(pattern) {
      const a = connected();
      const found = await keys(pattern);
      // One key per command: on a cluster the keys live in many slots.
      for (let i = 0; i < found.length; i += 1000) await Promise.all(found.slice(i, i + 1000).map((key) => a.unlink(key)));
    },
    async flushScripts() {
      await Promise.all(masters().map((m) => m.script('FLUSH')));
    },
  };
}
