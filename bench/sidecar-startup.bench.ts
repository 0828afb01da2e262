// Start-up and memory of `dvdi sidecar` beside a bare Node process that opens an HTTP port, in
// one run, alternating A B A B so machine drift hits both alike. Figures only, never asserted.
//   start → ready: process start to the moment it says it is ready (sidecar: one volume, the
//     reference plugin's dir backend): with --ready-by file (the default) when its ready file
//     appears (DVDI_READY_FILE; the bare node writes one once it listens), seen through inotify,
//     so waiting costs the measured process nothing; then /readyz (or the bare node's /) is asked
//     once and must answer 200. --ready-by http polls /readyz (/) every 2 ms instead, as earlier
//     versions of this bench did: each 503 is work for the sidecar (~37 ms more CPU to ready on
//     Node 22), while a kubelet or Marathon asks once a second;
//   CPU to ready: the process's own time on a CPU up to that moment (/proc/PID/schedstat; its
//     children, mount(8) say, not counted) — steadier than wall time on a busy machine;
//   RSS at ready: VmRSS of that process at that moment; VmRSS again 1 s later, once what ready
//     deferred (the reconciler's schedule) has run, and then its anonymous part (RssAnon: the
//     process's own memory; the rest is mostly the node binary's pages, shared by every process);
//   idle: one sidecar per store left running with leases renewing and the reconciler on its
//     schedule for --idle-seconds (default 600), then its RSS and the CPU time it used while idle,
//     beside a bare node idle for the same period, sampled every --sample-seconds (default 600)
//     to show whether RSS and CPU stay flat;
//   the attach floor: the least any Node program must do to attach the volume as the sidecar
//     does, on the same machine in the same alternation — the bare node's HTTP listener, then
//     Plugin.Activate, VolumeDriver.Create and VolumeDriver.Mount over the plugin's socket, the
//     six mount(8) runs of the staged bind (bind a staging directory onto itself, make it
//     private, bind the driver's mountpoint onto it, remount nosuid,nodev, move it into place,
//     unmount the staging bind) and the ready file; no configuration, store, lease, metrics or
//     check of any reply or mount. Its ratio to the bare node is a lower bound for the sidecar's;
//   image size: `docker image inspect` of --image (optional; uses DOCKER_HOST like docker does).
// With --memory-limit MiB, every measured process (bare node and sidecar alike) runs in a memory
// cgroup of its own with that limit, as in a container with that memory limit: node sizes its
// young generation from it (under ~1 GiB: 2 MiB, as --max-semi-space-size=1 would), and the
// kernel enforces it. It enters through `sh -c 'echo $$ > cgroup.procs; exec node ...'` (the same
// PID; ~1 ms more to start, for both alike).
// Run (root): npm run build && node --import tsx bench/sidecar-startup.bench.ts
//   [--runs 10] [--stores embedded,redis] [--idle-seconds 600] [--sample-seconds 600]
//   [--memory-limit MiB (0: none, the default)] [--ready-by file|http] [--compile-cache DIR (NODE_COMPILE_CACHE for the sidecar, as in the
//   image; node >= 22.1 fills it during the warm-up run)]
//   [--node-args=--enable-source-maps] [--help]
//   (--node-args: node flags for the sidecar only, as the image's entrypoint gives them; the bare
//   node always runs with none)
//   [--node /path/to/node (another node binary for all three processes, e.g. the image's Node 22)]
//   [--image dvdi-test/sidecar] [--dvdi path/to/dist/cli/dvdi.js (another build, to measure)]
//   [--before path/to/dist/cli/dvdi.js (a baseline build, measured in the same alternation)]
//   [--before-node-args="..." (the baseline's node flags, when its image gave others; default
//   --node-args)]
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, watch } from 'node:fs';
import { mkdir, rmdir } from 'node:fs/promises';
import { request } from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeSharedRoot } from '../test/helpers/mount-root.js';
import { createMemoryCgroup, type MemoryCgroup } from '../test/helpers/memory-cgroup.js';
import { freePort, startRedisServer, stopAllRedis } from '../test/helpers/redis-server.js';
import { cpuSeconds } from './proc-stat.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    dvdi: { type: 'string', default: join(REPO, 'dist/cli/dvdi.js') },
    runs: { type: 'string', default: '10' },
    stores: { type: 'string', default: 'embedded,redis' },
    'idle-seconds': { type: 'string', default: '600' },
    'sample-seconds': { type: 'string', default: '600' },
    help: { type: 'boolean', short: 'h', default: false },
    'node-args': { type: 'string', default: '' },
    node: { type: 'string', default: process.execPath },
    image: { type: 'string' },
    before: { type: 'string' },
    'before-node-args': { type: 'string' },
    'ready-by': { type: 'string', default: 'file' },
    'compile-cache': { type: 'string' },
    'memory-limit': { type: 'string', default: '0' },
  },
});
if (values.help) {
  // The header comment above is the manual.
  const text = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  process.stdout.write(`${text.slice(0, text.indexOf('\nimport ')).replace(/^\/\/ ?/gm, '')}\n`);
  process.exit(0);
}
const DVDI = values.dvdi;
const RUNS = Number(values.runs);
const IDLE_S = Number(values['idle-seconds']);
const SAMPLE_S = Math.max(1, Number(values['sample-seconds']));
const STORES = values.stores.split(',').filter((s) => s !== '');
/** Another build's dvdi.js (the previous commit's, say), measured in the same alternation as "STORE, before". */
const BEFORE = values.before;
const NODE_ARGS = values['node-args'].split(' ').filter((s) => s !== '');
const BEFORE_NODE_ARGS = values['before-node-args']?.split(' ').filter((s) => s !== '') ?? NODE_ARGS;
const VARIANTS = STORES.flatMap((store) => [{ key: store, store, dvdi: DVDI, nodeArgs: NODE_ARGS }, ...(BEFORE === undefined ? [] : [{ key: `${store}, before`, store, dvdi: BEFORE, nodeArgs: BEFORE_NODE_ARGS }])]);
/** The node binary for every process measured (the image's Node 22, say): bare node, sidecar and plugin alike. */
const NODE = values.node;
if (values['ready-by'] !== 'file' && values['ready-by'] !== 'http') throw new Error(`--ready-by: 'file' or 'http', not '${values['ready-by']}'`);
const READY_BY = values['ready-by'];
const COMPILE_CACHE = values['compile-cache'];
const MEMORY_LIMIT_MIB = Number(values['memory-limit']);
if (!Number.isInteger(MEMORY_LIMIT_MIB) || MEMORY_LIMIT_MIB < 0) throw new Error(`--memory-limit: MiB, a whole number (0: none), not '${values['memory-limit']}'`);
/** The memory cgroup each measured process runs in (--memory-limit), removed once it has stopped. */
const cgroups = new Map<ChildProcess, MemoryCgroup>();
/** RSS is read again this long after ready, when the work ready left for later has run. */
const SETTLE_MS = 1_000;

