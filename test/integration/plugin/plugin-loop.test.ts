// The reference plugin with the `loop` backend: real sparse images, real loop devices, real
// mkfs. Sizes, filesystem types, persistence across unmount and plugin restarts, release of the
// loop device, and the pool mode's one-node-at-a-time attachment.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountsAt, readMountInfo } from '../../../src/common/mountinfo.js';
import { makeSharedRoot } from '../../helpers/mount-root.js';
import { loopDevicesUnder, PluginHarness } from './plugin-harness.js';

const MiB = 1024 * 1024;

async function sourceOf(mountpoint: string): Promise<string> {
  const entry = mountsAt(await readMountInfo(), mountpoint)[0];
  if (entry === undefined) throw new Error(`${mountpoint} is not mounted`);
  return entry.source;
}

function blkidType(device: string): string {
  return execFileSync('blkid', ['-p', '-o', 'value', '-s', 'TYPE', device], { encoding: 'utf8' }).trim();
}

test('loop: size, ext4, autoclear, data survives unmount/mount, Remove deletes the image', async (t) => {
  const p = await PluginHarness.create(t, 'loop');
  const mp = p.mountPoint('small');
  const image = join(p.pluginRoot, 'images', 'small.img');
  await p.ok('Create', { Name: 'small', Opts: { size: '0.1' } });
  t.is((await stat(image)).size, 103 * MiB, '0.1 GiB rounded up to whole MiB');
  t.true((await stat(image)).blocks * 512 < MiB, 'the image is sparse');

  t.deepEqual(await p.ok('Mount', { Name: 'small', ID: 'a' }), { Mountpoint: mp });
  const device = await sourceOf(mp);
  t.regex(device, /^\/dev\/loop\d+$/);
  t.is(Number(execFileSync('blockdev', ['--getsize64', device], { encoding: 'utf8' })), 103 * MiB);
  t.is(blkidType(device), 'ext4');
  t.is(execFileSync('losetup', ['--list', '--noheadings', '--output', 'AUTOCLEAR', device], { encoding: 'utf8' }).trim(), '1');
  const volume = (await p.ok('Get', { Name: 'small' })).Volume as Record<string, unknown>;
  t.like(volume.Status, { backend: 'loop', sizeGiB: 0.1, fsType: 'ext4', holders: 1 });
  await writeFile(join(mp, 'kept.txt'), 'still here');

  t.regex(String((await p.call('Remove', { Name: 'small' })).body.Err), /in use/);
  await p.ok('Unmount', { Name: 'small', ID: 'a' });
  t.false(await p.isMounted(mp));
  t.deepEqual([...loopDevicesUnder(p.temp.dir).keys()], [], 'the loop device is released with the unmount');

  await p.ok('Mount', { Name: 'small', ID: 'b' });
  t.is(await readFile(join(mp, 'kept.txt'), 'utf8'), 'still here', 'not reformatted on the second mount');
  await p.ok('Unmount', { Name: 'small', ID: 'b' });
  await p.ok('Remove', { Name: 'small' });
  await t.throwsAsync(stat(image));
  t.deepEqual((await p.ok('List')).Volumes, []);
});

test('loop: newfstype=xfs (0.3 GiB: mkfs.xfs wants at least 300 MiB)', async (t) => {
  const p = await PluginHarness.create(t, 'loop');
  await p.ok('Create', { Name: 'x', Opts: { NewFsType: 'xfs', size: '0.3' } });
  const mp = (await p.ok('Mount', { Name: 'x', ID: 'a' })).Mountpoint as string;
  t.is(blkidType(await sourceOf(mp)), 'xfs');
  t.is(mountsAt(await readMountInfo(), mp)[0]!.fsType, 'xfs');
  await writeFile(join(mp, 'f'), 'xfs data');
  await p.ok('Unmount', { Name: 'x', ID: 'a' });
  await p.ok('Mount', { Name: 'x', ID: 'a' });
  t.is(await readFile(join(mp, 'f'), 'utf8'), 'xfs data');
  await p.ok('Unmount', { Name: 'x', ID: 'a' });
  t.deepEqual([...loopDevicesUnder(p.temp.dir).keys()], []);
});

