// Issue 2 acceptance: Docker itself, not our own client, accepts the reference plugin. A private
// dockerd finds `dvdi plugin` through its legacy socket in /run/docker/plugins and drives it
// through create, inspect, mount into containers, refusal to remove while in use, removal, and
// an implicit create (`--volume-driver`, Opts null) — for both backends. Afterwards nothing the
// plugin mounted or attached may remain.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { readMountInfo } from '../../src/common/mountinfo.js';
import { E2E_PLUGIN_PREFIX, PLUGIN_SOCKET_DIR, REPO_ROOT, startDockerd, type PrivateDockerd } from '../helpers/dockerd.js';
import { ensureBusyboxImage } from '../helpers/images.js';
import { makeTempDir, unmountBelow } from '../helpers/mount-root.js';

let dockerd: PrivateDockerd | undefined;
let image = '';

test.before(async (t) => {
  dockerd = await startDockerd({ log: (line) => t.log(line) });
  image = await ensureBusyboxImage(dockerd.docker, (line) => t.log(line));
});

// Plugins stay up until the daemon is gone: a legacy plugin that dockerd has used once stays in
// its driver list, and `docker volume ls` / `inspect` of an unknown name then retry the dead
// socket for ~15-30 s each. Stopping the daemon first also lets it send its last Unmounts.
const plugins: RunningPlugin[] = [];

test.after.always(async () => {
  await dockerd?.stop();
  for (const plugin of plugins) {
    await plugin.stop();
    await unmountBelow(plugin.root);
    for (const entry of await loopsBelow(plugin.root)) {
      await execa('losetup', ['--detach', entry.split(' ')[0]!], { reject: false });
    }
    await rm(plugin.root, { recursive: true, force: true });
  }
});

interface RunningPlugin {
  name: string;
  root: string;
  socket: string;
  output(): string;
  stop(): Promise<void>;
}

function activate(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/Plugin.Activate', method: 'POST', timeout: 2_000, headers: { Host: 'plugin.moby.localhost' } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end('{}');
  });
}