// The yardstick: the least a Node service that answers HTTP can be.
// With READY_FILE it writes that file once it listens, as the sidecar writes DVDI_READY_FILE.
const BARE_NODE = `require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1', () => process.env.READY_FILE && require('node:fs').writeFileSync(process.env.READY_FILE, ''))`;
// The attach floor (see the header): plain CommonJS, no dependency, nothing checked.
const ATTACH_FLOOR = `
const http = require('node:http'); const { execFile } = require('node:child_process'); const fs = require('node:fs');
const { SOCK, VOL, ROOT, ID, READY_FILE, PORT } = process.env;
const call = (path, body) => new Promise((resolve, reject) => {
  const q = http.request({ socketPath: SOCK, path, method: 'POST' }, (r) => { let d = ''; r.on('data', (c) => (d += c)); r.on('end', () => resolve(JSON.parse(d))); });
  q.on('error', reject); q.end(JSON.stringify(body));
});
const run = (cmd, args) => new Promise((resolve, reject) => execFile(cmd, args, (e) => (e ? reject(e) : resolve())));
http.createServer((q, s) => s.end('ok')).listen(Number(PORT), '127.0.0.1', async () => {
  await call('/Plugin.Activate', {});
  await call('/VolumeDriver.Create', { Name: VOL, Opts: {} });
  const { Mountpoint } = await call('/VolumeDriver.Mount', { Name: VOL, ID });
  const stage = ROOT + '/.floor-stage', target = ROOT + '/' + VOL;
  fs.mkdirSync(stage, { recursive: true }); fs.mkdirSync(target, { recursive: true });
  await run('mount', ['--bind', stage, stage]);
  await run('mount', ['--make-private', stage]);
  await run('mount', ['--bind', Mountpoint, stage]);
  await run('mount', ['-o', 'remount,bind,nosuid,nodev', stage]);
  await run('mount', ['--move', stage, target]);
  await run('umount', [stage]);
  fs.writeFileSync(READY_FILE, '');
});`;

