// `npm run demo`: the README's first command. On this machine, as root, with nothing else set
// up: makes a private rshared mount root, starts the bundled reference plugin (loop backend: a
// real ext4 image), starts one sidecar on the embedded store for the volume `demo`, shows where
// the volume is and the URLs, and on Ctrl-C stops and removes everything it made.
// `--exit-after-ready` does the whole round trip without waiting for a signal.
//
// It stops like a daemon should. Ctrl-C (SIGINT to the terminal's whole foreground process
// group), SIGHUP (the terminal closed) and SIGTERM all end the same way: the sidecar releases
// and unmounts first, then the plugin stops, then the demo removes its mounts, loop devices and
// run directory and exits 0. For that the plugin and the sidecar run in their own sessions
// (spawned detached): a signal to the terminal's process group reaches only the demo, which
// then stops them in order by the PIDs it recorded. A second SIGINT or SIGTERM during the stop
// forces it (SIGKILL to both) and still cleans up, then exits 130.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readMountInfo } from '../src/common/mountinfo.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** The sidecar's own bound for releasing and unmounting after SIGTERM (DVDI_SHUTDOWN_TIMEOUT_MS). */
const SIDECAR_SHUTDOWN_MS = 20_000;
/** How long the demo waits for each child after SIGTERM before it sends SIGKILL. */
const CHILD_STOP_MS = { sidecar: SIDECAR_SHUTDOWN_MS + 5_000, plugin: 10_000 } as const;
/**
 * A repeated signal within this window is the same request, not a second Ctrl-C: `npm run`
 * forwards the SIGINT/SIGTERM it received to the demo, which got it from the terminal already.
 */
const SAME_SIGNAL_MS = 500;

const { values } = parseArgs({
  options: {
    'exit-after-ready': { type: 'boolean', default: false },
    backend: { type: 'string', default: 'loop' },
    port: { type: 'string', default: '9650' },
    // Tests only: the plugin's fault file (`dvdi plugin --faults`), to make a stop hang.
    'plugin-faults': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('Usage: npm run demo [-- --backend loop|dir] [--port 9650] [--exit-after-ready] [--plugin-faults FILE (tests)]\n');
  process.exit(0);
}

// After SIGHUP the terminal is gone: writes to it fail (EIO), which must not end the demo
// before it has cleaned up.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Stop requests: the first signal starts an orderly stop, a later SIGINT/SIGTERM forces it. */
class StopSignals {
  private first: { signal: NodeJS.Signals; at: number } | undefined;
  private readonly waiters: Array<() => void> = [];
  private readonly forceWaiters: Array<() => void> = [];
  forced = false;

  constructor() {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => this.receive(signal));
  }

  get requested(): boolean {
    return this.first !== undefined;
  }

  private receive(signal: NodeJS.Signals): void {
    if (this.first === undefined) {
      this.first = { signal, at: Date.now() };
      say(`\n  ${signal}: stopping (the sidecar releases and unmounts the volume, then the plugin stops)`);
      for (const wake of this.waiters.splice(0)) wake();
      return;
    }
    if (signal === 'SIGHUP' || this.forced || Date.now() - this.first.at < SAME_SIGNAL_MS) return;
    this.forced = true;
    say(`  ${signal} again: forcing the stop (SIGKILL to the sidecar and the plugin), then cleaning up`);
    for (const wake of this.forceWaiters.splice(0)) wake();
  }

  /** Resolves at the first stop request. */
  stopRequested(): Promise<void> {
    return this.requested ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves when the stop is forced. */
  forceRequested(): Promise<void> {
    return this.forced ? Promise.resolve() : new Promise((resolve) => this.forceWaiters.push(resolve));
  }
}

const signals = new StopSignals();

/** Thrown out of a wait when a stop was requested meanwhile. */
class StopRequested extends Error {}

function dvdi(args: string[], env: Record<string, string>, label: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/dvdi.ts'), ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'pipe'],
    // Its own session: the terminal's signals reach the demo only, which stops it in order.
    detached: true,
  });
  // Logs are JSON lines; the demo shows only the level and message of each, prefixed by the process.
  let buffered = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      try {
        const parsed = JSON.parse(line) as { msg?: string; level?: string; volume?: string };
        process.stderr.write(`  [${label}] ${parsed.level ?? ''} ${parsed.msg ?? line}${parsed.volume ? ` (${parsed.volume})` : ''}\n`);
      } catch {
        process.stderr.write(`  [${label}] ${line}\n`);
      }
    }
  });
  return child;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function exited(child: ChildProcess): Promise<string> {
  const describe = () => (child.signalCode !== null ? `signal ${child.signalCode}` : `code ${child.exitCode}`);
  if (hasExited(child)) return Promise.resolve(describe());
  return new Promise((resolve) => child.once('exit', () => resolve(describe())));
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (signals.requested) throw new StopRequested(what);
    if (hasExited(child)) throw new Error(`${what}: the process exited (${await exited(child)})`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * SIGTERM, then wait for the exit: at most its CHILD_STOP_MS, or until the stop is forced;
 * then SIGKILL. Returns how it ended. The PID is the one spawn gave us: nothing is found by name.
 */
async function stopChild(child: ChildProcess, label: keyof typeof CHILD_STOP_MS): Promise<{ how: string; clean: boolean }> {
  if (hasExited(child)) return { how: `had already exited (${await exited(child)})`, clean: false };
  if (!signals.forced) child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = await Promise.race([
    exited(child).then(() => false),
    signals.forceRequested().then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), CHILD_STOP_MS[label]))),
  ]);
  clearTimeout(timer);
  if (!gaveUp) {
    const how = await exited(child);
    return { how: `exited with ${how}`, clean: child.exitCode === 0 };
  }
  if (!signals.forced) say(`  the ${label} did not stop within ${CHILD_STOP_MS[label] / 1000} s: SIGKILL`);
  child.kill('SIGKILL');
  return { how: `killed (${await exited(child)})`, clean: false };
}

