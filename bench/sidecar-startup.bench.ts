// Time from `dvdi sidecar` process start to /readyz 200 (one volume, the reference plugin's dir
// backend, embedded store), and its RSS at ready, beside a `node -e 0` baseline measured in the
// same run, alternating A B A B so machine drift hits both alike. Figures only.
// Run (root): npm run build && node --import tsx bench/sidecar-startup.bench.ts [--runs 15]
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const DVDI = join(REPO, 'dist/cli/dvdi.js');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const RUNS = Number(values.runs);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
function summary(samples: number[]): { p50: number; p95: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

async function nodeBaseline(): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve) => spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }).on('exit', () => resolve()));
  return performance.now() - started;
}

async function sidecarToReady(env: Record<string, string>, port: number): Promise<{ ms: number; rssKiB: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [DVDI, 'sidecar'], { env: { ...process.env, ...env, DVDI_HTTP_ADDR: `127.0.0.1:${port}` }, stdio: ['ignore', 'ignore', 'ignore'] });
  const url = `http://127.0.0.1:${port}/readyz`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sidecar exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  const ms = performance.now() - started;
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  child.kill('SIGTERM');
  await new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { ms, rssKiB };
}

async function main(): Promise<void> {
  if (!existsSync(DVDI)) throw new Error('run `npm run build` first: the benchmark times the built dist/, as deployed');
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-bench-'));
  const root = join(dir, 'root');
  const plugins = join(dir, 'plugins');
  await mkdir(root);
  await mkdir(plugins);
  execFileSync('mount', ['--bind', root, root]);
  execFileSync('mount', ['--make-rshared', root]);
  const plugin = spawn(process.execPath, [DVDI, 'plugin', '--name', 'benchdir', '--backend', 'dir', '--root', join(dir, 'plugin'), '--socket', join(plugins, 'benchdir.sock')], { stdio: 'ignore' });
  try {
    while (!existsSync(join(plugins, 'benchdir.sock'))) await new Promise((r) => setTimeout(r, 20));
    const env = { DVDI_MOUNT_ROOT: root, DVDI_PLUGIN_DIRS: plugins, DVDI_VOLUME_NAME: 'benchvol', DVDI_VOLUME_DRIVER: 'benchdir', DVDI_NODE_ID: 'bench', DVDI_LOG_LEVEL: 'warn' };
    await sidecarToReady(env, 19651); // warm-up: creates the volume, warms the page cache
    await nodeBaseline();
    const base: number[] = [];
    const ready: number[] = [];
    const rss: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      base.push(await nodeBaseline());
      const r = await sidecarToReady({ ...env, DVDI_TASK_ID: `bench-${i}` }, 19651);
      ready.push(r.ms);
      rss.push(r.rssKiB / 1024);
    }
    const b = summary(base);
    const s = summary(ready);
    const m = summary(rss);
    const ratios = summary(ready.map((v, i) => v / (base[i] ?? NaN)));
    const f = (n: number) => n.toFixed(1).padStart(8);
    process.stdout.write(`sidecar start → ready (dir plugin, embedded store, 1 volume), ${RUNS} runs each, alternating\n`);
    process.stdout.write(`${'figure'.padEnd(34)}${'p50'.padStart(8)}${'p95'.padStart(8)}${'min'.padStart(8)}${'max'.padStart(8)}\n`);
    process.stdout.write(`${'node -e 0, start to exit (ms)'.padEnd(34)}${f(b.p50)}${f(b.p95)}${f(b.min)}${f(b.max)}\n`);
    process.stdout.write(`${'dvdi sidecar, start to ready (ms)'.padEnd(34)}${f(s.p50)}${f(s.p95)}${f(s.min)}${f(s.max)}\n`);
    process.stdout.write(`${'ratio sidecar/baseline, per pair'.padEnd(34)}${f(ratios.p50)}${f(ratios.p95)}${f(ratios.min)}${f(ratios.max)}\n`);
    process.stdout.write(`${'dvdi sidecar RSS at ready (MiB)'.padEnd(34)}${f(m.p50)}${f(m.p95)}${f(m.min)}${f(m.max)}\n`);
  } finally {
    plugin.kill('SIGTERM');
    await new Promise<void>((resolve) => (plugin.exitCode !== null ? resolve() : plugin.on('exit', () => resolve())));
    for (const mp of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((mp) => mp.startsWith(dir)).sort((a, b) => b.length - a.length)) {
      try {
        execFileSync('umount', ['-l', mp]);
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