/** VolumeDriver.Unmount of `id` over the plugin's socket (the floor's Mount, undone after it stopped). */
function pluginUnmount(socketPath: string, name: string, id: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const q = request({ socketPath, path: '/VolumeDriver.Unmount', method: 'POST' }, (r) => {
      r.resume();
      r.on('end', () => resolve());
    });
    q.on('error', reject);
    q.end(JSON.stringify({ Name: name, ID: id }));
  });
}

// The same with one node-cron schedule (the reconciler's default): what the chosen scheduler alone
// costs — its date arithmetic goes through Intl.DateTimeFormat, which loads ICU data.
const BARE_NODE_CRON = `require('node-cron').schedule('*/30 * * * * *', () => {}); ${BARE_NODE}`;

function median(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}
function spread(samples: number[]): { p50: number; min: number; max: number } {
  return { p50: median(samples), min: Math.min(...samples), max: Math.max(...samples) };
}

function procStatus(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
}
/** Milliseconds a running process has spent on a CPU (the first field of /proc/PID/schedstat, ns). */
function cpuMs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

interface Started {
  child: ChildProcess;
  ms: number;
  /** CPU time of the process itself up to ready. */
  cpuMs: number;
  rssMiB: number;
  /** RSS SETTLE_MS after ready. */
  settledMiB: number;
  /** RssAnon SETTLE_MS after ready. */
  settledAnonMiB: number;
  /** What its memory cgroup (--memory-limit) is charged with SETTLE_MS after ready; NaN without one. */
  chargedMiB: number;
}

/** Where ready files appear (--ready-by file); set in main(). */
let readyDir = '';
let readySeq = 0;

/** Resolves when `name` exists in `dir`, seen through inotify (fs.watch), or rejects when `child` (`what`) exits first. */
function fileAppears(dir: string, name: string, child: ChildProcess, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const watcher = watch(dir, (_event, file) => {
      if (file === name && existsSync(join(dir, name))) finish(resolve);
    });
    const exited = () => finish(() => reject(new Error(`${what} exited with ${child.exitCode ?? child.signalCode} before ${name} appeared`)));
    child.on('exit', exited);
    function finish(then: () => void): void {
      watcher.close();
      child.off('exit', exited);
      then();
    }
    if (existsSync(join(dir, name))) finish(resolve);
  });
}

