// Issue 3 acceptance on one node: shared use by two sidecars, undo of a failed third slot,
// lazy unmount with a busy file, data on the loop image, SIGTERM while mounting.
import test from 'ava';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { rigsFor } from '../../helpers/node-rig.js';
import { startMisbehavingPlugin } from '../../helpers/misbehaving-plugin.js';
import { waitFor } from '../../helpers/cli.js';
import { readMountInfo } from '../../../src/common/mountinfo.js';

const rig = rigsFor(test);

test('two sidecars share one driver Mount; only the last SIGTERM unmounts, with exactly one Unmount', async (t) => {
  const node = await rig();
  const first = await node.sidecar({ DVDI_VOLUME_NAME: 'shared1', DVDI_TASK_ID: 'task-1' });
  await first.waitReady();
  const second = await node.sidecar({ DVDI_VOLUME_NAME: 'shared1', DVDI_TASK_ID: 'task-2' });
  await second.waitReady();
  const hostPath = join(node.root, 'shared1');
  await writeFile(join(hostPath, 'data.txt'), 'from task 1');

  const mounts = node.journal().filter((l) => l.op === 'Mount' && l.result === 'ok');
  t.is(mounts.length, 1, 'one driver Mount for two tasks on the node');

  const firstExit = await first.stop();
  t.is(firstExit.code, 0);
  t.true(await node.isMounted(hostPath), 'the second task still uses the volume');
  t.is(await readFile(join(hostPath, 'data.txt'), 'utf8'), 'from task 1');
  t.is(node.journal().filter((l) => l.op === 'Unmount').length, 0);

  const secondExit = await second.stop();
  t.is(secondExit.code, 0);
  t.false(await node.isMounted(hostPath));
  const unmounts = node.journal().filter((l) => l.op === 'Unmount');
  t.is(unmounts.length, 1, 'exactly one driver Unmount');
  t.is(unmounts[0]!.id, mounts[0]!.id, 'the Unmount carries the Mount ID');
});

test('a failing third slot undoes the first two and exits 3 naming the volume', async (t) => {
  const node = await rig();
  const sidecar = await node.sidecar({
    DVDI_VOLUME_NAME: 'slotA',
    DVDI_VOLUME_NAME1: 'slotB',
    DVDI_VOLUME_DRIVER1: node.driver,
    DVDI_VOLUME_DRIVER2: node.driver,
    DVDI_VOLUME_READONLY1: 'true',
    DVDI_VOLUME_NAME2: 'missingC',
    DVDI_VOLUME_EXPLICITCREATE2: 'true',
    DVDI_TASK_ID: 'three-slots',
  });
  const result = await sidecar.child.finished;
  t.is(result.code, 3);
  t.regex(result.stderr, /volume missingC does not exist in driver .* DVDI_VOLUME_EXPLICITCREATE is true/);
  const below = (await readMountInfo()).filter((m) => m.mountPoint.startsWith(`${node.root}/`));
  t.deepEqual(below.map((m) => m.mountPoint), [], 'nothing left mounted under the mount root');
  const journal = node.journal();
  t.is(journal.filter((l) => l.op === 'Mount' && l.result === 'ok').length, 2);
  t.is(journal.filter((l) => l.op === 'Unmount' && l.result === 'ok').length, 2, 'both completed mounts undone');
});

test('loop backend: a file held open does not block exit; the data is on the image afterwards', async (t) => {
  const node = await rig({ backend: 'loop' });
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'busyvol', DVDI_VOLUME_OPTS: 'size=0.05', DVDI_TASK_ID: 'busy' });
  await sidecar.waitReady();
  const hostPath = join(node.root, 'busyvol');
  const fs = (await readMountInfo()).find((m) => m.mountPoint === hostPath);
  t.is(fs?.fsType, 'ext4');
  await writeFile(join(hostPath, 'before-exit.txt'), 'persisted');
  const held = await open(join(hostPath, 'held.txt'), 'w');
  try {
    await held.write('held open across exit');
    const result = await sidecar.stop();
    t.is(result.code, 0);
    t.false(await node.isMounted(hostPath), 'the bind is detached although a file is open');
  } finally {
    await held.close();
  }
  // The plugin unmounts (and the autoclear loop device goes) once the last reference is gone;
  // mount the image read-only ourselves to look at what it holds.
  const image = join(node.temp.dir, 'plugin', 'images', 'busyvol.img');
  const check = join(node.temp.dir, 'check');
  execFileSync('mkdir', ['-p', check]);
  execFileSync('mount', ['-o', 'loop,ro', image, check]);
  try {
    t.is(await readFile(join(check, 'before-exit.txt'), 'utf8'), 'persisted');
  } finally {
    execFileSync('umount', [check]);
  }
});

test('SIGTERM while the driver Mount is in flight: exit 0, the Mount undone with its own ID, nothing mounted', async (t) => {
  const node = await rig();
  const slow = await startMisbehavingPlugin({
    socketPath: join(node.pluginDirs, 'slowdrv.sock'),
    mountRoot: join(node.temp.dir, 'slow-mounts'),
    modes: { Mount: 'slow' },
    slowMs: 2500,
  });
  t.teardown(() => slow.close());
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'slowvol', DVDI_VOLUME_DRIVER: 'slowdrv', DVDI_TASK_ID: 'slow' });
  await waitFor('the Mount request to reach the plugin', () => slow.count('Mount') === 1);
  const result = await sidecar.stop();
  t.is(result.code, 0, result.stderr);
  t.regex(result.stderr, /shutdown while attaching/);
  t.false(await node.isMounted(join(node.root, 'slowvol')));
  const mountId = (JSON.parse(slow.requests.find((r) => r.method === 'Mount')!.body) as { ID: string }).ID;
  const unmounts = slow.requests.filter((r) => r.method === 'Unmount').map((r) => (JSON.parse(r.body) as { ID: string }).ID);
  t.deepEqual(unmounts, [mountId], 'exactly one Unmount, with the Mount ID');
});

test('invalid configuration exits 2 naming every bad variable; nothing mounted', async (t) => {
  const node = await rig();
  const sidecar = node.sidecar({ DVDI_VOLUME_NAME: '../escape', DVDI_VOLUME_ACCESS: 'exclusiv', DVDI_VOLUME_OPTS: 'size=1,secret=hunter2' });
  const error = await t.throwsAsync(sidecar);
  t.regex(error.message, /exited early \(2\)/);
  t.regex(error.message, /DVDI_VOLUME_NAME="\.\.\/escape" is not valid/);
  t.regex(error.message, /DVDI_VOLUME_ACCESS="exclusiv" is not valid: expected exclusive or shared/);
  t.notRegex(error.message, /hunter2/);
  t.deepEqual(node.journal(), []);
});
