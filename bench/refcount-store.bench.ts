// Refcount store throughput and latency, the embedded file store beside the Redis store (on a
// private loopback redis-server started here): acquire+markMounted+release+markUnmounted cycles
// per second, renews per second, and p50/p99 of one acquire, with 1 and 10 callers in flight.
// Figures only, no assertions. Run: node --import tsx bench/refcount-store.bench.ts
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { systemClock } from '../src/common/clock.js';
import { silentLogger } from '../src/common/logger.js';
import { EmbeddedRefcountStore } from '../src/refcount/embedded-refcount-store.js';
import { createRedisRefcountStore } from '../src/refcount/redis-refcount-store.js';
import type { RefcountStore } from '../src/refcount/refcount-store.js';
import { makeTempDir } from '../test/helpers/mount-root.js';
import { startRedisServer, stopAllRedis } from '../test/helpers/redis-server.js';

const DURATION_MS = 2000;
const TTL = 60_000;

interface Figures {
  cyclesPerS: number;
  renewsPerS: number;
  acquireP50Ms: number;
  acquireP99Ms: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(store: RefcountStore, callers: number): Promise<Figures> {
  const latencies: number[] = [];
  let cycles = 0;
  const cycleWorker = async (w: number): Promise<void> => {
    const end = performance.now() + DURATION_MS;
    for (let i = 0; performance.now() < end; i++) {
      // Each caller its own volume: the figure is the store's, not a contention test.
      const ref = { driver: 'bench', name: `c${callers}-w${w}`, node: 'A', token: `t${w}-${i}` };
      const t0 = performance.now();
      const got = await store.acquire({ ...ref, task: 'bench', mode: 'exclusive', preempt: false, ttlMs: TTL });
      latencies.push(performance.now() - t0);
      if (got.kind !== 'mount') throw new Error(`unexpected ${got.kind}`);
      await store.markMounted(ref, '/mnt/bench');
      const released = await store.release(ref);
      if (released.kind === 'unmount') await store.markUnmounted(ref);
      cycles += 1;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: callers }, (_, w) => cycleWorker(w)));
  const cycleSeconds = (performance.now() - t0) / 1000;

  let renews = 0;
  const renewWorker = async (w: number): Promise<void> => {
    const ref = { driver: 'bench', name: `r${callers}-w${w}`, node: 'A', token: `r${w}` };
    await store.acquire({ ...ref, task: 'bench', mode: 'shared', preempt: false, ttlMs: TTL });
    const end = performance.now() + DURATION_MS;
    while (performance.now() < end) {
      await store.renew(ref, TTL);
      renews += 1;
    }
    await store.release(ref);
  };
  const r0 = performance.now();
  await Promise.all(Array.from({ length: callers }, (_, w) => renewWorker(w)));
  const renewSeconds = (performance.now() - r0) / 1000;

  latencies.sort((a, b) => a - b);
  return { cyclesPerS: cycles / cycleSeconds, renewsPerS: renews / renewSeconds, acquireP50Ms: percentile(latencies, 50), acquireP99Ms: percentile(latencies, 99) };
}

async function main(): Promise<void> {
  const dir = await makeTempDir('bench-embedded');
  const server = await startRedisServer();
  const setup = new Redis(server.url);
  await setup.set('bench:alive', '0'); // no quarantine: this Redis "always" had our data
  setup.disconnect();
  const rows: string[] = [];
  try {
    for (const callers of [1, 10]) {
      const embedded = new EmbeddedRefcountStore({ dir: join(dir, `.dvdi-${callers}`), clock: systemClock, logger: silentLogger() });
      const e = await measure(embedded, callers);
      await embedded.close();
      const redis = createRedisRefcountStore({ url: server.url, prefix: 'bench', logger: silentLogger() });
      if (!(await redis.waitReady(5000))) throw new Error('redis store did not connect');
      const r = await measure(redis, callers);
      await redis.close();
      const fmt = (x: number, digits = 0): string => x.toFixed(digits).padStart(10);
      rows.push(
        `${String(callers).padStart(7)} | cycles/s ${fmt(e.cyclesPerS)} ${fmt(r.cyclesPerS)} | renew/s ${fmt(e.renewsPerS)} ${fmt(r.renewsPerS)} | acquire p50 ms ${fmt(e.acquireP50Ms, 3)} ${fmt(r.acquireP50Ms, 3)} | p99 ms ${fmt(e.acquireP99Ms, 3)} ${fmt(r.acquireP99Ms, 3)}`,
      );
    }
  } finally {
    await stopAllRedis();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`refcount store benchmark (${DURATION_MS} ms per figure; each pair: embedded  redis)`);
  console.log(' callers | ' + 'figures');
  for (const row of rows) console.log(row);
}

await main();
