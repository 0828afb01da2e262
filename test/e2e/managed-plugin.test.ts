// A real managed (v2) volume plugin: the reference plugin packaged as Docker packages plugins —
// a rootfs (exported from the sidecar test image) and a config.json with PropagatedMount — made
// with `docker plugin create` offline and enabled in a private dockerd. The sidecar and
// `dvdi reconcile`, run on the host with no legacy socket to find, discover it through the
// engine (`GET /plugins`), reach it at /run/docker/plugins/<id>/<socket>, bind the volume from
// the propagated mount and unmount it again. Run it under `flock /tmp/dvdi-heavy.lock`.
import test from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { readMountInfo } from '../../src/common/mountinfo.js';
import { runDvdi, startDvdi, waitFor } from '../helpers/cli.js';
import { E2E_PLUGIN_PREFIX, startDockerd, type PrivateDockerd } from '../helpers/dockerd.js';
import { makeSharedRoot, makeTempDir, type TempRoot } from '../helpers/mount-root.js';
import { buildSidecarImage } from './sidecar-image.js';

const PLUGIN = `${E2E_PLUGIN_PREFIX}managed${randomBytes(3).toString('hex')}`;
const SOCKET = 'dvdiref.sock';
let dockerd: PrivateDockerd | undefined;
let root: TempRoot | undefined;
let pluginDir = '';
let pluginId = '';
let dockerRootDir = '';
const children: Array<ReturnType<typeof startDvdi>> = [];

test.before(async (t) => {
  t.timeout(900_000);
  dockerd = await startDockerd({ log: (line) => t.log(line) });
  const { image } = await buildSidecarImage(dockerd.docker, (line) => t.log(line));
  pluginDir = await makeTempDir('managed-plugin');
  const rootfs = join(pluginDir, 'rootfs');
  await mkdir(rootfs);
  const container = (await dockerd.docker(['create', image])).stdout.trim();
  try {
    // `docker export` streams the container's filesystem: the rootfs a managed plugin runs in.
    const exported = execa('docker', ['-H', dockerd.dockerHost, 'export', container], { buffer: false });
    const untar = execa('tar', ['-x', '-C', rootfs], { stdin: 'pipe' });
    exported.stdout.pipe(untar.stdin);
    await Promise.all([exported, untar]);
  } finally {
    await dockerd.docker(['rm', '-f', container], { reject: false });
  }
  // The plugin serves its socket in /run/docker/plugins (Docker binds /run/docker/plugins/<id>
  // there) and keeps state and mounts under /data, the PropagatedMount: its mounts appear on
  // the host under <DockerRootDir>/plugins/<id>/propagated-mount.
  const config = {
    description: 'dvdi reference volume plugin (e2e test)',
    documentation: 'https://github.com/',
    entrypoint: ['/usr/local/bin/node', '/app/dist/cli/dvdi.js', 'plugin', '--name', 'dvdiref', '--backend', 'dir', '--root', '/data', '--socket', `/run/docker/plugins/${SOCKET}`, '--journal', '/data/journal.jsonl'],
    workdir: '/app',
    env: [{ name: 'NODE_ENV', description: '', settable: null, value: 'production' }],
    interface: { types: ['docker.volumedriver/1.0'], socket: SOCKET },
    network: { type: 'host' },
    propagatedMount: '/data',
    linux: { capabilities: ['CAP_SYS_ADMIN'], allowAllDevices: false, devices: null },
    mounts: null,
  };
  await writeFile(join(pluginDir, 'config.json'), JSON.stringify(config, null, 2));
  await dockerd.docker(['plugin', 'create', PLUGIN, pluginDir], { timeoutMs: 300_000 });
  await dockerd.docker(['plugin', 'enable', PLUGIN], { timeoutMs: 120_000 });
  pluginId = (await dockerd.docker(['plugin', 'inspect', '--format', '{{.Id}}', PLUGIN])).stdout.trim();
  dockerRootDir = (await dockerd.docker(['info', '--format', '{{.DockerRootDir}}'])).stdout.trim();
  root = await makeSharedRoot('managed');
});

test.after.always(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.finished));
  await root?.cleanup();
  if (dockerd !== undefined) {
    await dockerd.docker(['plugin', 'disable', '--force', PLUGIN], { reject: false, timeoutMs: 60_000 });
    await dockerd.docker(['plugin', 'rm', '--force', PLUGIN], { reject: false, timeoutMs: 60_000 });
    await dockerd.stop();
  }
  if (pluginDir !== '') await execa('rm', ['-rf', pluginDir], { reject: false });
});

