// Issue 6 acceptance: the product is a container. The image is built from this repository's
// Dockerfile (offline path) and run with the documented line — CAP_SYS_ADMIN only, the mount
// root rshared, the plugin socket directory and the plugin's mount directory mounted, host
// networking — next to app containers that mount ROOT/<volume> rslave. The reference plugin
// runs on the host. Checked: the app sees the volume only after ready and its data outlives the
// task; `docker stop` is a clean exit 0 that leaves nothing mounted; a killed app container
// ends the sidecar (DVDI_TASK_CONTAINER); labels on the app container are volume requests;
// without CAP_SYS_ADMIN the sidecar says so and exits 3.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { readMountInfo } from '../../src/common/mountinfo.js';
import { E2E_PLUGIN_PREFIX, PLUGIN_SOCKET_DIR, REPO_ROOT, startDockerd, type PrivateDockerd } from '../helpers/dockerd.js';
import { makeSharedRoot, type TempRoot } from '../helpers/mount-root.js';
import { waitFor } from '../helpers/cli.js';
import { imageNodeFlags } from '../helpers/bundle.js';
import { buildSidecarImage } from './sidecar-image.js';

let dockerd: PrivateDockerd | undefined;
let image = '';
let root: TempRoot | undefined;
let pluginRoot: TempRoot | undefined;
let plugin: ChildProcess | undefined;
let pluginOutput = '';
const pluginName = `${E2E_PLUGIN_PREFIX}side-${randomBytes(4).toString('hex')}`;
const pluginSocket = join(PLUGIN_SOCKET_DIR, `${pluginName}.sock`);
const containers: string[] = [];
const suffix = randomBytes(3).toString('hex');

test.before(async (t) => {
  dockerd = await startDockerd({ log: (line) => t.log(line) });
  const built = await buildSidecarImage(dockerd.docker, (line) => t.log(line));
  image = built.image;
  t.log(`image ${image}: ${(built.sizeBytes / 1e6).toFixed(1)} MB`);
  root = await makeSharedRoot('sidecar-root');
  // The plugin mounts volumes under its own root; the sidecar container sees those mounts
  // through an rslave bind, which needs a shared source.
  pluginRoot = await makeSharedRoot('sidecar-plugin');
  plugin = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/dvdi.ts', 'plugin', '--name', pluginName, '--backend', 'dir', '--root', pluginRoot.root, '--socket', pluginSocket],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  plugin.stdout!.on('data', (chunk: Buffer) => (pluginOutput += chunk.toString()));
  plugin.stderr!.on('data', (chunk: Buffer) => (pluginOutput += chunk.toString()));
  await waitFor('the plugin socket', async () => {
    if (plugin!.exitCode !== null) throw new Error(`plugin exited: ${pluginOutput}`);
    return (await readFile(pluginSocket).then(() => true, (e: NodeJS.ErrnoException) => e.code !== 'ENOENT'));
  });
});

