// What the sidecars of one node cost each other while idle: N sidecars on one node (one volume
// each, the reference plugin's dir backend, one Redis store or the embedded one), left alone for --window-seconds
// while their leases renew, their health checks read the mount table, and every one of them
// runs the reconciler on the same cron instants. Reported: the sweeps that ran and the runs that
// skipped (dvdi_reconcile_runs_total, summed over the sidecars) and the CPU time all N used in the
// window (/proc/PID/stat), for the build under test and, with --before, a baseline build, in
// alternating rounds on the same machine; with --sidecars 20,100 both counts alternate too, so
// that what one more sidecar costs the others shows in one run. Figures only, never asserted.
// Run (root): npm run build && node --import tsx bench/crowded-node.bench.ts
//   [--sidecars 20[,100...]] [--store redis|embedded] [--window-seconds 60] [--rounds 2]
//   [--cron '*/5 * * * * *'] [--log-level error (the sidecars', on stderr)]
//   [--lease-ttl-ms N (DVDI_LEASE_TTL_MS of every sidecar; default the sidecar's)]
//   [--node /path/to/node] [--node-args="--no-opt --max-semi-space-size=1"]
//   [--dvdi dist/cli/dvdi.js] [--before OLD/dist/cli/dvdi.js]
// --cron defaults to every 5 s, six times the default schedule, so that a minute holds twelve
// instants; at the default (every 30 s) the sweep share of the CPU is a sixth of this one's.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeSharedRoot } from '../test/helpers/mount-root.js';
import { freePort, startRedisServer, stopAllRedis } from '../test/helpers/redis-server.js';
import { cpuSeconds } from './proc-stat.js';

const { values } = parseArgs({
  options: {
    sidecars: { type: 'string', default: '20' },
    store: { type: 'string', default: 'redis' },
    'log-level': { type: 'string', default: 'error' },
    'lease-ttl-ms': { type: 'string' },
    'window-seconds': { type: 'string', default: '60' },
    rounds: { type: 'string', default: '2' },
    cron: { type: 'string', default: '*/5 * * * * *' },
    node: { type: 'string', default: process.execPath },
    'node-args': { type: 'string', default: '--no-opt --max-semi-space-size=1' },
    dvdi: { type: 'string', default: fileURLToPath(new URL('../dist/cli/dvdi.js', import.meta.url)) },
    before: { type: 'string' },
  },
});
const COUNTS = values.sidecars.split(',').map(Number);
const STORE = values.store;
if (STORE !== 'redis' && STORE !== 'embedded') throw new Error(`--store: redis or embedded, not '${STORE}'`);
const WINDOW_S = Number(values['window-seconds']);
const ROUNDS = Number(values.rounds);
const NODE = values.node;
const NODE_ARGS = values['node-args'].split(' ').filter((a) => a !== '');
for (const [name, value] of [...COUNTS.map((n) => ['--sidecars', n] as const), ['--window-seconds', WINDOW_S], ['--rounds', ROUNDS]] as const) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}: a whole number ≥ 1, not ${String(value)}`);
}
const builds = [{ label: 'now', dvdi: values.dvdi }, ...(values.before === undefined ? [] : [{ label: 'before', dvdi: values.before }])];
for (const b of builds) if (!existsSync(b.dvdi)) throw new Error(`${b.dvdi} does not exist: run \`npm run build\` (or build the baseline) first`);


async function runCounts(ports: number[]): Promise<{ ok: number; skipped: number; error: number }> {
  const total = { ok: 0, skipped: 0, error: 0 };
  for (const port of ports) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    for (const m of text.matchAll(/^dvdi_reconcile_runs_total\{outcome="(ok|skipped|error)"\} (\d+)$/gm)) total[m[1] as keyof typeof total] += Number(m[2]);
  }
  return total;
}

async function stop(children: ChildProcess[]): Promise<void> {
  const exits = children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r)));
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all(exits);
}

