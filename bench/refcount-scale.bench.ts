// Scale figures for docs/scale.md, measured, never asserted. Run:
//   node --import tsx bench/refcount-scale.bench.ts
// Part 1, sweep cost: one node's real `dvdi reconcile` (runNodeCommand(reconcileCommand), in process) with one
// volume of its own, beside 200 and then 20,000 volumes held by 100 other nodes, side by side in
// one run: Redis commands per sweep (INFO commandstats on the server, reset before) and wall time
// per sweep, and the ratio 20,000 ÷ 200 (the acceptance: ≤ 1.5× for both). The on-demand
// cluster-wide list() (`dvdi status`) is shown for contrast: it is the O(cluster) cost the sweep
// used to pay every 30 s.
// Part 2, per-operation cost and claim throughput on one redis-server vs a 3 masters + 3 replicas
// Redis Cluster: mount cycles (acquire → markMounted → release → markUnmounted) and renewals from
// 4 store clients × 50 concurrent holders, 4 s each: operations/s, Redis commands per operation,
// and the server CPU per operation (INFO cpu of every master, before/after) — the last is what the
// capacity model uses, since on a 2-core machine the Node client saturates before the servers.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Redis } from 'ioredis';
import { silentLogger } from '../src/common/logger.js';
import { runNodeCommand } from '../src/cli/node-command.js';
import { reconcileCommand } from '../src/cli/reconcile-command.js';
import { processContext } from '../src/main.js';
import { createRedisRefcountStore, type RedisRefcountStore, type RedisRefcountStoreOptions } from '../src/refcount/redis-refcount-store.js';
import type { AcquireRequest } from '../src/refcount/refcount-store.js';
import { makeSharedRoot, makeTempDir } from '../test/helpers/mount-root.js';
import { startRedisCluster, startRedisServer, stopAllRedis } from '../test/helpers/redis-server.js';

const TTL = 600_000;
const SWEEPS = 5;
const FOREIGN = [200, 20_000] as const;
/** Sweeps measured: the acceptance pair (1 own volume) and a node with 50 volumes of its own. */
const SWEEP_CASES = [
  { foreign: FOREIGN[0], own: 1 },
  { foreign: FOREIGN[1], own: 1 },
  { foreign: FOREIGN[1], own: 50 },
] as const;
const OTHER_NODES = 100;
const CLIENTS = 4;
const HOLDERS_PER_CLIENT = 50;
const DURATION_MS = 4000;

interface ServerStats {
  calls: Map<string, number>;
  cpuS: number;
}

async function stats(server: Redis): Promise<ServerStats> {
  const text = await server.info('all');
  const calls = new Map<string, number>();
  let cpuS = 0;
  for (const line of text.split('\r\n')) {
    const m = /^cmdstat_([a-z|_-]+):calls=(\d+)/.exec(line);
    if (m) calls.set(m[1]!, Number(m[2]));
    const c = /^used_cpu_(sys|user):([\d.]+)/.exec(line);
    if (c) cpuS += Number(c[2]);
  }
  return { calls, cpuS };
}

/** What the scripts call inside (redis.call): counted by Redis in commandstats too, but not
 * round trips. Everything else in the delta was sent by a client. */
const IN_SCRIPT: ReadonlySet<string> = new Set(['get', 'set', 'time', 'zadd', 'zscore', 'zrem', 'pexpire']);

/** Commands (by name) and server CPU seconds spent between two snapshots, over every server;
 * `total` counts what clients sent (round trips), `inner` what scripts called. */
function delta(before: ServerStats[], after: ServerStats[]): { commands: Map<string, number>; total: number; inner: number; cpuS: number } {
  const commands = new Map<string, number>();
  let cpuS = 0;
  after.forEach((a, i) => {
    const b = before[i]!;
    cpuS += a.cpuS - b.cpuS;
    for (const [name, n] of a.calls) {
      // The bench's own INFO / CONFIG / CLUSTER calls are not the workload.
      if (name === 'info' || name === 'config' || name.startsWith('cluster')) continue;
      const d = n - (b.calls.get(name) ?? 0);
      if (d > 0) commands.set(name, (commands.get(name) ?? 0) + d);
    }
  });
  let total = 0;
  let inner = 0;
  for (const [name, n] of commands) {
    if (IN_SCRIPT.has(name)) inner += n;
    else total += n;
  }
  return { commands, total, inner, cpuS };
}