test.after.always(async () => {
  for (const name of containers) await dockerd?.docker(['rm', '--force', name], { reject: false });
  await dockerd?.stop();
  if (plugin !== undefined && plugin.exitCode === null && plugin.signalCode === null) {
    const exited = once(plugin, 'exit');
    plugin.kill('SIGTERM');
    const timer = setTimeout(() => plugin?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await rm(pluginSocket, { force: true });
  await root?.cleanup();
  await pluginRoot?.cleanup();
});

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Mount points strictly below the mount root (the root's own bind is the test's). */
async function mountsBelowRoot(): Promise<string[]> {
  return (await readMountInfo()).map((m) => m.mountPoint).filter((mp) => mp.startsWith(`${root!.root}/`));
}

interface SidecarRun {
  name: string;
  url: string;
}

/** The documented run line, plus test settings. */
async function startSidecar(name: string, env: Record<string, string>, extra: string[] = [], port?: number): Promise<SidecarRun> {
  const d = dockerd!;
  port ??= await freePort();
  containers.push(name);
  const envArgs = Object.entries({ DVDI_MOUNT_ROOT: root!.root, DVDI_HTTP_ADDR: `127.0.0.1:${port}`, DVDI_NODE_ID: 'e2e-node', DVDI_LOG_LEVEL: 'debug', ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  await d.docker([
    'run', '-d', '--name', name,
    '--cap-add', 'SYS_ADMIN', '--security-opt', 'apparmor=unconfined',
    '-v', `${root!.root}:${root!.root}:rshared`,
    '-v', `${PLUGIN_SOCKET_DIR}:${PLUGIN_SOCKET_DIR}`,
    '-v', `${pluginRoot!.root}:${pluginRoot!.root}:rslave`,
    '--network', 'host',
    ...envArgs, ...extra, image,
  ]);
  return { name, url: `http://127.0.0.1:${port}` };
}

async function waitReady(sidecar: SidecarRun): Promise<void> {
  await waitFor(`${sidecar.name} ready`, async () => {
    const state = (await dockerd!.docker(['inspect', '--format', '{{.State.Status}}', sidecar.name])).stdout.trim();
    if (state !== 'running') throw new Error(`${sidecar.name} is ${state}: ${(await logs(sidecar.name)).slice(-3000)}`);
    try {
      return (await fetch(`${sidecar.url}/readyz`)).status === 200;
    } catch {
      return false;
    }
  }, 60_000, 200);
}

async function logs(name: string): Promise<string> {
  const r = await dockerd!.docker(['logs', name], { reject: false });
  return `${r.stdout}${r.stderr}`;
}

/** `docker wait`, bounded: resolves with the exit code. */
async function exitCodeOf(name: string, timeoutMs = 60_000): Promise<number> {
  return Number((await dockerd!.docker(['wait', name], { timeoutMs })).stdout.trim());
}

/**
 * An app container from the same image: reports how many mounts it sees at /data, waits with
 * `dvdi wait`, reports again, then runs `then`.
 */
async function startApp(name: string, volume: string, url: string, then: string, extra: string[] = []): Promise<void> {
  containers.push(name);
  const script =
    'echo before=$(grep -c " /data " /proc/self/mountinfo); ' +
    'exec node /app/dist/cli/dvdi.js wait --url "$READY_URL" --interval 100 --timeout 120 -- sh -c "$THEN"';
  await dockerd!.docker([
    'run', '-d', '--name', name, '--network', 'host',
    '-v', `${join(root!.root, volume)}:/data:rslave`,
    '-e', `READY_URL=${url}/readyz`, '-e', `THEN=echo after=$(grep -c " /data " /proc/self/mountinfo); ${then}`,
    ...extra, '--entrypoint', 'tini', image, '--', 'sh', '-c', script,
  ]);
}

test.serial('the image: tini then node as entrypoint, dvdi sidecar by default, a HEALTHCHECK, no dev dependencies', async (t) => {
  const d = dockerd!;
  const config = JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .Config}}', image])).stdout) as {
    Entrypoint: string[];
    Cmd: string[];
    Healthcheck?: { Test: string[] };
  };
  t.deepEqual(config.Entrypoint, ['tini', '--', 'node', ...(await imageNodeFlags()), '/app/dist/cli/dvdi.js']);
  t.deepEqual(config.Cmd, ['sidecar']);
  t.true(config.Healthcheck?.Test.join(' ').includes('/livez'));
  const modules = (await d.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'ls', image, '/app/node_modules'])).stdout.split('\n');
  for (const dev of ['typescript', 'ava', 'tsx', 'eslint', 'fast-check']) t.false(modules.includes(dev), `${dev} is a dev dependency`);
  // dist/ is a bundle: node_modules keeps what it loads from there (dockerode), not what it holds.
  t.true(modules.includes('dockerode'));
  for (const bundled of ['pino', 'ioredis', 'prom-client', 'zod']) t.false(modules.includes(bundled), `${bundled} is in the bundle`);
  const tools = await d.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', image, '-c', 'for c in tini mount umount losetup findmnt mkfs.ext4 mkfs.xfs; do command -v $c >/dev/null || echo missing $c; done; dvdi --version']);
  t.is(tools.stdout.trim(), JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).version as string);
});