test('loop: an existing filesystem is kept unless overwritefs=true; Create keeps the first options', async (t) => {
  const p = await PluginHarness.create(t, 'loop');
  // Images that already hold an xfs filesystem, as a pre-existing disk would.
  for (const name of ['keepfs', 'wipefs']) {
    const image = join(p.pluginRoot, 'images', `${name}.img`);
    await writeFile(image, '');
    await truncate(image, 300 * MiB);
    execFileSync('mkfs.xfs', ['-q', image]);
  }
  await p.ok('Create', { Name: 'keepfs', Opts: { newfstype: 'ext4' } });
  await p.ok('Create', { Name: 'wipefs', Opts: { newfstype: 'ext4', overwritefs: 'true' } });
  await p.ok('Create', { Name: 'wipefs', Opts: { newfstype: 'xfs', overwritefs: 'false' } }); // ignored: first options stay
  t.is(blkidType(await sourceOf((await p.ok('Mount', { Name: 'keepfs', ID: 'a' })).Mountpoint as string)), 'xfs');
  const wiped = (await p.ok('Mount', { Name: 'wipefs', ID: 'a' })).Mountpoint as string;
  t.is(blkidType(await sourceOf(wiped)), 'ext4');
  await writeFile(join(wiped, 'after'), '1');
  await p.ok('Unmount', { Name: 'wipefs', ID: 'a' });
  await p.ok('Mount', { Name: 'wipefs', ID: 'a' });
  t.is(await readFile(join(wiped, 'after'), 'utf8'), '1', 'overwritefs formats on the first mount only');
  await p.ok('Unmount', { Name: 'wipefs', ID: 'a' });
  await p.ok('Unmount', { Name: 'keepfs', ID: 'a' });
  t.deepEqual([...loopDevicesUnder(p.temp.dir).keys()], []);
});

test('loop: a plugin restart keeps mounts, counts and data', async (t) => {
  const p = await PluginHarness.create(t, 'loop');
  const mp = p.mountPoint('durable');
  await p.ok('Create', { Name: 'durable', Opts: { size: '0.05' } });
  await p.ok('Create', { Name: 'cold', Opts: { size: '0.05' } });
  await p.ok('Mount', { Name: 'durable', ID: 'a' });
  await p.ok('Mount', { Name: 'durable', ID: 'b' });
  await p.ok('Mount', { Name: 'cold', ID: 'a' });
  await writeFile(join(p.mountPoint('cold'), 'data'), 'cold data');
  await p.ok('Unmount', { Name: 'cold', ID: 'a' });
  await writeFile(join(mp, 'data'), 'warm data');

  await p.restart();
  t.is(((await p.ok('Get', { Name: 'durable' })).Volume as Record<string, unknown>).Mountpoint, mp);
  t.false('Mountpoint' in ((await p.ok('Get', { Name: 'cold' })).Volume as Record<string, unknown>));
  await p.ok('Unmount', { Name: 'durable', ID: 'a' });
  t.true(await p.isMounted(mp), 'b still holds it after the restart');
  await p.ok('Unmount', { Name: 'durable', ID: 'b' });
  t.false(await p.isMounted(mp));

  await p.ok('Mount', { Name: 'durable', ID: 'c' });
  await p.ok('Mount', { Name: 'cold', ID: 'c' });
  t.is(await readFile(join(mp, 'data'), 'utf8'), 'warm data');
  t.is(await readFile(join(p.mountPoint('cold'), 'data'), 'utf8'), 'cold data');
  await p.ok('Unmount', { Name: 'durable', ID: 'c' });
  await p.ok('Unmount', { Name: 'cold', ID: 'c' });
  t.deepEqual([...loopDevicesUnder(p.temp.dir).keys()], []);
});

