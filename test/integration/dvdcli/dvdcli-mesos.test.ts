// Issue 8 acceptance on one node: the argv shapes mesos-module-dvdi and Mesos' docker/volume
// isolator build, run as real `dvdcli` processes against the reference plugin (real socket,
// real mounts, journal); Mesos' call pattern (mount per container, one unmount); dvdcli and a
// sidecar sharing one node mount; usage errors and hostile names.
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DVDCLI, runDvdi, type Finished } from '../../helpers/cli.js';
import { rigsFor, type NodeRig } from '../../helpers/node-rig.js';
import { readMountInfo } from '../../../src/common/mountinfo.js';

const rig = rigsFor(test);

async function dvdcli(node: NodeRig, args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return runDvdi(args, { ...node.env, ...env }, DVDCLI);
}

/** What mesos-module-dvdi and Mesos do with the result: trimmed stdout, empty = failure. */
function mountPointOf(result: Finished): string {
  return result.stdout.trim();
}

test('mesos-module-dvdi argv: mount prints only ROOT/<name>; options reach Create; unmount unmounts', async (t) => {
  const node = await rig({ backend: 'loop' });
  // The module splits DVDI_VOLUME_OPTS on commas and passes one --volumeopts per item.
  const mounted = await dvdcli(node, ['mount', `--volumedriver=${node.driver}`, '--volumename=modvol', '--volumeopts=size=0.4', '--volumeopts=newfstype=xfs']);
  t.is(mounted.code, 0, mounted.stderr);
  t.is(mounted.stdout, `${join(node.root, 'modvol')}\n`, 'stdout is the mount point alone, one line');
  const fs = (await readMountInfo()).find((m) => m.mountPoint === mountPointOf(mounted));
  t.is(fs?.fsType, 'xfs', 'newfstype reached the driver Create');
  await writeFile(join(mountPointOf(mounted), 'hello.txt'), 'data');

  const got = await dvdcli(node, ['get', `--volumedriver=${node.driver}`, '--volumename=modvol']);
  t.is(got.code, 0, got.stderr);
  const volume = JSON.parse(got.stdout) as { Name: string; Status: { sizeGiB: number } };
  t.is(volume.Name, 'modvol');
  t.is(volume.Status.sizeGiB, 0.4, 'size reached the driver Create');

  const unmounted = await dvdcli(node, ['unmount', `--volumedriver=${node.driver}`, '--volumename=modvol']);
  t.is(unmounted.code, 0, unmounted.stderr);
  t.is(unmounted.stdout, '');
  t.false(await node.isMounted(join(node.root, 'modvol')));
  const journal = node.journal();
  t.is(journal.filter((l) => l.op === 'Mount' && l.result === 'ok').length, 1);
  t.is(journal.filter((l) => l.op === 'Unmount' && l.result === 'ok').length, 1);
});

test("Mesos' docker/volume pattern: mount per container (3x, comma-joined opts), one unmount = one Mount and one Unmount with the same ID", async (t) => {
  const node = await rig();
  const argv = ['mount', `--volumedriver=${node.driver}`, '--volumename=pervol', '--volumeopts=size=1,overwritefs=false'];
  const results = [];
  for (let container = 0; container < 3; container++) results.push(await dvdcli(node, argv));
  for (const r of results) t.is(r.code, 0, r.stderr);
  const paths = new Set(results.map(mountPointOf));
  t.deepEqual([...paths], [join(node.root, 'pervol')], 'every container gets the same path');
  t.is(node.journal().filter((l) => l.op === 'Mount').length, 1, 'idempotent per node: one driver Mount');

  const path = await dvdcli(node, ['path', `--volumedriver=${node.driver}`, '--volumename=pervol']);
  t.is(path.code, 0, path.stderr);
  t.is(path.stdout, `${join(node.root, 'pervol')}\n`);

  // The last container is gone: Mesos calls unmount once.
  const unmounted = await dvdcli(node, ['unmount', `--volumedriver=${node.driver}`, '--volumename=pervol']);
  t.is(unmounted.code, 0, unmounted.stderr);
  t.false(await node.isMounted(join(node.root, 'pervol')), 'the volume is unmounted');
  const journal = node.journal();
  const mounts = journal.filter((l) => l.op === 'Mount' && l.result === 'ok');
  const unmounts = journal.filter((l) => l.op === 'Unmount' && l.result === 'ok');
  t.is(mounts.length, 1);
  t.is(unmounts.length, 1);
  t.is(unmounts[0]!.id, mounts[0]!.id, 'Unmount carries the Mount ID');

  // A second unmount (a retried cleanup) is harmless and sends nothing to the driver.
  const again = await dvdcli(node, ['unmount', `--volumedriver=${node.driver}`, '--volumename=pervol']);
  t.is(again.code, 0, again.stderr);
  t.is(node.journal().filter((l) => l.op === 'Unmount').length, 1);

  // path of a volume not mounted on this node: exit 1, never 0 with empty stdout.
  const gone = await dvdcli(node, ['path', `--volumedriver=${node.driver}`, '--volumename=pervol']);
  t.is(gone.code, 1);
  t.is(gone.stdout, '');
  t.regex(gone.stderr, /dvdcli: error: volume pervol is not mounted on this node/);
});