test.serial('the app sees the volume only after ready, writes to it; docker stop exits 0 and leaves nothing mounted; a later task reads the data', async (t) => {
  const d = dockerd!;
  const volume = `data-${suffix}`;
  const payload = `written by task 1 ${suffix}`;
  t.teardown(async () => {
    if (!t.passed) t.log(`plugin output:\n${pluginOutput.slice(-3000)}`);
  });

  // The app starts first and waits: before the sidecar is ready it sees only the directory.
  const port = await freePort();
  const app = `app1-${suffix}`;
  await startApp(app, volume, `http://127.0.0.1:${port}`, `echo "${payload}" > /data/hello.txt && echo wrote && exec sleep 600`);
  await waitFor('the app to look at /data', async () => (await logs(app)).includes('before='), 30_000, 100);
  t.regex(await logs(app), /\bbefore=1\b/, 'before ready /data is only the bind of the empty directory');
  const sidecar = await startSidecar(`sidecar1-${suffix}`, { DVDI_VOLUME_NAME: volume, DVDI_VOLUME_DRIVER: pluginName }, ['--health-interval', '1s', '--health-start-period', '0s'], port);
  await waitFor('the app to write', async () => (await logs(app)).includes('wrote'), 90_000, 200);
  const appLog = await logs(app);
  t.regex(appLog, /is ready/);
  t.regex(appLog, /\bafter=2\b/, 'after ready the volume is mounted over the app\'s /data');
  t.is(await readFile(join(root!.root, volume, 'hello.txt'), 'utf8'), `${payload}\n`);
  // The host's copy of the bind the sidecar made in its container is nosuid,nodev too (issue 12).
  const hostBind = (await readMountInfo()).find((m) => m.mountPoint === join(root!.root, volume));
  t.true(hostBind !== undefined && hostBind.options.includes('nosuid') && hostBind.options.includes('nodev'), hostBind?.options.join(','));

  await waitFor('the HEALTHCHECK to report healthy', async () => (await d.docker(['inspect', '--format', '{{.State.Health.Status}}', sidecar.name])).stdout.trim() === 'healthy', 30_000, 200);

  const status = (await (await fetch(`${sidecar.url}/status`)).json()) as { volumes: { name: string }[] };
  t.deepEqual(status.volumes.map((v) => v.name), [volume]);

  await d.docker(['stop', '--time', '20', sidecar.name], { timeoutMs: 60_000 });
  const state = JSON.parse((await d.docker(['inspect', '--format', '{{json .State}}', sidecar.name])).stdout) as { ExitCode: number; OOMKilled: boolean };
  t.is(state.ExitCode, 0, await logs(sidecar.name));
  t.regex(await logs(sidecar.name), /clean shutdown/);
  t.deepEqual(await mountsBelowRoot(), [], 'nothing mounted under the mount root after docker stop');
  t.deepEqual((await readMountInfo()).filter((m) => m.mountPoint.startsWith(`${pluginRoot!.root}/`)).map((m) => m.mountPoint), [], 'the plugin unmounted too');
  await d.docker(['rm', '--force', app]);

  // a later task on the same volume finds the data
  const laterPort = await freePort();
  await startApp(`app2-${suffix}`, volume, `http://127.0.0.1:${laterPort}`, 'cat /data/hello.txt');
  const later = await startSidecar(`sidecar2-${suffix}`, { DVDI_VOLUME_NAME: volume, DVDI_VOLUME_DRIVER: pluginName }, [], laterPort);
  t.is(await exitCodeOf(`app2-${suffix}`), 0);
  const laterLog = await logs(`app2-${suffix}`);
  t.true(laterLog.includes(payload), laterLog);
  await d.docker(['stop', '--time', '20', later.name], { timeoutMs: 60_000 });
  t.is(await exitCodeOf(later.name), 0);
  t.deepEqual(await mountsBelowRoot(), []);
});