async function parallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function openStore(connect: Pick<RedisRefcountStoreOptions, 'url' | 'clusterNodes'>, prefix: string): Promise<RedisRefcountStore> {
  const store = createRedisRefcountStore({ ...connect, prefix, logger: silentLogger(), commandTimeoutMs: 10_000 });
  if (!(await store.waitReady(10_000))) throw new Error('store did not connect');
  return store;
}

async function mountOn(store: RedisRefcountStore, node: string, name: string): Promise<void> {
  const ref = { driver: 'bench', name, node, token: `${node}-${name}` };
  const answer = await store.acquire({ ...ref, task: 'bench', mode: 'exclusive', preempt: false, ttlMs: TTL });
  if (answer.kind !== 'mount') throw new Error(`populate ${name}: ${JSON.stringify(answer)}`);
  await store.markMounted(ref, `/mnt/${name}`);
}

const fmt = (x: number, w: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '-').padStart(w);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function sweepPart(): Promise<void> {
  const server = await startRedisServer();
  const admin = new Redis(server.url);
  const root = await makeSharedRoot('bench-sweep');
  const pluginDirs = await makeTempDir('bench-plugins');
  const rows: { foreign: number; own: number; commands: number; inner: number; ms: number; cpuUs: number; breakdown: string; listCommands: number; listMs: number }[] = [];
  try {
    for (const { foreign, own } of SWEEP_CASES) {
      const prefix = `sw${foreign}-${randomBytes(3).toString('hex')}`;
      await admin.set(`${prefix}:alive`, '0');
      const store = await openStore({ url: server.url }, prefix);
      const names = Array.from({ length: foreign }, (_, i) => i);
      await parallel(names, 64, (i) => mountOn(store, `other-${i % OTHER_NODES}`, `foreign-${i}`));
      for (let i = 0; i < own; i++) await mountOn(store, 'me', `mine-${i}`);
      const env = {
        DVDI_REDIS_URL: server.url,
        DVDI_REDIS_PREFIX: prefix,
        DVDI_NODE_ID: 'me',
        DVDI_MOUNT_ROOT: root.root,
        DVDI_PLUGIN_DIRS: pluginDirs,
        DVDI_LOG_LEVEL: 'error',
      };
      // One warm-up sweep (module loading, script loading on the server), then the measured ones.
      const quiet = async (): Promise<number> => {
        const write = process.stdout.write.bind(process.stdout);
        process.stdout.write = (() => true);
        try {
          return await runNodeCommand(reconcileCommand, [], { ...processContext(), env });
        } finally {
          process.stdout.write = write;
        }
      };
      if ((await quiet()) !== 0) throw new Error('the warm-up sweep failed');
      const times: number[] = [];
      const before = [await stats(admin)];
      for (let i = 0; i < SWEEPS; i++) {
        const t0 = performance.now();
        const code = await quiet();
        times.push(performance.now() - t0);
        if (code !== 0) throw new Error(`sweep exited ${code}`);
      }
      const d = delta(before, [await stats(admin)]);
      // The cluster-wide view, for contrast (on demand only).
      const beforeList = [await stats(admin)];
      const t0 = performance.now();
      const listed = await store.list();
      const listMs = performance.now() - t0;
      if (listed.length !== foreign + own) throw new Error(`list() saw ${listed.length} volumes, expected ${foreign + own}`);
      const dl = delta(beforeList, [await stats(admin)]);
      rows.push({
        foreign,
        own,
        cpuUs: (d.cpuS * 1e6) / SWEEPS,
        commands: d.total / SWEEPS,
        inner: d.inner / SWEEPS,
        ms: median(times),
        breakdown: [...d.commands].map(([n, c]) => `${n}=${c / SWEEPS}`).join(' '),
        listCommands: dl.total,
        listMs,
      });
      await store.close();
    }
  } finally {
    admin.disconnect();
    await root.cleanup();
    await rm(pluginDirs, { recursive: true, force: true });
  }
  console.log(`\nPart 1 — one node's \`dvdi reconcile\` beside N volumes of ${OTHER_NODES} other nodes; median of ${SWEEPS} sweeps`);
  console.log('(commands = sent by the client; + in scripts = what the scripts ran inside them; ms = the whole command: config, preflight, connect, sweep, close)');
  console.log('foreign N │ own │ commands/sweep │ + in scripts │ ms/sweep │ server µs/sweep │ list() commands │ list() ms │ per sweep, by name');
  for (const r of rows) {
    console.log(`${fmt(r.foreign, 9)} │ ${fmt(r.own, 3)} │ ${fmt(r.commands, 14, 1)} │ ${fmt(r.inner, 12, 1)} │ ${fmt(r.ms, 8, 1)} │ ${fmt(r.cpuUs, 15)} │ ${fmt(r.listCommands, 15)} │ ${fmt(r.listMs, 9, 1)} │ ${r.breakdown}`);
  }
  const [small, large] = rows as [(typeof rows)[number], (typeof rows)[number]];
  // ratio: the acceptance pair (1 own volume each)
  console.log(
    `ratio ${FOREIGN[1]} ÷ ${FOREIGN[0]}: commands ×${(large.commands / small.commands).toFixed(2)} (with script-internal ×${((large.commands + large.inner) / (small.commands + small.inner)).toFixed(2)}), time ×${(large.ms / small.ms).toFixed(2)} (acceptance ≤ 1.5× each); the on-demand list(): commands ×${(large.listCommands / small.listCommands).toFixed(1)}, time ×${(large.listMs / small.listMs).toFixed(1)}`,
  );
}

