// Managed (v2) plugin discovery against a fake engine: name normalization, the socket and the
// mount point translation moby applies, the Enabled requirement, and the lookup order.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerRuntime, ManagedPlugin } from '../../../src/docker/container-runtime.js';
import { DockerUnavailableError } from '../../../src/docker/docker-errors.js';
import {
  ChainedPluginResolver,
  ManagedPluginResolver,
  findManagedPlugin,
  managedPluginEndpoint,
  normalizePluginReference,
} from '../../../src/docker/managed-plugin-resolver.js';
import { DirectoryPluginResolver } from '../../../src/driver/plugin-discovery.js';
import { hostPathOf } from '../../../src/driver/plugin-endpoint.js';
import { ExitCode } from '../../../src/common/errors.js';

const ID = 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2';

function plugin(overrides: Partial<ManagedPlugin> = {}): ManagedPlugin {
  return {
    id: ID,
    name: 'rexray/ebs:latest',
    enabled: true,
    socket: 'rexray.sock',
    types: ['docker.volumedriver/1.0'],
    propagatedMount: '/var/lib/rexray/volumes',
    ...overrides,
  };
}

function fakeRuntime(plugins: ManagedPlugin[] | Error, rootDir = '/var/lib/docker'): ContainerRuntime & { listCalls: number } {
  const runtime = {
    listCalls: 0,
    inspectContainer: () => Promise.reject(new Error('not used')),
    containerEndEvents: () => Promise.reject(new Error('not used')),
    listPlugins: () => {
      runtime.listCalls += 1;
      return plugins instanceof Error ? Promise.reject(plugins) : Promise.resolve(plugins);
    },
    dockerRootDir: () => Promise.resolve(rootDir),
  };
  return runtime;
}

test('plugin references are normalized as Docker stores them', (t) => {
  t.is(normalizePluginReference('rexray/ebs'), 'rexray/ebs:latest');
  t.is(normalizePluginReference('rexray/ebs:0.11.4'), 'rexray/ebs:0.11.4');
  t.is(normalizePluginReference('docker.io/rexray/ebs:latest'), 'rexray/ebs:latest');
  t.is(normalizePluginReference('docker.io/library/sshfs'), 'sshfs:latest');
  t.is(normalizePluginReference('registry.example:5000/team/vol'), 'registry.example:5000/team/vol:latest');
  t.is(normalizePluginReference('team/vol@sha256:abc'), 'team/vol@sha256:abc');
});

test('a plugin is found by name in any spelling, or by a unique ID prefix', (t) => {
  const list = [plugin(), plugin({ id: 'ff'.repeat(32), name: 'vieux/sshfs:latest' })];
  t.is(findManagedPlugin(list, 'rexray/ebs')?.id, ID);
  t.is(findManagedPlugin(list, 'docker.io/rexray/ebs:latest')?.id, ID);
  t.is(findManagedPlugin(list, ID.slice(0, 12))?.name, 'rexray/ebs:latest');
  t.is(findManagedPlugin(list, 'rexray/ebs:other'), undefined);
  t.is(findManagedPlugin(list, 'rexray'), undefined);
});

test('the endpoint is the socket under /run/docker/plugins/<Id>/ and the mount point is translated as moby ScopedPath does', (t) => {
  const endpoint = managedPluginEndpoint('rexray/ebs', plugin(), '/var/lib/docker');
  t.is(endpoint.transport, 'unix');
  t.is(endpoint.address, `/run/docker/plugins/${ID}/rexray.sock`);
  t.is(endpoint.name, 'rexray/ebs');
  const home = `/var/lib/docker/plugins/${ID}`;
  t.is(hostPathOf(endpoint, '/var/lib/rexray/volumes/vol1/data'), `${home}/propagated-mount/vol1/data`);
  t.is(hostPathOf(endpoint, '/var/lib/rexray/volumes'), `${home}/propagated-mount`);
  t.is(hostPathOf(endpoint, '/mnt/elsewhere'), `${home}/rootfs/mnt/elsewhere`);
  t.is(hostPathOf(endpoint, '/var/lib/rexray/volumesX'), `${home}/rootfs/var/lib/rexray/volumesX`, 'a sibling sharing the prefix is not under the propagated mount (moby compares bare strings; we require a path boundary)');
});