async function startUntilReady(args: string[], env: Record<string, string>, url: string, readyFileVar: string): Promise<Started> {
  const name = `ready-${process.pid}-${readySeq++}`;
  const fileEnv = READY_BY === 'file' ? { [readyFileVar]: join(readyDir, name) } : {};
  const cgroup = MEMORY_LIMIT_MIB > 0 ? await createMemoryCgroup('bench', MEMORY_LIMIT_MIB * 1024 * 1024) : undefined;
  const [command, argv] = cgroup?.wrap(NODE, args) ?? [NODE, args];
  const started = performance.now();
  const child = spawn(command, argv, { env: { ...process.env, ...env, ...fileEnv }, stdio: ['ignore', 'ignore', 'ignore'] });
  if (cgroup !== undefined) cgroups.set(child, cgroup);
  // Armed right after the spawn; a file written before the watch began is seen by fileAppears' own check.
  const appears = READY_BY === 'file' ? fileAppears(readyDir, name, child, args.join(' ')) : undefined;
  if (appears !== undefined) await appears;
  else {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode ?? child.signalCode}`);
      try {
        if ((await fetch(url)).status === 200) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  const ms = performance.now() - started;
  const cpu = cpuMs(child.pid ?? 0);
  const rssMiB = procStatus(child.pid ?? 0, 'VmRSS');
  // The file said ready: the endpoint must say so too (read after the figures, so not counted).
  if (appears !== undefined) {
    const status = (await fetch(url)).status;
    if (status !== 200) throw new Error(`${args.join(' ')}: ready file written but ${url} answered ${status}`);
  }
  // What ready deferred (the reconciler's first cron date, say) has run a second later.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  return { child, ms, cpuMs: cpu, rssMiB, settledMiB: procStatus(child.pid ?? 0, 'VmRSS'), settledAnonMiB: procStatus(child.pid ?? 0, 'RssAnon'), chargedMiB: cgroup === undefined ? NaN : cgroup.usageBytes() / 1024 / 1024 };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }
  await cgroups.get(child)?.remove();
  cgroups.delete(child);
}

async function bareNode(port: number): Promise<Started> {
  return startUntilReady(['-e', BARE_NODE], { PORT: String(port) }, `http://127.0.0.1:${port}/`, 'READY_FILE');
}
async function bareNodeCron(port: number): Promise<Started> {
  return startUntilReady(['-e', BARE_NODE_CRON], { PORT: String(port) }, `http://127.0.0.1:${port}/`, 'READY_FILE');
}
let floorSeq = 0;
/** The attach floor, ready; stopped and its mount undone (bind unmounted, the plugin's Mount released) by the caller's `undo`. */
async function attachFloor(port: number, socket: string, root: string, volume: string): Promise<Started & { undo(): Promise<void> }> {
  const id = `floor-${process.pid}-${floorSeq++}`;
  const started = await startUntilReady(['-e', ATTACH_FLOOR], { PORT: String(port), SOCK: socket, VOL: volume, ROOT: root, ID: id }, `http://127.0.0.1:${port}/`, 'READY_FILE');
  return {
    ...started,
    async undo() {
      await stop(started.child);
      execFileSync('umount', ['--lazy', join(root, volume)]);
      await rmdir(join(root, '.floor-stage'));
      await pluginUnmount(socket, volume, id);
    },
  };
}

async function sidecar(env: Record<string, string>, port: number, dvdi = DVDI, nodeArgs = NODE_ARGS): Promise<Started> {
  const cache: Record<string, string> = COMPILE_CACHE === undefined ? {} : { NODE_COMPILE_CACHE: COMPILE_CACHE };
  return startUntilReady([...nodeArgs, dvdi, 'sidecar'], { ...env, ...cache, DVDI_HTTP_ADDR: `127.0.0.1:${port}` }, `http://127.0.0.1:${port}/readyz`, 'DVDI_READY_FILE');
}

const f = (n: number, w = 8) => (Number.isFinite(n) ? n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2) : '-').padStart(w);
function row(label: string, samples: number[]): string {
  const s = spread(samples);
  return `${label.padEnd(66)}${f(s.p50)}${f(s.min)}${f(s.max)}\n`;
}

