// Refcount store throughput and latency at 1, 10 and 100 concurrent holders: the Redis store on
// a private loopback redis-server started here, beside `redis-benchmark` running a trivial
// EVALSHA (GET + SET + PEXPIRE on one key) against the same server in the same run, and the
// embedded file store for comparison. Figures only, no assertions; bench/README.md says what
// each column means. Run: node --import tsx bench/refcount-store.bench.ts
//
// Two workloads, both through one store client (one Redis connection, as one sidecar has):
//   mount cycle  acquire → markMounted → release → markUnmounted (4 store operations), each
//                holder on its own exclusive volume: what a task's first mount and last
//                unmount on a node cost.
//   join/leave   acquire (answer `join`) + release (answer `released`), 2 operations, every
//                holder on one shared volume kept mounted by a base holder: what a further task
//                using an already mounted volume costs, all holders contending for one record.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { systemClock } from '../src/common/clock.js';
import { run } from '../src/common/exec.js';
import { silentLogger } from '../src/common/logger.js';
import { EmbeddedRefcountStore } from '../src/refcount/embedded-refcount-store.js';
import { createRedisRefcountStore } from '../src/refcount/redis-refcount-store.js';
import type { AcquireRequest, RefcountStore } from '../src/refcount/refcount-store.js';
import { makeTempDir } from '../test/helpers/mount-root.js';
import { startRedisServer, stopAllRedis } from '../test/helpers/redis-server.js';

const HOLDERS = [1, 10, 100] as const;
/** Wall time per figure; workers finish the cycle they are in, so a figure may run a little longer. */
const DURATION_MS = 3000;
const TTL = 60_000;
/** The trivial script redis-benchmark runs: one read, one write, one expiry on one key. */
const TRIVIAL_LUA = "local v = redis.call('GET', KEYS[1]); redis.call('SET', KEYS[1], (tonumber(v) or 0) + 1); redis.call('PEXPIRE', KEYS[1], 60000); return 1";

interface Figures {
  /** Mount cycles or join/leave pairs per second. */
  perS: number;
  /** Store operations per second (4 per mount cycle, 2 per join/leave pair). */
  opsPerS: number;
  /** Latency of one store operation, ms. */
  opP50: number;
  opP99: number;
  /** Latency of one whole cycle / pair, ms. */
  cycleP50: number;
  cycleP99: number;
}