async function round(dvdi: string, n: number, redisUrl: string | undefined): Promise<{ ok: number; skipped: number; error: number; cpu: number }> {
  const temp = await makeSharedRoot('bench-crowd');
  const plugins = join(temp.dir, 'plugins');
  await mkdir(plugins);
  const plugin = spawn(NODE, [dvdi, 'plugin', '--name', 'crowd', '--backend', 'dir', '--root', join(temp.dir, 'plugin'), '--socket', join(plugins, 'crowd.sock')], { stdio: 'ignore' });
  const sidecars: ChildProcess[] = [];
  try {
    while (!existsSync(join(plugins, 'crowd.sock'))) await new Promise((r) => setTimeout(r, 20));
    const ports: number[] = [];
    const readyFiles: string[] = [];
    for (let i = 0; i < n; i++) {
      // The sidecars listen only later, all at once: a port handed out twice would fail one.
      let port = await freePort();
      while (ports.includes(port)) port = await freePort();
      const ready = join(temp.dir, `ready-${i}`);
      const env = { ...process.env, DVDI_MOUNT_ROOT: temp.root, DVDI_PLUGIN_DIRS: plugins, DVDI_VOLUME_NAME: `crowd${i}`, DVDI_VOLUME_DRIVER: 'crowd', DVDI_NODE_ID: 'crowded', DVDI_TASK_ID: `crowd-${i}`, ...(redisUrl === undefined ? {} : { DVDI_REDIS_URL: redisUrl }), DVDI_LOG_LEVEL: values['log-level'], ...(values['lease-ttl-ms'] === undefined ? {} : { DVDI_LEASE_TTL_MS: values['lease-ttl-ms'] }), DVDI_HTTP_ADDR: `127.0.0.1:${port}`, DVDI_RECONCILE_CRON: values.cron, DVDI_READY_FILE: ready };
      sidecars.push(spawn(NODE, [...NODE_ARGS, dvdi, 'sidecar'], { env, stdio: ['ignore', 'ignore', 'inherit'] }));
      ports.push(port);
      readyFiles.push(ready);
    }
    const deadline = Date.now() + 120_000;
    for (const file of readyFiles) {
      while (!existsSync(file)) {
        if (Date.now() > deadline) throw new Error(`${file}: a sidecar was not ready within 120 s`);
        const dead = sidecars.findIndex((c) => c.exitCode !== null);
        if (dead >= 0) throw new Error(`sidecar crowd-${dead} exited with ${sidecars[dead]!.exitCode} before it was ready (its log lines are above)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await new Promise((r) => setTimeout(r, 6000)); // every schedule started (2 s after ready at most)
    const before = await runCounts(ports);
    const cpu0 = sidecars.reduce((sum, c) => sum + cpuSeconds(c.pid ?? 0), 0);
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const cpu = sidecars.reduce((sum, c) => sum + cpuSeconds(c.pid ?? 0), 0) - cpu0;
    const after = await runCounts(ports);
    return { ok: after.ok - before.ok, skipped: after.skipped - before.skipped, error: after.error - before.error, cpu };
  } finally {
    await stop(sidecars);
    await stop([plugin]);
    await temp.cleanup();
  }
}

async function main(): Promise<void> {
  const redis = STORE === 'redis' ? await startRedisServer() : undefined;
  try {
    process.stdout.write(`${COUNTS.join(' and ')} idle sidecars on one node (${STORE === 'redis' ? 'Redis' : 'embedded'} store, dir plugin, cron ${values.cron}), ${WINDOW_S} s window — node ${NODE === process.execPath ? process.version : 'from --node'}${NODE_ARGS.length > 0 ? `, sidecars under ${NODE_ARGS.join(' ')}` : ''}\n`);
    process.stdout.write('round  sidecars  build      sweeps  skipped  failed   CPU s  CPU %/sidecar\n');
    for (let r = 0; r < ROUNDS; r++) {
      for (const n of COUNTS) {
        for (const b of builds) {
          const got = await round(b.dvdi, n, redis?.url);
          process.stdout.write(`${String(r + 1).padStart(5)}${String(n).padStart(10)}  ${b.label.padEnd(8)}${String(got.ok).padStart(8)}${String(got.skipped).padStart(9)}${String(got.error).padStart(7)}${got.cpu.toFixed(2).padStart(10)}${((100 * got.cpu) / WINDOW_S / n).toFixed(2).padStart(12)}\n`);
        }
      }
    }
  } finally {
    await stopAllRedis();
  }
}

await main();