async function main(): Promise<void> {
  if (!existsSync(DVDI)) throw new Error('run `npm run build` first: the benchmark times the built dist/, as deployed');
  const temp = await makeSharedRoot('bench-startup');
  const plugins = join(temp.dir, 'plugins');
  await mkdir(plugins);
  readyDir = join(temp.dir, 'ready');
  await mkdir(readyDir);
  const plugin = spawn(NODE, [DVDI, 'plugin', '--name', 'benchdir', '--backend', 'dir', '--root', join(temp.dir, 'plugin'), '--socket', join(plugins, 'benchdir.sock')], { stdio: 'ignore' });
  const idle: ChildProcess[] = [];
  try {
    while (!existsSync(join(plugins, 'benchdir.sock'))) await new Promise((r) => setTimeout(r, 20));
    const port = await freePort();
    const storeEnv: Record<string, Record<string, string>> = {};
    for (const store of STORES) {
      if (store === 'embedded') storeEnv[store] = {};
      else if (store === 'redis') storeEnv[store] = { DVDI_REDIS_URL: (await startRedisServer()).url };
      else throw new Error(`--stores: 'embedded' and/or 'redis', not '${store}'`);
    }
    const common = { DVDI_MOUNT_ROOT: temp.root, DVDI_PLUGIN_DIRS: plugins, DVDI_VOLUME_NAME: 'benchvol', DVDI_VOLUME_DRIVER: 'benchdir', DVDI_NODE_ID: 'bench', DVDI_LOG_LEVEL: 'warn' };
    const envOf = (store: string, task: string) => ({ ...common, ...storeEnv[store], DVDI_TASK_ID: task });

    // Warm-up (creates the volume, warms the page cache), not counted.
    for (const v of VARIANTS) await stop((await sidecar(envOf(v.store, 'warm'), port, v.dvdi, v.nodeArgs)).child);
    await stop((await bareNode(port)).child);
    const socket = join(plugins, 'benchdir.sock');
    await (await attachFloor(port, socket, temp.root, 'floorvol')).undo();

    const base = { ms: [] as number[], cpu: [] as number[], rss: [] as number[], settled: [] as number[], settledAnon: [] as number[], charged: [] as number[] };
    const cron = { ms: [] as number[], rss: [] as number[], settled: [] as number[], settledAnon: [] as number[] };
    const floor = { ms: [] as number[], cpu: [] as number[], msRatio: [] as number[], cpuRatio: [] as number[] };
    const side: Record<string, { ms: number[]; cpu: number[]; cpuRatio: number[]; rss: number[]; settled: number[]; settledAnon: number[]; charged: number[]; msRatio: number[]; rssRatio: number[]; settledRatio: number[]; cronRatio: number[] }> = {};
    for (const { key } of VARIANTS) side[key] = { ms: [], cpu: [], cpuRatio: [], rss: [], settled: [], settledAnon: [], charged: [], msRatio: [], rssRatio: [], settledRatio: [], cronRatio: [] };
    for (let i = 0; i < RUNS; i++) {
      const b = await bareNode(port);
      await stop(b.child);
      base.ms.push(b.ms);
      base.cpu.push(b.cpuMs);
      base.rss.push(b.rssMiB);
      base.settled.push(b.settledMiB);
      base.settledAnon.push(b.settledAnonMiB);
      base.charged.push(b.chargedMiB);
      const c = await bareNodeCron(port);
      await stop(c.child);
      cron.ms.push(c.ms);
      cron.rss.push(c.rssMiB);
      cron.settled.push(c.settledMiB);
      cron.settledAnon.push(c.settledAnonMiB);
      const fl = await attachFloor(port, socket, temp.root, 'floorvol');
      await fl.undo();
      floor.ms.push(fl.ms);
      floor.cpu.push(fl.cpuMs);
      floor.msRatio.push(fl.ms / b.ms);
      floor.cpuRatio.push(fl.cpuMs / b.cpuMs);
      for (const v of VARIANTS) {
        const s = await sidecar(envOf(v.store, `bench-${i}`), port, v.dvdi, v.nodeArgs);
        await stop(s.child);
        const figures = side[v.key]!;
        figures.ms.push(s.ms);
        figures.cpu.push(s.cpuMs);
        figures.cpuRatio.push(s.cpuMs / b.cpuMs);
        figures.rss.push(s.rssMiB);
        figures.settled.push(s.settledMiB);
        figures.settledAnon.push(s.settledAnonMiB);
        figures.charged.push(s.chargedMiB);
        figures.settledRatio.push(s.settledMiB / b.settledMiB);
        figures.cronRatio.push(s.settledMiB / c.settledMiB);
        figures.msRatio.push(s.ms / b.ms);
        figures.rssRatio.push(s.rssMiB / b.rssMiB);
      }
    }

    const out = process.stdout;
    out.write(`sidecar start-up beside a bare node HTTP server — node ${NODE === process.execPath ? process.version : execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim()}, ${availableParallelism()} CPUs, ${RUNS} alternating runs${NODE_ARGS.length > 0 ? `, sidecar under node ${NODE_ARGS.join(' ')}` : ''}${BEFORE !== undefined && BEFORE_NODE_ARGS !== NODE_ARGS ? `, before under node ${BEFORE_NODE_ARGS.join(' ') || '(no flags)'}` : ''}${MEMORY_LIMIT_MIB > 0 ? `, each in a memory cgroup of ${MEMORY_LIMIT_MIB} MiB` : ''}\n`);
    out.write(`(dir plugin, 1 volume; bare node = node -e "http.createServer(...).listen(port)"; ready seen ${READY_BY === 'file' ? 'by its ready file (inotify)' : 'by polling HTTP every 2 ms'}${COMPILE_CACHE === undefined ? '' : '; sidecar with NODE_COMPILE_CACHE'}; ratios pair by pair)\n`);
    out.write(`${'figure'.padEnd(66)}${'median'.padStart(8)}${'min'.padStart(8)}${'max'.padStart(8)}\n`);
    out.write(row('bare node, start → listening (ms)', base.ms));
    out.write(row('attach floor, start → ready (ms)', floor.ms));
    out.write(row('  ratio to bare node (a lower bound for the sidecar\'s)', floor.msRatio));
    for (const { key: store } of VARIANTS) out.write(row(`dvdi sidecar (${store}), start → ready (ms)`, side[store]!.ms));
    for (const { key: store } of VARIANTS) out.write(row(`  ratio to bare node (${store})`, side[store]!.msRatio));
    out.write(row('bare node, CPU time to listening (ms)', base.cpu));
    out.write(row('attach floor, CPU time to ready (ms)', floor.cpu));
    out.write(row('  ratio to bare node', floor.cpuRatio));
    for (const { key: store } of VARIANTS) out.write(row(`dvdi sidecar (${store}), CPU time to ready (ms)`, side[store]!.cpu));
    for (const { key: store } of VARIANTS) out.write(row(`  ratio to bare node (${store})`, side[store]!.cpuRatio));
    out.write(row('bare node, RSS when listening (MiB)', base.rss));
    for (const { key: store } of VARIANTS) out.write(row(`dvdi sidecar (${store}), RSS at ready (MiB)`, side[store]!.rss));
    for (const { key: store } of VARIANTS) out.write(row(`  ratio to bare node (${store})`, side[store]!.rssRatio));
    out.write(row(`bare node, RSS ${SETTLE_MS / 1000} s later (MiB)`, base.settled));
    for (const { key: store } of VARIANTS) out.write(row(`dvdi sidecar (${store}), RSS ${SETTLE_MS / 1000} s after ready`, side[store]!.settled));
    for (const { key: store } of VARIANTS) out.write(row(`  ratio to bare node (${store})`, side[store]!.settledRatio));
    out.write(row('bare node + one node-cron schedule, start → listening (ms)', cron.ms));
    out.write(row(`bare node + one node-cron schedule, RSS ${SETTLE_MS / 1000} s later (MiB)`, cron.settled));
    for (const { key: store } of VARIANTS) out.write(row(`  sidecar (${store}) ratio to it, RSS ${SETTLE_MS / 1000} s after`, side[store]!.cronRatio));
    // The process's own memory (RssAnon), once what ready deferred has run: what each further
    // sidecar on a node adds; the node binary's and the bundle's file pages are shared by every
    // process of the same image.
    out.write(row(`bare node, of which anonymous, ${SETTLE_MS / 1000} s later (MiB)`, base.settledAnon));
    out.write(row(`bare node + node-cron, of which anonymous, ${SETTLE_MS / 1000} s later`, cron.settledAnon));
    for (const { key: store } of VARIANTS) out.write(row(`dvdi sidecar (${store}), of which anonymous, ${SETTLE_MS / 1000} s after`, side[store]!.settledAnon));
    if (MEMORY_LIMIT_MIB > 0) {
      // What the container is charged with: its own memory and the file pages it was first to
      // bring in (the node binary's are in the page cache already, charged to whoever read them first).
      out.write(row(`bare node, charged to its memory cgroup ${SETTLE_MS / 1000} s later (MiB)`, base.charged));
      for (const { key: store } of VARIANTS) out.write(row(`dvdi sidecar (${store}), charged to its cgroup ${SETTLE_MS / 1000} s after`, side[store]!.charged));
    }

    if (IDLE_S > 0) {
      // One of each, started now and left alone: leases renew every TTL/3, the reconciler runs
      // on its default schedule.
      const started: { label: string; child: ChildProcess; rss0: number; cpu0: number }[] = [];
      const b = await bareNode(port);
      idle.push(b.child);
      started.push({ label: 'bare node', child: b.child, rss0: b.rssMiB, cpu0: cpuSeconds(b.child.pid ?? 0) });
      for (const store of STORES) {
        const p = await freePort();
        const s = await sidecar(envOf(store, `idle-${store}`), p);
        idle.push(s.child);
        started.push({ label: `dvdi sidecar (${store})`, child: s.child, rss0: s.rssMiB, cpu0: cpuSeconds(s.child.pid ?? 0) });
      }
      // RSS and CPU every SAMPLE_S while idle: flat, or growing?
      const samples: { at: number; rss: number[]; cpu: number[] }[] = [];
      for (let at = Math.min(SAMPLE_S, IDLE_S); ; at = Math.min(at + SAMPLE_S, IDLE_S)) {
        await new Promise((r) => setTimeout(r, (at - (samples.at(-1)?.at ?? 0)) * 1000));
        samples.push({ at, rss: started.map((p) => procStatus(p.child.pid ?? 0, 'VmRSS')), cpu: started.map((p) => cpuSeconds(p.child.pid ?? 0) - p.cpu0) });
        if (at >= IDLE_S) break;
      }
      if (samples.length > 1) {
        out.write(`\nwhile idle, every ${SAMPLE_S} s: RSS (MiB) / CPU used since ready (s)\n`);
        out.write(`${'idle s'.padEnd(8)}${started.map((p) => p.label.padStart(26)).join('')}\n`);
        for (const sample of samples) out.write(`${String(sample.at).padEnd(8)}${sample.rss.map((rss, i) => `${rss.toFixed(1)} / ${(sample.cpu[i] ?? NaN).toFixed(2)}`.padStart(26)).join('')}\n`);
      }
      out.write(`\nafter ${IDLE_S} s idle (leases renewing, reconciler on its schedule)\n`);
      out.write(`${'process'.padEnd(24)}${'RSS ready'.padStart(10)}${'RSS idle'.padStart(10)}${'peak'.padStart(10)}${'CPU idle s'.padStart(12)}${'CPU %'.padStart(8)}\n`);
      for (const s of started) {
        const pid = s.child.pid ?? 0;
        const cpu = cpuSeconds(pid) - s.cpu0;
        out.write(`${s.label.padEnd(24)}${f(s.rss0, 10)}${f(procStatus(pid, 'VmRSS'), 10)}${f(procStatus(pid, 'VmHWM'), 10)}${f(cpu, 12)}${f((100 * cpu) / IDLE_S, 8)}\n`);
      }
    }

    if (values.image !== undefined) {
      const bytes = Number(execFileSync('docker', ['image', 'inspect', '--format', '{{.Size}}', values.image], { encoding: 'utf8' }).trim());
      out.write(`\nimage ${values.image}: ${(bytes / 1024 / 1024).toFixed(1)} MiB\n`);
    }
  } finally {
    for (const child of idle) await stop(child);
    // A process that failed its start: stopped if it still runs, its cgroup removed.
    for (const child of [...cgroups.keys()]) await stop(child);
    await stop(plugin);
    await stopAllRedis();
    await temp.cleanup();
  }
}

await main();