interface RedisBenchmarkFigures {
  rps: number;
  p50: number;
  p99: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function expectKind(what: string, got: { kind: string }, ...kinds: string[]): void {
  if (!kinds.includes(got.kind)) throw new Error(`${what}: unexpected answer ${JSON.stringify(got)}`);
}

/** Run `holders` workers for DURATION_MS, each repeating `cycle` (which times its own operations). */
async function measure(holders: number, opsPerCycle: number, cycle: (worker: number, i: number, timed: <T>(p: () => Promise<T>) => Promise<T>) => Promise<void>): Promise<Figures> {
  const opLatencies: number[] = [];
  const cycleLatencies: number[] = [];
  const timed = async <T>(op: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const result = await op();
    opLatencies.push(performance.now() - t0);
    return result;
  };
  const started = performance.now();
  const end = started + DURATION_MS;
  await Promise.all(
    Array.from({ length: holders }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const t0 = performance.now();
        await cycle(w, i, timed);
        cycleLatencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  opLatencies.sort((a, b) => a - b);
  cycleLatencies.sort((a, b) => a - b);
  return {
    perS: cycleLatencies.length / seconds,
    opsPerS: (cycleLatencies.length * opsPerCycle) / seconds,
    opP50: percentile(opLatencies, 50),
    opP99: percentile(opLatencies, 99),
    cycleP50: percentile(cycleLatencies, 50),
    cycleP99: percentile(cycleLatencies, 99),
  };
}

/** acquire → markMounted → release → markUnmounted, each holder on its own exclusive volume. */
function mountCycles(store: RefcountStore, holders: number, tag: string): Promise<Figures> {
  return measure(holders, 4, async (w, i, timed) => {
    const ref = { driver: 'bench', name: `${tag}-mount-h${holders}-w${w}`, node: 'A', token: `t${w}-${i}` };
    const request: AcquireRequest = { ...ref, task: 'bench', mode: 'exclusive', preempt: false, ttlMs: TTL };
    expectKind('acquire', await timed(() => store.acquire(request)), 'mount');
    expectKind('markMounted', await timed(() => store.markMounted(ref, '/mnt/bench')), 'ok');
    expectKind('release', await timed(() => store.release(ref)), 'unmount');
    expectKind('markUnmounted', await timed(() => store.markUnmounted(ref)), 'ok');
  });
}

/** acquire (join) + release (released) on one shared volume that a base holder keeps mounted. */
async function joinLeave(store: RefcountStore, holders: number, tag: string): Promise<Figures> {
  const vol = { driver: 'bench', name: `${tag}-join-h${holders}` };
  const base = { ...vol, node: 'A', token: 'base' };
  expectKind('base acquire', await store.acquire({ ...base, task: 'base', mode: 'shared', preempt: false, ttlMs: TTL }), 'mount');
  expectKind('base markMounted', await store.markMounted(base, '/mnt/bench'), 'ok');
  const figures = await measure(holders, 2, async (w, i, timed) => {
    const ref = { ...vol, node: 'A', token: `j${w}-${i}` };
    expectKind('acquire', await timed(() => store.acquire({ ...ref, task: 'bench', mode: 'shared', preempt: false, ttlMs: TTL })), 'join');
    expectKind('release', await timed(() => store.release(ref)), 'released');
  });
  expectKind('base release', await store.release(base), 'unmount');
  expectKind('base markUnmounted', await store.markUnmounted(base), 'ok');
  return figures;
}

async function redisBenchmark(port: number, sha: string, clients: number): Promise<RedisBenchmarkFigures> {
  // Enough requests for about as long as our own figures run at this concurrency.
  const requests = clients === 1 ? 40_000 : 120_000;
  const args = ['-h', '127.0.0.1', '-p', String(port), '-q', '--csv', '-n', String(requests), '-c', String(clients), 'evalsha', sha, '1', 'bench:rb:key'];
  const { stdout } = await run('redis-benchmark', args, { timeoutMs: 120_000 });
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const row = stdout
    .trim()
    .split('\n')
    .find((line) => line.startsWith('"evalsha'));
  const cells = row?.split(',').map((c) => Number(c.replaceAll('"', '')));
  if (cells === undefined || cells.length < 8) throw new Error(`redis-benchmark printed no CSV row: ${stdout}`);
  return { rps: cells[1]!, p50: cells[4]!, p99: cells[6]! };
}

const num = (x: number, width: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : '-').padStart(width);

async function main(): Promise<void> {
  const tag = randomBytes(3).toString('hex');
  const dir = await makeTempDir('bench-embedded');
  const server = await startRedisServer();
  const admin = new Redis(server.url);
  const redisRows: string[] = [];
  const embeddedRows: string[] = [];
  try {
    await admin.set('bench:alive', '0'); // this Redis "always" had our data: no quarantine
    const sha = String(await admin.script('LOAD', TRIVIAL_LUA));
    const version = String(await admin.info('server')).match(/redis_version:(\S+)/)?.[1] ?? '?';
    console.log(`refcount store benchmark — node ${process.version}, ${availableParallelism()} CPUs, redis-server ${version} on 127.0.0.1:${server.port}, ${DURATION_MS} ms per figure`);
    console.log('');

    for (const holders of HOLDERS) {
      const store = createRedisRefcountStore({ url: server.url, prefix: 'bench', logger: silentLogger() });
      if (!(await store.waitReady(5000))) throw new Error('redis store did not connect');
      const m = await mountCycles(store, holders, tag);
      const j = await joinLeave(store, holders, tag);
      await store.close();
      const rb = await redisBenchmark(server.port, sha, holders);
      redisRows.push(
        [
          num(holders, 7),
          num(m.perS, 9),
          num(m.opsPerS, 8),
          `${num(m.opP50, 6, 2)} ${num(m.opP99, 6, 2)}`,
          `${num(m.cycleP50, 8, 2)} ${num(m.cycleP99, 7, 2)}`,
          num(j.perS, 9),
          num(j.opsPerS, 8),
          `${num(j.opP50, 6, 2)} ${num(j.opP99, 6, 2)}`,
          num(rb.rps, 9),
          `${num(rb.p50, 6, 3)} ${num(rb.p99, 6, 3)}`,
          num(m.opsPerS / rb.rps, 6, 3),
          num(j.opsPerS / rb.rps, 6, 3),
        ].join(' │ '),
      );

      const embedded = new EmbeddedRefcountStore({ dir: join(dir, `.dvdi-${holders}`), clock: systemClock, logger: silentLogger() });
      const em = await mountCycles(embedded, holders, tag);
      const ej = await joinLeave(embedded, holders, tag);
      await embedded.close();
      embeddedRows.push(
        [
          num(holders, 7),
          num(em.perS, 9),
          num(em.opsPerS, 8),
          `${num(em.opP50, 6, 2)} ${num(em.opP99, 6, 2)}`,
          `${num(em.cycleP50, 8, 2)} ${num(em.cycleP99, 7, 2)}`,
          num(ej.perS, 9),
          num(ej.opsPerS, 8),
          `${num(ej.opP50, 6, 2)} ${num(ej.opP99, 6, 2)}`,
        ].join(' │ '),
      );
    }
  } finally {
    admin.disconnect();
    await stopAllRedis();
    await rm(dir, { recursive: true, force: true });
  }

  const head = (cells: [string, number][]): string => cells.map(([text, width]) => text.padStart(width)).join(' │ ');
  const common: [string, number][] = [
    ['holders', 7],
    ['cycles/s', 9],
    ['ops/s', 8],
    ['op p50/p99 ms', 13],
    ['cycle p50/p99 ms', 16],
    ['pairs/s', 9],
    ['ops/s', 8],
    ['op p50/p99 ms', 13],
  ];
  console.log('Redis store, one connection (mount cycle = 4 ops, join/leave pair = 2 ops) beside redis-benchmark -c <holders>');
  console.log('running EVALSHA of GET+SET+PEXPIRE on one key; ratio = our store ops/s ÷ redis-benchmark EVALSHA/s');
  console.log(head([...common, ['EVALSHA/s', 9], ['p50/p99 ms', 13], ['mount', 6], ['join', 6]]));
  for (const row of redisRows) console.log(row);
  console.log('');
  console.log("Embedded file store (lock + read + fsync'd write per op), same workloads");
  console.log(head(common));
  for (const row of embeddedRows) console.log(row);
}

await main();