test('pool: a second node cannot attach an attached volume unless it preempts', async (t) => {
  const temp = await makeSharedRoot('plugin-pool');
  const pool = join(temp.dir, 'pool');
  const a = await PluginHarness.create(t, 'loop', ['--node', 'node-a', '--pool', pool], temp);
  const b = await PluginHarness.create(t, 'loop', ['--node', 'node-b', '--pool', pool], {
    ...temp,
    root: join(temp.root, 'b'),
    dir: join(temp.dir, 'b'),
  });
  t.teardown(() => a.cleanup(true));

  await a.ok('Create', { Name: 'ebs', Opts: { size: '0.05' } });
  await b.ok('Create', { Name: 'ebs', Opts: { size: '0.5' } }); // the pool already has it: idempotent
  t.deepEqual(((await b.ok('List')).Volumes as Record<string, unknown>[]).map((v) => v.Name), ['ebs'], 'both nodes see the pool');
  await a.ok('Mount', { Name: 'ebs', ID: 'a1' });
  const refused = await b.call('Mount', { Name: 'ebs', ID: 'b1' });
  t.is(refused.status, 500);
  t.regex(String(refused.body.Err), /attached to node node-a.*preempt=true/);
  t.false(await b.isMounted(b.mountPoint('ebs')));
  t.regex(String((await b.call('Remove', { Name: 'ebs' })).body.Err), /attached to node node-a/);

  await b.ok('Mount', { Name: 'ebs', ID: 'b1', Opts: { preempt: 'true' } });
  t.true(await b.isMounted(b.mountPoint('ebs')));
  const attachment = JSON.parse(await readFile(join(pool, 'attachments', 'ebs.json'), 'utf8')) as { node: string };
  t.is(attachment.node, 'node-b');
  await a.ok('Unmount', { Name: 'ebs', ID: 'a1' }); // the preempted node lets go; B's record stays
  t.is((JSON.parse(await readFile(join(pool, 'attachments', 'ebs.json'), 'utf8')) as { node: string }).node, 'node-b');
  t.regex(String((await a.call('Mount', { Name: 'ebs', ID: 'a2' })).body.Err), /attached to node node-b/);
  await b.ok('Unmount', { Name: 'ebs', ID: 'b1' });
  await a.ok('Mount', { Name: 'ebs', ID: 'a3' }); // detached: free for anyone
  await a.ok('Unmount', { Name: 'ebs', ID: 'a3' });
  await a.ok('Remove', { Name: 'ebs' });
  t.deepEqual((await b.ok('List')).Volumes, []);

  const journal = (await a.journalLines()).map((l) => `${String(l.node)} ${String(l.op)} ${String(l.result)}`);
  t.deepEqual(journal.slice(0, 2), ['node-a Mount ok', 'node-a Unmount ok']);
  t.deepEqual((await b.journalLines()).map((l) => `${String(l.node)} ${String(l.op)} ${String(l.result)}`), [
    'node-b Mount error',
    'node-b Mount ok',
    'node-b Unmount ok',
  ]);
  // The journal stamps each end of an attachment (the chaos single-attach checker's intervals):
  // a Mount that attached, whose record it replaced, and an Unmount that detached; node-a's
  // Unmount after the preemption dropped nothing (the record was node-b's).
  const stamps = (lines: Array<Record<string, unknown>>) =>
    lines.filter((l) => l.result === 'ok').map((l) => `${String(l.op)}${typeof l.attachedAt === 'string' ? ' attached' : ''}${typeof l.preempted === 'string' ? ` preempting ${l.preempted}` : ''}${typeof l.detachedAt === 'string' ? ' detached' : ''}`);
  t.deepEqual(stamps(await a.journalLines()), ['Mount attached', 'Unmount', 'Mount attached', 'Unmount detached']);
  t.deepEqual(stamps(await b.journalLines()), ['Mount attached preempting node-a', 'Unmount detached']);
  t.deepEqual([...loopDevicesUnder(temp.dir).keys()], []);
});
