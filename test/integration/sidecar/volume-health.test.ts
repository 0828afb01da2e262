// Readiness follows the mount, with the reference plugin and real mounts: a bind that leaves the
// mount table turns /readyz 503 and dvdi_volume_healthy 0, and both turn back once the bind is
// there again; a bind whose source is deleted underneath (mountinfo `//deleted`) is dead too; a
// mount root whose path the kernel writes escaped (a space, a backslash) is read as it is.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '../../helpers/cli.js';
import { rigsFor } from '../../helpers/node-rig.js';

const rig = rigsFor(test);

async function healthy(url: string, volume: string): Promise<string | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return /dvdi_volume_healthy\{volume="([^"]+)",driver="[^"]+"\} (\d)/.exec(text.split('\n').find((l) => l.startsWith(`dvdi_volume_healthy{volume="${volume}"`)) ?? '')?.[2];
}

test('a bind gone from the mount table: 503 and gauge 0; bound again: 200 and gauge 1', async (t) => {
  const node = await rig();
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'hv1', DVDI_TASK_ID: 'health-1' });
  await sidecar.waitReady();
  await waitFor('gauge 1', async () => (await healthy(sidecar.url, 'hv1')) === '1');
  const hostPath = join(node.root, 'hv1');
  const pluginMount = join(node.temp.dir, 'plugin', 'mounts', 'hv1');
  execFileSync('umount', ['-l', hostPath]);
  await waitFor('readyz 503', async () => (await fetch(`${sidecar.url}/readyz`)).status === 503, 20_000, 100);
  const body = (await (await fetch(`${sidecar.url}/readyz`)).json()) as { volumes: Array<{ state: string; reason?: string }> };
  t.is(body.volumes[0]?.state, 'dead');
  t.regex(body.volumes[0]?.reason ?? '', /gone from the mount table/);
  t.is(await healthy(sidecar.url, 'hv1'), '0');
  t.regex(await (await fetch(`${sidecar.url}/metrics`)).text(), /^dvdi_ready 0$/m);

  execFileSync('mount', ['--bind', pluginMount, hostPath]);
  await waitFor('readyz 200 again', async () => (await fetch(`${sidecar.url}/readyz`)).status === 200, 20_000, 100);
  t.is(await healthy(sidecar.url, 'hv1'), '1');
  t.regex(await (await fetch(`${sidecar.url}/metrics`)).text(), /^dvdi_ready 1$/m);
  t.regex(sidecar.child.output.stderr, /volume healthy again/);
  t.is((await sidecar.stop()).code, 0);
});

test('a bind whose source is deleted underneath is dead (mountinfo //deleted)', async (t) => {
  const node = await rig();
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'hv2', DVDI_TASK_ID: 'health-2' });
  await sidecar.waitReady();
  // The dir backend keeps the data in plugin/volumes/hv2 and bind-mounts it: remove it.
  await rm(join(node.temp.dir, 'plugin', 'volumes', 'hv2'), { recursive: true, force: true });
  await waitFor('readyz 503', async () => (await fetch(`${sidecar.url}/readyz`)).status === 503, 20_000, 100);
  const body = (await (await fetch(`${sidecar.url}/readyz`)).json()) as { volumes: Array<{ state: string; reason?: string }> };
  t.regex(body.volumes[0]?.reason ?? '', /source was deleted underneath .*\/\/deleted/);
  t.is(sidecar.child.output.stderr.split('\n').filter((l) => l.includes('volume is dead: not ready')).length, 1);
  await sidecar.stop();
});

test('a mount root with a space and a backslash: healthy while bound, dead once the bind is gone', async (t) => {
  const node = await rig({ rootName: 'mount root\\x' });
  t.true(node.root.endsWith('/mount root\\x'));
  t.true((await readFile('/proc/self/mountinfo', 'utf8')).includes('/mount\\040root\\134x'), 'mountinfo writes the root escaped');
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'hv3', DVDI_TASK_ID: 'health-3' });
  await sidecar.waitReady();
  // The gauge is set by a check: 1 means the check found the bind under its escaped name.
  await waitFor('gauge 1', async () => (await healthy(sidecar.url, 'hv3')) === '1');
  t.is((await fetch(`${sidecar.url}/readyz`)).status, 200);
  execFileSync('umount', ['-l', join(node.root, 'hv3')]);
  await waitFor('readyz 503', async () => (await fetch(`${sidecar.url}/readyz`)).status === 503, 20_000, 100);
  t.is(await healthy(sidecar.url, 'hv3'), '0');
  t.regex(sidecar.child.output.stderr, /gone from the mount table/);
  await sidecar.stop();
});