/** Loop devices whose backing file is below `dir` (the plugin's images). */
function loopDevicesBelow(dir: string): string[] {
  let out: string;
  try {
    out = execFileSync('losetup', ['--list', '--noheadings', '--raw', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([name, file]) => name !== undefined && file !== undefined && file.startsWith(`${dir}/`))
    .map(([name]) => name!);
}

/**
 * Everything the demo made below `dir`: mounts (deepest first), loop devices, the directory.
 * False when a loop device would not go.
 */
async function removeRunDir(dir: string): Promise<boolean> {
  for (let pass = 0; pass < 5; pass++) {
    const mounts = (await readMountInfo()).map((m) => m.mountPoint).filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
    if (mounts.length === 0) break;
    for (const mp of mounts.sort((a, b) => b.length - a.length)) {
      try {
        execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
      } catch {
        // gone already through propagation
      }
    }
  }
  // Autoclear releases a device when its filesystem is finally unmounted; one that is still
  // bound to an image here (a forced stop in the middle of a Mount) is detached.
  for (const device of loopDevicesBelow(dir)) {
    try {
      execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
    } catch {
      // released meanwhile
    }
  }
  for (let waited = 0; loopDevicesBelow(dir).length > 0 && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
  const stuck = loopDevicesBelow(dir);
  if (stuck.length > 0) say(`  loop devices still bound to images below ${dir}: ${stuck.join(', ')}`);
  await rm(dir, { recursive: true, force: true });
  return stuck.length === 0;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('The demo mounts filesystems: run it as root (sudo npm run demo).\n');
    return 2;
  }
  // A directory of our own (mkdtemp), never a fixed name in /tmp.
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-demo-'));
  const root = join(dir, 'volumes');
  const pluginDir = join(dir, 'plugins');
  let plugin: ChildProcess | undefined;
  let sidecar: ChildProcess | undefined;
  let code = 0;
  try {
    // 0700, as the sidecar wants a mount root: only root (and the runtimes) reach the volumes.
    await mkdir(root, { mode: 0o700 });
    await mkdir(pluginDir);
    execFileSync('mount', ['--bind', root, root]);
    execFileSync('mount', ['--make-rshared', root]);
    if (signals.requested) throw new StopRequested('start');
    plugin = dvdi(
      [
        'plugin',
        '--name',
        'dvdi-demo',
        '--backend',
        values.backend,
        '--root',
        join(dir, 'plugin-data'),
        '--socket',
        join(pluginDir, 'dvdi-demo.sock'),
        '--journal',
        join(dir, 'journal.jsonl'),
        ...(values['plugin-faults'] === undefined ? [] : ['--faults', values['plugin-faults']]),
      ],
      {},
      'plugin',
    );
    say(`  run directory ${dir}`);
    say(`  plugin pid ${plugin.pid}`);
    await until('the plugin socket', async () => existsSync(join(pluginDir, 'dvdi-demo.sock')), 30_000, plugin);
    const url = `http://127.0.0.1:${values.port}`;
    sidecar = dvdi(
      ['sidecar'],
      {
        DVDI_VOLUME_NAME: 'demo',
        DVDI_VOLUME_DRIVER: 'dvdi-demo',
        DVDI_VOLUME_OPTS: values.backend === 'loop' ? 'size=0.25' : '',
        DVDI_MOUNT_ROOT: root,
        DVDI_PLUGIN_DIRS: pluginDir,
        DVDI_HTTP_ADDR: `127.0.0.1:${values.port}`,
        DVDI_NODE_ID: 'demo-node',
        DVDI_TASK_ID: 'demo-task',
        DVDI_READY_FILE: join(dir, 'ready'),
        DVDI_SHUTDOWN_TIMEOUT_MS: String(SIDECAR_SHUTDOWN_MS),
      },
      'sidecar',
    );
    say(`  sidecar pid ${sidecar.pid}`);
    await until('the sidecar to report ready', async () => {
      try {
        return (await fetch(`${url}/readyz`)).status === 200;
      } catch {
        return false;
      }
    }, 120_000, sidecar);
    const hostPath = join(root, 'demo');
    const marker = join(hostPath, 'hello.txt');
    await writeFile(marker, `written by the dvdi-sidecar demo at ${new Date().toISOString()}\n`);
    const fs = (await readMountInfo()).find((m) => m.mountPoint === hostPath);
    say('');
    say(`  volume "demo" is mounted at ${hostPath} (${fs?.fsType ?? '?'} on ${fs?.source ?? '?'})`);
    say(`  wrote ${marker}: ${(await readFile(marker, 'utf8')).trim()}`);
    say(`  readiness  ${url}/readyz`);
    say(`  status     ${url}/status`);
    say(`  metrics    ${url}/metrics`);
    say(values['exit-after-ready'] ? '  shutting down (--exit-after-ready)' : '  press Ctrl-C to stop: the sidecar releases the volume and unmounts it');
    say('');
    if (!values['exit-after-ready']) await signals.stopRequested();
    // First the sidecar, while the plugin still answers its driver Unmount.
    const stopped = await stopChild(sidecar, 'sidecar');
    const stillMounted = (await readMountInfo()).some((m) => m.mountPoint === hostPath);
    say(`  sidecar ${stopped.how}; ${hostPath} ${stillMounted ? 'is STILL mounted' : 'is unmounted'}`);
    if (!stopped.clean || stillMounted) code = 1;
  } catch (error) {
    if (!(error instanceof StopRequested)) {
      process.stderr.write(`demo failed: ${(error as Error).message}\n`);
      code = 1;
    }
  } finally {
    // A stop requested during the start lands here too: the same order, whatever was started.
    if (sidecar) {
      const stopped = await stopChild(sidecar, 'sidecar');
      if (!stopped.how.startsWith('had already exited')) say(`  sidecar ${stopped.how}`);
    }
    if (plugin) {
      const stopped = await stopChild(plugin, 'plugin');
      say(`  plugin ${stopped.how}`);
      if (!stopped.clean && !signals.forced) code = 1;
    }
    if (!(await removeRunDir(dir))) code = 1;
    say(`  removed ${dir}`);
  }
  if (signals.forced) return 130;
  return code;
}

main().then(
  (code) => {
    say(`  demo exits with ${code}`);
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`demo failed: ${String(error)}\n`);
    process.exit(1);
  },
);
