// The Redis under a chaos run, in one of three topologies, behind one interface: the env that
// points a node's sidecars at it, an observer store and raw connection for snapshots, and its one
// fault — the `redis-restart` operation of the plan:
//   standalone  one redis-server with an fsync-always AOF, reached through each node's fault
//               proxy; kill -9 and a restart with its AOF or empty (the AOF deleted first)
//   sentinel    primary + replica + three sentinels (clients find the primary via the sentinels,
//               so no per-node proxy); kill -9 of the current primary, the sentinels promote the
//               replica, the killed server comes back (empty: no persistence) as a replica
//   cluster     3 masters + 3 replicas of redis-server --cluster-enabled yes; kill -9 of a master
//               (picked by the plan's bit), its replica takes over, the killed one rejoins as a
//               replica of it
// A failover can lose the last writes (asynchronous replication): each kill is recorded as a
// possible data loss, as an empty restart is.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { silentLogger } from '../../src/common/logger.js';
import { createRedisRefcountStore, type RedisRefcountStore } from '../../src/refcount/redis-refcount-store.js';
import { redisCli, startRedisCluster, startRedisServer, startSentinelTopology, type ClusterTopology, type RedisServer, type SentinelTopology } from '../helpers/redis-server.js';

export type ChaosTopology = 'standalone' | 'sentinel' | 'cluster';

export interface ChaosRedis {
  readonly topology: ChaosTopology;
  /** Where a node's fault proxy forwards to (standalone only: the others bypass proxies). */
  readonly proxyTarget: number;
  /** Store settings for a node's sidecars; `proxyUrl` is that node's proxy (standalone only). */
  env(proxyUrl: string): Record<string, string>;
  observer(prefix: string): RedisRefcountStore;
  /** Every key matching `pattern` with its PTTL, on every master. */
  keyTtls(pattern: string): Promise<Array<{ key: string; pttl: number }>>;
  /** The plan's Redis fault; resolves when it is injected; `recovered` when the set-up serves again. */
  fault(options: { persistent: boolean; downMs: number }): Promise<{ label: string; lossAt: number[]; recovered: Promise<number[]> }>;
  /** Every server runs again and the set-up serves. */
  heal(): Promise<void>;
  killAll(): Promise<void>;
  close(): void;
}

export async function startChaosRedis(topology: ChaosTopology, base: string): Promise<ChaosRedis> {
  if (topology === 'cluster') return clusterRedis(await startRedisCluster());
  if (topology === 'sentinel') return sentinelRedis(await startSentinelTopology(`chaos${Date.now() % 100000}`));
  return standaloneRedis(base);
}

async function standaloneRedis(base: string): Promise<ChaosRedis> {
  const aofDir = join(base, 'redis');
  await mkdir(aofDir);
  const redis = await startRedisServer({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', aofDir] });
  const raw = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: false, retryStrategy: () => 200 });
  raw.on('error', () => undefined);
  return {
    topology: 'standalone',
    proxyTarget: redis.port,
    env: (proxyUrl) => ({ DVDI_REDIS_URL: proxyUrl }),
    observer: (prefix) => createRedisRefcountStore({ url: redis.url, prefix, logger: silentLogger(), commandTimeoutMs: 1000 }),
    keyTtls: (pattern) => scanTtls([raw], pattern),
    async fault({ persistent, downMs }) {
      await redis.kill9();
      if (!persistent) {
        await rm(aofDir, { recursive: true, force: true });
        await mkdir(aofDir);
      }
      const recovered = (async () => {
        await sleep(downMs);
        await redis.restart();
        return persistent ? [] : [Date.now()];
      })();
      return { label: persistent ? 'redis kill -9 + restart (AOF)' : 'redis kill -9 + restart empty', lossAt: [], recovered };
    },
    async heal() {
      if (!redis.running()) await redis.restart();
    },
    killAll: () => redis.kill9(),
    close: () => raw.disconnect(),
  };
}