test('--explicitCreate=true (module) and --explicitcreate (dvdcli) refuse a missing volume; an existing one mounts', async (t) => {
  const node = await rig();
  for (const flag of ['--explicitCreate=true', '--explicitcreate', '--explicitcreate=T']) {
    const missing = await dvdcli(node, ['mount', `--volumedriver=${node.driver}`, '--volumename=absentvol', flag]);
    t.is(missing.code, 1, flag);
    t.is(missing.stdout, '', flag);
    t.regex(missing.stderr, /volume absentvol does not exist in driver .* explicit create is on/, flag);
  }
  t.is(node.journal().length, 0, 'nothing mounted');

  const created = await dvdcli(node, ['create', `--volumedriver=${node.driver}`, '--volumename=absentvol']);
  t.is(created.code, 0, created.stderr);
  const mounted = await dvdcli(node, ['mount', `--volumedriver=${node.driver}`, '--volumename=absentvol', '--explicitCreate=true']);
  t.is(mounted.code, 0, mounted.stderr);
  t.is(mountPointOf(mounted), join(node.root, 'absentvol'));

  const listed = await dvdcli(node, ['list', `--volumedriver=${node.driver}`]);
  t.is(listed.code, 0, listed.stderr);
  t.deepEqual((JSON.parse(listed.stdout) as Array<{ Name: string }>).map((v) => v.Name), ['absentvol']);

  const busy = await dvdcli(node, ['remove', `--volumedriver=${node.driver}`, '--volumename=absentvol']);
  t.is(busy.code, 1, 'remove is refused while the node claim holds the volume');
  t.regex(busy.stderr, /in use on node node-a: not removed/);
  t.is((await dvdcli(node, ['unmount', `--volumedriver=${node.driver}`, '--volumename=absentvol'])).code, 0);
  const removed = await dvdcli(node, ['remove', `--volumedriver=${node.driver}`, '--volumename=absentvol']);
  t.is(removed.code, 0, removed.stderr);
  const get = await dvdcli(node, ['get', `--volumedriver=${node.driver}`, '--volumename=absentvol']);
  t.is(get.code, 1);
  t.is(get.stdout, '');
});

test('dvdcli and a sidecar on one node: dvdcli unmount leaves the sidecar its volume; the sidecar SIGTERM unmounts exactly once', async (t) => {
  const node = await rig();
  const mounted = await dvdcli(node, ['mount', `--volumedriver=${node.driver}`, '--volumename=mixvol']);
  t.is(mounted.code, 0, mounted.stderr);
  const hostPath = join(node.root, 'mixvol');
  await writeFile(join(hostPath, 'from-mesos.txt'), 'mesos');

  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'mixvol', DVDI_TASK_ID: 'pod-task' });
  await sidecar.waitReady();
  t.is(node.journal().filter((l) => l.op === 'Mount').length, 1, 'the sidecar joined the node mount');

  const unmounted = await dvdcli(node, ['unmount', `--volumedriver=${node.driver}`, '--volumename=mixvol']);
  t.is(unmounted.code, 0, unmounted.stderr);
  t.true(await node.isMounted(hostPath), 'the sidecar still holds the volume');
  t.is(await readFile(join(hostPath, 'from-mesos.txt'), 'utf8'), 'mesos');
  t.is(node.journal().filter((l) => l.op === 'Unmount').length, 0);

  const exit = await sidecar.stop();
  t.is(exit.code, 0, exit.stderr);
  t.false(await node.isMounted(hostPath));
  const journal = node.journal();
  const unmounts = journal.filter((l) => l.op === 'Unmount' && l.result === 'ok');
  t.is(unmounts.length, 1, 'exactly one driver Unmount');
  t.is(unmounts[0]!.id, journal.find((l) => l.op === 'Mount')!.id);
});

test('a sidecar first, then dvdcli: dvdcli joins without a second Mount; the sidecar leaving keeps the dvdcli claim mounted', async (t) => {
  const node = await rig();
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'joinvol', DVDI_TASK_ID: 'pod-first' });
  await sidecar.waitReady();
  const mounted = await dvdcli(node, ['mount', `--volumedriver=${node.driver}`, '--volumename=joinvol']);
  t.is(mounted.code, 0, mounted.stderr);
  t.is(mountPointOf(mounted), join(node.root, 'joinvol'));
  t.is((await sidecar.stop()).code, 0);
  t.true(await node.isMounted(join(node.root, 'joinvol')), 'the dvdcli claim keeps it');
  t.is((await dvdcli(node, ['unmount', `--volumedriver=${node.driver}`, '--volumename=joinvol'])).code, 0);
  t.false(await node.isMounted(join(node.root, 'joinvol')));
  const journal = node.journal();
  t.is(journal.filter((l) => l.op === 'Mount').length, 1);
  t.is(journal.filter((l) => l.op === 'Unmount').length, 1);
});