interface OpFigures {
  opsPerS: number;
  /** Round trips (client commands) per operation. */
  commandsPerOp: number;
  /** Commands the scripts ran inside, per operation. */
  innerPerOp: number;
  serverCpuUsPerOp: number;
  breakdown: string;
}

/** `workers` holders over CLIENTS stores, each repeating `op` for DURATION_MS. */
async function throughput(stores: RedisRefcountStore[], masters: () => Redis[], opsPerCycle: number, cycle: (store: RedisRefcountStore, worker: number, i: number) => Promise<void>): Promise<OpFigures> {
  const servers = masters();
  const before = await Promise.all(servers.map(stats));
  let cycles = 0;
  const started = performance.now();
  const end = started + DURATION_MS;
  await Promise.all(
    stores.flatMap((store, s) =>
      Array.from({ length: HOLDERS_PER_CLIENT }, async (_, w) => {
        for (let i = 0; performance.now() < end; i++) {
          await cycle(store, s * HOLDERS_PER_CLIENT + w, i);
          cycles += 1;
        }
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const d = delta(before, await Promise.all(servers.map(stats)));
  const ops = cycles * opsPerCycle;
  return { opsPerS: ops / seconds, commandsPerOp: d.total / ops, innerPerOp: d.inner / ops, serverCpuUsPerOp: (d.cpuS * 1e6) / ops, breakdown: [...d.commands].map(([n, c]) => `${n}=${(c / ops).toFixed(2)}`).join(' ') };
}

async function throughputPart(): Promise<void> {
  const rows: { topology: string; masters: number; mount: OpFigures; renew: OpFigures }[] = [];
  const single = await startRedisServer();
  const cluster = await startRedisCluster();
  const topologies: { topology: string; connect: Pick<RedisRefcountStoreOptions, 'url' | 'clusterNodes'>; masters: () => Promise<Redis[]>; close: () => void; marker: (prefix: string) => Promise<void> }[] = [];
  {
    const admin = new Redis(single.url);
    topologies.push({ topology: 'one redis-server', connect: { url: single.url }, masters: async () => [admin], close: () => admin.disconnect(), marker: async (p) => void (await admin.set(`${p}:alive`, '0')) });
  }
  {
    const masters = await cluster.masters();
    const admins = masters.map((m) => new Redis(m.url));
    topologies.push({
      topology: 'Redis Cluster 3+3',
      connect: { clusterNodes: cluster.seeds },
      masters: async () => admins,
      close: () => admins.forEach((a) => a.disconnect()),
      // The cluster's per-slot markers are created at first use here: this bench's acquires are
      // quarantined for nothing, since each volume is new and the TTL check needs an old marker.
      marker: async () => undefined,
    });
  }
  try {
    for (const t of topologies) {
      const prefix = `tp-${randomBytes(3).toString('hex')}`;
      await t.marker(prefix);
      const stores = await Promise.all(Array.from({ length: CLIENTS }, () => openStore(t.connect, prefix)));
      const servers = await t.masters();
      const mount = await throughput(stores, () => servers, 4, async (store, w, i) => {
        const ref = { driver: 'bench', name: `m-${w}`, node: `n${w % 20}`, token: `t${w}-${i}` };
        // Shared mode: no quarantine on a new cluster's first use of a slot (exclusive grants wait one TTL there).
        const request: AcquireRequest = { ...ref, task: 'bench', mode: 'shared', preempt: false, ttlMs: TTL };
        const a = await store.acquire(request);
        if (a.kind !== 'mount') throw new Error(`acquire: ${JSON.stringify(a)}`);
        await store.markMounted(ref, '/mnt/b');
        await store.release(ref);
        await store.markUnmounted(ref);
      });
      // The renewal loop: every TTL/3 a sidecar renews each holder and reads the volume for its
      // holder gauges (task-volumes.ts refreshHolderGauges): one iteration = renew + inspect.
      const held = Array.from({ length: CLIENTS * HOLDERS_PER_CLIENT }, (_, w) => ({ driver: 'bench', name: `r-${w}`, node: `n${w % 20}`, token: `r${w}` }));
      await parallel(held, 32, async (ref) => {
        const a = await stores[0]!.acquire({ ...ref, task: 'bench', mode: 'shared', preempt: false, ttlMs: TTL });
        if (a.kind !== 'mount') throw new Error(`acquire: ${JSON.stringify(a)}`);
      });
      const renew = await throughput(stores, () => servers, 1, async (store, w) => {
        const r = await store.renew(held[w]!, TTL);
        if (r.kind !== 'ok') throw new Error(`renew: ${JSON.stringify(r)}`);
        if ((await store.inspect(held[w]!)) === undefined) throw new Error('inspect: no record');
      });
      rows.push({ topology: t.topology, masters: servers.length, mount, renew });
      await Promise.all(stores.map((s) => s.close()));
    }
  } finally {
    topologies.forEach((t) => t.close());
  }
  console.log(`\nPart 2 — ${CLIENTS} store clients × ${HOLDERS_PER_CLIENT} holders, ${DURATION_MS} ms per figure; server CPU = user+sys of every master per operation`);
  console.log('(cmds/op = client commands (round trips) per store operation, + in scripts after the slash; a renewal-loop iteration = renew + holder-gauge inspect of one holder)');
  console.log('topology          │ masters │ mount-cycle ops/s │ cmds/op     │ server µs/op │ renew-loop it/s │ cmds/it     │ server µs/it');
  for (const r of rows) {
    console.log(
      `${r.topology.padEnd(17)} │ ${fmt(r.masters, 7)} │ ${fmt(r.mount.opsPerS, 17)} │ ${fmt(r.mount.commandsPerOp, 4, 2)}/${fmt(r.mount.innerPerOp, 4, 2)}   │ ${fmt(r.mount.serverCpuUsPerOp, 12, 1)} │ ${fmt(r.renew.opsPerS, 15)} │ ${fmt(r.renew.commandsPerOp, 4, 2)}/${fmt(r.renew.innerPerOp, 4, 2)}   │ ${fmt(r.renew.serverCpuUsPerOp, 12, 1)}`,
    );
  }
  for (const r of rows) console.log(`  ${r.topology}: mount cycle commands per op: ${r.mount.breakdown}; renew: ${r.renew.breakdown}`);
  const [one, many] = rows as [(typeof rows)[number], (typeof rows)[number]];
  console.log(`cluster ÷ one server: mount-cycle ops/s ×${(many.mount.opsPerS / one.mount.opsPerS).toFixed(2)}, renew-loop it/s ×${(many.renew.opsPerS / one.renew.opsPerS).toFixed(2)} (the client process and ${availableParallelism()} CPUs shared by all servers bound both)`);
}

console.log(`refcount scale benchmark — node ${process.version}, ${availableParallelism()} CPUs`);
try {
  await sweepPart();
  await throughputPart();
} finally {
  await stopAllRedis();
}