function sentinelRedis(topology: SentinelTopology): ChaosRedis {
  const servers = [topology.primary, topology.replica];
  const byPort = new Map(servers.map((s) => [s.port, s]));
  const raw = new Redis({ sentinels: topology.sentinels, name: topology.masterName, enableOfflineQueue: false, maxRetriesPerRequest: 0, sentinelRetryStrategy: () => 200 });
  raw.on('error', () => undefined);
  const currentPrimary = async (): Promise<RedisServer | undefined> => {
    for (const s of topology.sentinels) {
      const out = await redisCli(s.port, ['SENTINEL', 'get-master-addr-by-name', topology.masterName]).catch(() => '');
      const port = Number(out.trim().split('\n')[1]);
      if (byPort.has(port)) return byPort.get(port);
    }
    return undefined;
  };
  const settled = async (): Promise<void> => {
    // Both servers up, one primary named by the sentinels that says it is a master, and the
    // other its connected replica. Within 60 s: a Sentinel whose timer ran more than 2 s late (a
    // starved, loaded machine; the test's processes run niced) enters TILT mode and acts on
    // nothing for 30 s.
    const deadline = Date.now() + 60_000;
    let seen = '';
    const role = async (server: RedisServer | undefined): Promise<string> => (server === undefined ? '' : redisCli(server.port, ['ROLE']).catch(() => ''));
    while (Date.now() < deadline) {
      const primary = await currentPrimary();
      const replica = servers.find((s) => s !== primary);
      const [primaryRole, replicaRole] = await Promise.all([role(primary), role(replica)]);
      if (primary?.running() && replica?.running() && primaryRole.startsWith('master') && replicaRole.startsWith('slave') && replicaRole.includes(String(primary.port)) && replicaRole.includes('connected')) return;
      const show = (text: string): string => JSON.stringify(text.split('\n').slice(0, 4));
      seen = `primary ${primary?.port ?? 'unknown'} (running: ${String(primary?.running())}) ROLE ${show(primaryRole)}, replica ${replica?.port ?? 'unknown'} ROLE ${show(replicaRole)}`;
      await sleep(200);
    }
    throw new Error(`the sentinel set-up did not settle within 60 s (last seen: ${seen})`);
  };
  return {
    topology: 'sentinel',
    proxyTarget: topology.primary.port,
    env: () => ({ DVDI_REDIS_SENTINELS: topology.sentinels.map((s) => `${s.host}:${s.port}`).join(','), DVDI_REDIS_SENTINEL_NAME: topology.masterName }),
    observer: (prefix) => createRedisRefcountStore({ sentinels: topology.sentinels, sentinelName: topology.masterName, prefix, logger: silentLogger(), commandTimeoutMs: 1000 }),
    keyTtls: (pattern) => scanTtls([raw], pattern),
    async fault({ downMs }) {
      const primary = (await currentPrimary()) ?? topology.primary;
      await primary.kill9();
      const at = Date.now();
      const recovered = (async () => {
        await sleep(downMs);
        // Back empty (no persistence); the sentinels make it a replica of the promoted one.
        await primary.restart();
        await settled();
        return [Date.now()];
      })();
      return { label: 'sentinel: kill -9 of the primary (failover), restart it empty', lossAt: [at], recovered };
    },
    async heal() {
      for (const s of servers) if (!s.running()) await s.restart();
      await settled();
    },
    killAll: () => topology.stopAll(),
    close: () => raw.disconnect(),
  };
}

function clusterRedis(cluster: ClusterTopology): ChaosRedis {
  const raw = new Cluster(cluster.seeds, { scaleReads: 'master', enableOfflineQueue: false, clusterRetryStrategy: () => 200 });
  raw.on('error', () => undefined);
  let turn = 0;
  return {
    topology: 'cluster',
    proxyTarget: cluster.servers[0]!.port,
    env: () => ({ DVDI_REDIS_CLUSTER_NODES: cluster.seedList }),
    observer: (prefix) => createRedisRefcountStore({ clusterNodes: cluster.seeds, prefix, logger: silentLogger(), commandTimeoutMs: 1000 }),
    keyTtls: (pattern) => scanTtls(raw.nodes('master'), pattern),
    async fault({ downMs }) {
      const masters = await cluster.masters();
      const victim = masters[turn++ % masters.length]!;
      await victim.kill9();
      const at = Date.now();
      const recovered = (async () => {
        // Its replica takes over after the node timeout; then it comes back (empty) as a replica.
        await sleep(Math.max(downMs, 4000));
        await cluster.waitOk(30_000);
        await victim.restart();
        await cluster.waitOk(30_000);
        return [Date.now()];
      })();
      return { label: `cluster: kill -9 of master :${victim.port} (its replica takes over), rejoin`, lossAt: [at], recovered };
    },
    async heal() {
      for (const s of cluster.servers) if (!s.running()) await s.restart();
      await cluster.waitOk(30_000);
    },
    killAll: () => cluster.stopAll(),
    close: () => raw.disconnect(),
  };
}

async function scanTtls(servers: readonly Redis[], pattern: string): Promise<Array<{ key: string; pttl: number }>> {
  const out: Array<{ key: string; pttl: number }> = [];
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 100);
      cursor = next;
      for (const key of keys) out.push({ key, pttl: await server.pttl(key) });
    } while (cursor !== '0');
  }
  return out;
}
