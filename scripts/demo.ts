// `npm run demo`: the README's first command. On this machine, as root, with nothing else set
// up: makes a private rshared mount root, starts the bundled reference plugin (loop backend: a
// real ext4 image), starts one sidecar on the embedded store for the volume `demo`, shows where
// the volume is and the URLs, and on Ctrl-C stops the sidecar (which unmounts lazily), stops the
// plugin and removes everything it made. `--exit-after-ready` does the whole round trip without
// waiting for Ctrl-C (the test suite runs it that way).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readMountInfo } from '../src/common/mountinfo.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    'exit-after-ready': { type: 'boolean', default: false },
    backend: { type: 'string', default: 'loop' },
    port: { type: 'string', default: '9650' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('Usage: npm run demo [-- --backend loop|dir] [--port 9650] [--exit-after-ready]\n');
  process.exit(0);
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function dvdi(args: string[], env: Record<string, string>, label: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/dvdi.ts'), ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  // Logs are JSON lines; the demo shows only the message of each, prefixed by the process.
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

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (child && child.exitCode !== null) throw new Error(`${what}: the process exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('The demo mounts filesystems: run it as root (sudo npm run demo).\n');
    return 2;
  }
  const base = join(tmpdir(), 'dvdi-demo');
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(join(base, 'run-'));
  const root = join(dir, 'volumes');
  const pluginDir = join(dir, 'plugins');
  await mkdir(root);
  await mkdir(pluginDir);
  execFileSync('mount', ['--bind', root, root]);
  execFileSync('mount', ['--make-rshared', root]);

  const plugin = dvdi(
    ['plugin', '--name', 'dvdi-demo', '--backend', values.backend, '--root', join(dir, 'plugin-data'), '--socket', join(pluginDir, 'dvdi-demo.sock'), '--journal', join(dir, 'journal.jsonl')],
    {},
    'plugin',
  );
  let sidecar: ChildProcess | undefined;
  let code = 0;
  try {
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
      },
      'sidecar',
    );
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
    if (!values['exit-after-ready']) {
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
    sidecar.kill('SIGTERM');
    const sidecarCode = await exited(sidecar);
    const stillMounted = (await readMountInfo()).some((m) => m.mountPoint === hostPath);
    say(`  sidecar exited with ${sidecarCode}; ${hostPath} ${stillMounted ? 'is STILL mounted' : 'is unmounted'}`);
    if (sidecarCode !== 0 || stillMounted) code = 1;
  } catch (error) {
    process.stderr.write(`demo failed: ${(error as Error).message}\n`);
    code = 1;
  } finally {
    if (sidecar && sidecar.exitCode === null) {
      sidecar.kill('SIGTERM');
      await exited(sidecar);
    }
    plugin.kill('SIGTERM');
    await exited(plugin);
    // The plugin leaves its own mounts for its clients (as real plugins do); the demo owns them.
    const leftovers = (await readMountInfo()).map((m) => m.mountPoint).filter((mp) => mp.startsWith(`${dir}/`) || mp === root);
    for (const mp of leftovers.sort((a, b) => b.length - a.length)) {
      try {
        execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
      } catch {
        // gone already through propagation
      }
    }
    await rm(dir, { recursive: true, force: true });
    say(`  removed ${dir}`);
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${String(error)}\n`);
    process.exit(1);
  },
);