test('without a PropagatedMount every mount point is in the rootfs; with "/" every one is propagated', (t) => {
  const none = managedPluginEndpoint('p', plugin({ propagatedMount: '' }), '/data/docker');
  t.is(hostPathOf(none, '/mnt/vol1'), `/data/docker/plugins/${ID}/rootfs/mnt/vol1`);
  const all = managedPluginEndpoint('p', plugin({ propagatedMount: '/' }), '/data/docker');
  t.is(hostPathOf(all, '/mnt/vol1'), `/data/docker/plugins/${ID}/propagated-mount/mnt/vol1`);
});

test('the resolver uses the engine data root and socket directory it is given', async (t) => {
  const resolver = new ManagedPluginResolver({ runtime: fakeRuntime([plugin()], '/srv/docker'), dockerHost: 'unix:///x.sock', socketDir: '/tmp/plugins' });
  const endpoint = await resolver.resolve('rexray/ebs:latest');
  t.is(endpoint?.address, `/tmp/plugins/${ID}/rexray.sock`);
  t.is(endpoint?.propagatedMount?.onHost, `/srv/docker/plugins/${ID}/propagated-mount`);
});

test('a disabled plugin is a clear driver error naming docker plugin enable', async (t) => {
  const resolver = new ManagedPluginResolver({ runtime: fakeRuntime([plugin({ enabled: false })]), dockerHost: 'unix:///x.sock' });
  const error = await t.throwsAsync(resolver.resolve('rexray/ebs'));
  t.is((error as { code?: string }).code, 'DVDI_PLUGIN_DISABLED');
  t.is((error as { exitCode?: number }).exitCode, ExitCode.MountFailed);
  t.regex(error.message, /docker plugin enable rexray\/ebs:latest/);
});

test('a plugin that is not a volume driver is refused', async (t) => {
  const resolver = new ManagedPluginResolver({ runtime: fakeRuntime([plugin({ types: ['docker.networkdriver/1.0'] })]), dockerHost: 'unix:///x.sock' });
  const error = await t.throwsAsync(resolver.resolve('rexray/ebs'));
  t.is((error as { code?: string }).code, 'DVDI_PLUGIN_NOT_VOLUME_DRIVER');
});

test('an unreachable engine is "not found here", and describe() says why', async (t) => {
  const resolver = new ManagedPluginResolver({
    runtime: fakeRuntime(new DockerUnavailableError('unix:///gone.sock', 'list plugins', 'connect ENOENT')),
    dockerHost: 'unix:///gone.sock',
  });
  t.is(await resolver.resolve('rexray/ebs'), undefined);
  t.regex(resolver.describe('rexray/ebs'), /no managed plugin rexray\/ebs:latest in the Docker engine at unix:\/\/\/gone\.sock \(could not ask it: .*ENOENT/);
  t.is(await new ManagedPluginResolver({ runtime: fakeRuntime([]), dockerHost: 'unix:///x.sock' }).resolve('rexray/ebs'), undefined);
});

test('the chain asks the plugin directories first, then Docker', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-chain-'));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(dir, 'rexray.sock'), resolve));
  t.teardown(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const runtime = fakeRuntime([plugin({ name: 'rexray:latest' }), plugin({ id: 'ee'.repeat(32) })]);
  const chain = new ChainedPluginResolver([new DirectoryPluginResolver([dir]), new ManagedPluginResolver({ runtime, dockerHost: 'unix:///x.sock' })]);
  const legacy = await chain.resolve('rexray');
  t.is(legacy?.address, join(dir, 'rexray.sock'), 'a legacy socket wins over a managed plugin of the same name');
  t.is(runtime.listCalls, 0);
  const managed = await chain.resolve('rexray/ebs:latest');
  t.is(managed?.address, `/run/docker/plugins/${'ee'.repeat(32)}/rexray.sock`);
  t.is(await chain.resolve('nothing'), undefined);
  t.regex(chain.describe('nothing'), /looked for nothing\.sock.*; no managed plugin nothing:latest/);
});