function env(extra: Record<string, string>): Record<string, string> {
  return {
    DVDI_MOUNT_ROOT: root!.root,
    // No legacy plugin of that name anywhere: only the engine knows it.
    DVDI_PLUGIN_DIRS: join(pluginDir, 'no-legacy-plugins'),
    DOCKER_HOST: dockerd!.dockerHost,
    DVDI_VOLUME_DRIVER: PLUGIN,
    DVDI_HTTP_ADDR: '127.0.0.1:0',
    DVDI_NODE_ID: 'managed-node',
    DVDI_LOG_LEVEL: 'debug',
    DVDI_LEASE_TTL_MS: '1500',
    ...extra,
  };
}

async function sidecar(extra: Record<string, string>): Promise<{ child: ReturnType<typeof startDvdi>; url: string }> {
  const child = startDvdi(['sidecar'], env(extra));
  children.push(child);
  let url = '';
  await waitFor('the sidecar HTTP url', () => {
    const line = child.output.stderr.split('\n').find((l) => l.includes('http endpoints listening'));
    if (line !== undefined) url = (JSON.parse(line) as { url: string }).url;
    if (child.exitCode !== null) throw new Error(`sidecar exited (${child.exitCode}): ${child.output.stderr}`);
    return url !== '';
  });
  await waitFor('the sidecar ready', async () => {
    if (child.exitCode !== null) throw new Error(`sidecar exited (${child.exitCode}): ${child.output.stderr}`);
    return (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;
  }, 90_000, 200);
  return { child, url };
}

const isMounted = async (path: string): Promise<boolean> => (await readMountInfo()).some((m) => m.mountPoint === path);

test.serial('the sidecar discovers the managed plugin through the engine, binds from its PropagatedMount, and unmounts on SIGTERM', async (t) => {
  const propagated = join(dockerRootDir, 'plugins', pluginId, 'propagated-mount');
  const { child, url } = await sidecar({ DVDI_VOLUME_NAME: 'mvol1', DVDI_TASK_ID: 'managed-1' });
  t.regex(child.output.stderr, new RegExp(`managed plugin ${PLUGIN}:latest`), 'found as a managed plugin');
  const status = (await (await fetch(`${url}/status`)).json()) as { volumes: Array<{ mountpoint?: string }> };
  t.is(status.volumes[0]?.mountpoint, join(propagated, 'mounts', 'mvol1'), "the plugin's /data/mounts/mvol1 seen on the host");
  t.true(await isMounted(join(propagated, 'mounts', 'mvol1')), "the plugin's mount propagated to the host");
  await writeFile(join(root!.root, 'mvol1', 'through.txt'), 'managed');
  t.is(await readFile(join(propagated, 'volumes', 'mvol1', 'through.txt'), 'utf8'), 'managed', "the data is in the plugin's volume directory");
  child.kill('SIGTERM');
  const exit = await child.finished;
  t.is(exit.code, 0, exit.stderr);
  t.false(await isMounted(join(root!.root, 'mvol1')));
  await waitFor('the plugin to unmount', async () => !(await isMounted(join(propagated, 'mounts', 'mvol1'))), 10_000);
});

test.serial('dvdi reconcile reaches the managed plugin through the engine and finishes a killed sidecar', async (t) => {
  const propagated = join(dockerRootDir, 'plugins', pluginId, 'propagated-mount');
  const { child } = await sidecar({ DVDI_VOLUME_NAME: 'mvol2', DVDI_TASK_ID: 'managed-2' });
  child.kill('SIGKILL');
  await child.finished;
  t.true(await isMounted(join(propagated, 'mounts', 'mvol2')), 'a killed sidecar leaves the mount');
  await new Promise((r) => setTimeout(r, 1800)); // one lease TTL
  const result = await runDvdi(['reconcile'], env({}));
  t.is(result.code, 0, `${result.stdout}\n${result.stderr}`);
  const report = JSON.parse(result.stdout) as { unmounted: Array<{ name: string }>; errors: unknown[] };
  t.deepEqual(report.unmounted.map((v) => v.name), ['mvol2']);
  t.deepEqual(report.errors, []);
  t.false(await isMounted(join(root!.root, 'mvol2')));
  t.false(await isMounted(join(propagated, 'mounts', 'mvol2')), 'the driver Unmount reached the managed plugin');
  const journal = (await readFile(join(propagated, 'journal.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op: string; volume: string; result: string });
  t.deepEqual(journal.filter((l) => l.volume === 'mvol2').map((l) => `${l.op} ${l.result}`), ['Mount ok', 'Unmount ok']);
});