async function startPlugin(t: ExecutionContext, backend: 'dir' | 'loop'): Promise<RunningPlugin> {
  const name = `${E2E_PLUGIN_PREFIX}${backend}-${randomBytes(4).toString('hex')}`;
  const root = await makeTempDir(`plugin-${backend}`);
  const socket = join(PLUGIN_SOCKET_DIR, `${name}.sock`);
  let output = '';
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/dvdi.ts', 'plugin', '--name', name, '--backend', backend, '--root', root, '--socket', socket],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));

  const plugin: RunningPlugin = {
    name,
    root,
    socket,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(socket, { force: true });
    },
  };

  plugins.push(plugin);

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await plugin.stop();
      throw new Error(`dvdi plugin exited before serving (exit ${child.exitCode ?? child.signalCode}):\n${output}`);
    }
    const body = await activate(socket).catch(() => undefined);
    if (body !== undefined) {
      if (!body.includes('VolumeDriver')) throw new Error(`dvdi plugin answered Plugin.Activate with ${body}`);
      break;
    }
    if (Date.now() > deadline) {
      await plugin.stop();
      throw new Error(`dvdi plugin did not serve ${socket} within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  t.log(`plugin ${name} serves ${socket}`);
  return plugin;
}

async function mountsBelow(dir: string): Promise<string[]> {
  return (await readMountInfo()).map((m) => m.mountPoint).filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}

/** Loop devices whose backing file lies under `dir`. */
async function loopsBelow(dir: string): Promise<string[]> {
  const r = await execa('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { reject: false });
  return String(r.stdout)
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, back]) => back !== undefined && back.startsWith(`${dir}/`))
    .map(([dev, back]) => `${dev} ${back}`);
}

async function removeFromDocker(containers: string[], volumes: string[]): Promise<void> {
  const d = dockerd!;
  for (const c of containers) await d.docker(['rm', '-f', c], { reject: false });
  for (const v of volumes) await d.docker(['volume', 'rm', '-f', v], { reject: false });
}

for (const backend of ['dir', 'loop'] as const) {
  test.serial(`docker drives the reference plugin end to end (${backend} backend)`, async (t) => {
    const d = dockerd!;
    const started = Date.now();
    const step = (what: string) => t.log(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
    const plugin = await startPlugin(t, backend);
    const suffix = randomBytes(3).toString('hex');
    const vol = `vol1-${suffix}`;
    const implicit = `implicitvol-${suffix}`;
    const holder = `dvdi-e2e-holder-${suffix}`;
    t.teardown(() => removeFromDocker([holder], [vol, implicit]));
    t.teardown(() => {
      if (!t.passed) t.log(`plugin output:\n${plugin.output()}`);
    });

    // explicit create, with options for the loop backend
    const opts = backend === 'loop' ? ['-o', 'size=0.1'] : [];
    await d.docker(['volume', 'create', '-d', plugin.name, ...opts, vol]);
    const inspected = JSON.parse((await d.docker(['volume', 'inspect', vol])).stdout) as { Name: string; Driver: string; CreatedAt?: string }[];
    t.is(inspected.length, 1);
    t.is(inspected[0]!.Name, vol);
    t.is(inspected[0]!.Driver, plugin.name);
    const createdAt = inspected[0]!.CreatedAt ?? '';
    t.true(createdAt !== '' && new Date(createdAt).getUTCFullYear() >= 2024, `CreatedAt should be an RFC 3339 time, got ${JSON.stringify(createdAt)}`);
    const listed = (await d.docker(['volume', 'ls', '--filter', `driver=${plugin.name}`, '--format', '{{.Name}}'])).stdout.trim().split('\n');
    t.deepEqual(listed, [vol]);

    step('created and inspected');

    // one container writes, a second one reads what the first wrote
    await d.docker(['run', '--rm', '--network', 'none', '-v', `${vol}:/data`, image, 'sh', '-c', 'echo hello > /data/f']);
    const read = await d.docker(['run', '--rm', '--network', 'none', '-v', `${vol}:/data`, image, 'cat', '/data/f']);
    t.is(read.stdout, 'hello');
    t.deepEqual(await mountsBelow(plugin.root), [], 'no plugin mount may remain once no container uses the volume');

    step('written and read back');

    // in use: Docker refuses to remove it, and the plugin's mount is there
    await d.docker(['run', '-d', '--name', holder, '--network', 'none', '-v', `${vol}:/data`, image, 'sleep', '300']);
    t.true((await mountsBelow(plugin.root)).length > 0, 'a running container should hold a plugin mount');
    const refused = await d.docker(['volume', 'rm', vol], { reject: false });
    t.not(refused.exitCode, 0, 'docker volume rm of a volume in use must fail');
    t.regex(refused.stderr, /in use/);
    t.is((await d.docker(['volume', 'inspect', '--format', '{{.Name}}', vol])).stdout.trim(), vol);
    t.is((await d.docker(['exec', holder, 'cat', '/data/f'])).stdout, 'hello');

    step('removal refused while in use');

    // released: stop and remove the container, then removal is accepted
    await d.docker(['stop', '--time', '1', holder]);
    await d.docker(['rm', holder]);
    t.deepEqual(await mountsBelow(plugin.root), [], 'stopping the last container should unmount the volume');
    await d.docker(['volume', 'rm', vol]);
    const gone = await d.docker(['volume', 'inspect', vol], { reject: false });
    t.not(gone.exitCode, 0, 'the volume should be gone after docker volume rm');

    step('removed');

    // implicit create: `docker run --volume-driver` sends Create with Opts null
    const implicitRun = await d.docker([
      'run',
      '--rm',
      '--network',
      'none',
      '--volume-driver',
      plugin.name,
      '-v',
      `${implicit}:/data`,
      image,
      'sh',
      '-c',
      'echo implicit > /data/g && cat /data/g',
    ]);
    t.is(implicitRun.stdout, 'implicit');
    t.is((await d.docker(['volume', 'inspect', '--format', '{{.Driver}}', implicit])).stdout.trim(), plugin.name);
    await d.docker(['volume', 'rm', implicit]);

    step('implicit create used and removed');

    // nothing of the plugin remains mounted or attached
    t.deepEqual(await mountsBelow(plugin.root), []);
    t.deepEqual(await loopsBelow(plugin.root), []);
    t.deepEqual((await d.docker(['volume', 'ls', '--filter', `driver=${plugin.name}`, '--format', '{{.Name}}'])).stdout.trim(), '');
  });
}
