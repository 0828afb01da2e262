// What one embedded-store transaction costs (lock, read and check the state file, apply, write it
// atomically with two fsyncs, unlock), by the number of volumes in the node's state file: wall
// time and CPU time of one renew, in one process, for this checkout and, with --before, another
// checkout's src/ (a git worktree of an older commit), in alternating rounds in one run. A figure
// per renew, never asserted. Every transaction reads and writes the whole file, so the cost grows
// with the node's volumes; on a node of many sidecars the lock serialises all of them.
// Run: node --import tsx bench/embedded-transaction.bench.ts [--volumes 1,10,100] [--renews 300]
//   [--rounds 3] [--before /path/to/worktree (its src/refcount/embedded-refcount-store.ts)]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/common/clock.js';
import { silentLogger } from '../src/common/logger.js';
import type { RefcountStore } from '../src/refcount/refcount-store.js';

const { values } = parseArgs({
  options: {
    volumes: { type: 'string', default: '1,10,100' },
    renews: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '3' },
    before: { type: 'string' },
  },
});
const VOLUMES = values.volumes.split(',').map(Number);
const RENEWS = Number(values.renews);
const ROUNDS = Number(values.rounds);
for (const n of [...VOLUMES, RENEWS, ROUNDS]) if (!Number.isInteger(n) || n < 1) throw new Error(`--volumes, --renews, --rounds: whole numbers ≥ 1 (got ${n})`);

type StoreModule = { EmbeddedRefcountStore: new (options: { dir: string; clock: typeof systemClock; logger: ReturnType<typeof silentLogger> }) => RefcountStore };
const REPO = fileURLToPath(new URL('..', import.meta.url));
const builds: Array<{ label: string; module: StoreModule }> = [{ label: 'now', module: (await import(pathToFileURL(join(REPO, 'src/refcount/embedded-refcount-store.ts')).href)) as StoreModule }];
if (values.before !== undefined) builds.push({ label: 'before', module: (await import(pathToFileURL(join(values.before, 'src/refcount/embedded-refcount-store.ts')).href)) as StoreModule });

/** ms of wall and CPU time per renew, with `volumes` records (each mounted, one holder) in the file. */
async function measure(module: StoreModule, volumes: number): Promise<{ wall: number; cpu: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-bench-embedded-'));
  const store = new module.EmbeddedRefcountStore({ dir, clock: systemClock, logger: silentLogger() });
  try {
    for (let i = 0; i < volumes; i++) {
      const ref = { driver: 'bench', name: `v${i}`, node: 'bench-node', token: `t${i}` };
      await store.acquire({ ...ref, task: `task-${i}`, mode: 'exclusive', preempt: false, ttlMs: 600_000 });
      await store.markMounted(ref, `/mnt/v${i}`);
    }
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let r = 0; r < RENEWS; r++) {
      const got = await store.renew({ driver: 'bench', name: `v${r % volumes}`, node: 'bench-node', token: `t${r % volumes}` }, 600_000);
      if (got.kind !== 'ok') throw new Error(`renew answered ${JSON.stringify(got)}`);
    }
    const wall = (performance.now() - t0) / RENEWS;
    const cpu = process.cpuUsage(cpu0);
    return { wall, cpu: (cpu.user + cpu.system) / 1000 / RENEWS };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const figures = new Map<string, { wall: number[]; cpu: number[] }>();
for (let round = 0; round < ROUNDS; round++) {
  for (const volumes of VOLUMES) {
    for (const build of builds) {
      const got = await measure(build.module, volumes);
      const key = `${volumes}\t${build.label}`;
      const entry = figures.get(key) ?? { wall: [], cpu: [] };
      entry.wall.push(got.wall);
      entry.cpu.push(got.cpu);
      figures.set(key, entry);
    }
  }
}
process.stdout.write(`one embedded-store renew, node ${process.version}, ${RENEWS} renews a figure, medians of ${ROUNDS} alternating rounds\n`);
process.stdout.write(`${'volumes'.padStart(8)}  ${'build'.padEnd(8)}${'wall ms'.padStart(10)}${'CPU ms'.padStart(10)}\n`);
for (const [key, { wall, cpu }] of figures) {
  const [volumes, label] = key.split('\t');
  process.stdout.write(`${volumes!.padStart(8)}  ${label!.padEnd(8)}${median(wall).toFixed(2).padStart(10)}${median(cpu).toFixed(2).padStart(10)}\n`);
}