test.serial('killing the app container (no signal to the sidecar) makes the sidecar detach and exit 0', async (t) => {
  const d = dockerd!;
  const volume = `killed-${suffix}`;
  const app = `app3-${suffix}`;
  containers.push(app);
  await d.docker(['run', '-d', '--name', app, '--network', 'none', '-v', `${join(root!.root, volume)}:/data:rslave`, '--entrypoint', 'tini', image, '--', 'sleep', '600']);
  const sidecar = await startSidecar(`sidecar3-${suffix}`, { DVDI_VOLUME_NAME: volume, DVDI_VOLUME_DRIVER: pluginName, DVDI_TASK_CONTAINER: app }, ['-v', `${dockerd!.socket}:/var/run/docker.sock`]);
  await waitReady(sidecar);
  t.deepEqual(await mountsBelowRoot(), [join(root!.root, volume)]);
  const status = (await (await fetch(`${sidecar.url}/status`)).json()) as { docker?: { connected: boolean; name: string } };
  t.is(status.docker?.name, app);
  t.true(status.docker?.connected);

  await d.docker(['kill', app]);
  t.is(await exitCodeOf(sidecar.name), 0, await logs(sidecar.name));
  const sidecarLog = await logs(sidecar.name);
  t.regex(sidecarLog, /the task container has ended/);
  t.regex(sidecarLog, /clean shutdown/);
  t.deepEqual(await mountsBelowRoot(), []);
});

test.serial('volume requests given only as Docker labels on the app container are honoured', async (t) => {
  const d = dockerd!;
  const volume = `labelled-${suffix}`;
  const app = `app4-${suffix}`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await startApp(app, volume, url, 'echo labelled > /data/l.txt && echo wrote && exec sleep 600', [
    '--label', `DVDI_VOLUME_NAME=${volume}`,
    '--label', `DVDI_VOLUME_DRIVER=${pluginName}`,
    '--label', 'DVDI_VOLUME_CONTAINERPATH=/data',
  ]);
  containers.push(`sidecar4-${suffix}`);
  // no DVDI_VOLUME_* in the sidecar's environment
  await d.docker([
    'run', '-d', '--name', `sidecar4-${suffix}`,
    '--cap-add', 'SYS_ADMIN', '--security-opt', 'apparmor=unconfined',
    '-v', `${root!.root}:${root!.root}:rshared`, '-v', `${PLUGIN_SOCKET_DIR}:${PLUGIN_SOCKET_DIR}`,
    '-v', `${pluginRoot!.root}:${pluginRoot!.root}:rslave`, '-v', `${dockerd!.socket}:/var/run/docker.sock`,
    '--network', 'host',
    // The mount root belongs to the node ID the earlier sidecars recorded (ROOT/.dvdi/node-id).
    '-e', `DVDI_MOUNT_ROOT=${root!.root}`, '-e', 'DVDI_NODE_ID=e2e-node', '-e', `DVDI_HTTP_ADDR=127.0.0.1:${port}`, '-e', `DVDI_TASK_CONTAINER=${app}`,
    image,
  ]);
  await waitFor('the app to write', async () => (await logs(app)).includes('wrote'), 90_000, 200);
  t.is(await readFile(join(root!.root, volume, 'l.txt'), 'utf8'), 'labelled\n');
  const status = (await (await fetch(`${url}/status`)).json()) as { volumes: { name: string }[] };
  t.deepEqual(status.volumes.map((v) => v.name), [volume]);

  // removing the app (die, then destroy) ends the sidecar too
  await d.docker(['rm', '--force', app]);
  t.is(await exitCodeOf(`sidecar4-${suffix}`), 0, await logs(`sidecar4-${suffix}`));
  t.deepEqual(await mountsBelowRoot(), []);
});

test.serial('without CAP_SYS_ADMIN the sidecar exits 3 naming the capability, without a stack trace', async (t) => {
  const d = dockerd!;
  const r = await d.docker(
    ['run', '--rm', '--security-opt', 'apparmor=unconfined', '-v', `${root!.root}:${root!.root}:rshared`, '--network', 'none',
      '-e', `DVDI_MOUNT_ROOT=${root!.root}`, '-e', 'DVDI_VOLUME_NAME=nocap', '-e', `DVDI_VOLUME_DRIVER=${pluginName}`, image],
    { reject: false, timeoutMs: 60_000 },
  );
  t.is(r.exitCode, 3, r.stderr);
  t.regex(r.stderr, /CAP_SYS_ADMIN/);
  t.regex(r.stderr, /--cap-add SYS_ADMIN/);
  t.notRegex(r.stderr, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
  t.deepEqual(await mountsBelowRoot(), []);
});
