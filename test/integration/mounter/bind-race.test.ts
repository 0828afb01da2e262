// Issue 12 finding 4 (check-then-bind by path): a racer that swaps ROOT/<vol> for a symlink to a
// directory outside ROOT between the checks and mount(8) gets nothing mounted outside ROOT: the
// bind goes onto the directory handle that was checked, a bind that did not land at ROOT/<vol>
// is undone by its mount ID, and the error says so. A control shows that a path-based bind
// after the same swap does land outside (so the simulation is the real attack).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, rename, rmdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readMountInfo } from '../../../src/common/mountinfo.js';
import { LinuxMounter } from '../../../src/mounter/linux-mounter.js';
import { MounterError } from '../../../src/mounter/mounter-error.js';
import { makeSharedRoot } from '../../helpers/mount-root.js';

const cleanups: Array<() => Promise<void>> = [];
test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function setup(racer: (target: string, outside: string) => Promise<void>) {
  const temp = await makeSharedRoot('bind-race');
  cleanups.push(() => temp.cleanup());
  const source = join(temp.dir, 'plugin', 'v1');
  await mkdir(source, { recursive: true });
  await writeFile(join(source, 'secret'), 'volume data');
  const outside = join(temp.dir, 'outside');
  await mkdir(outside);
  const mounter = new LinuxMounter({ timeoutMs: 10_000, beforeBindMount: (target) => racer(target, outside) });
  const realRoot = await mounter.preflight(temp.root);
  return { ...temp, source, outside, mounter, realRoot };
}

async function mountPointsBelow(dir: string, except: string): Promise<string[]> {
  return (await readMountInfo()).map((m) => m.mountPoint).filter((mp) => mp.startsWith(`${dir}/`) && mp !== except);
}

test('ROOT/v moved aside and replaced by a symlink to outside before mount(8): nothing mounted outside ROOT, the misplaced bind undone', async (t) => {
  const { mounter, realRoot, source, outside, dir } = await setup(async (target, out) => {
    await rename(target, join(realRoot, '.stash'));
    await symlink(out, target);
  });
  const target = await mounter.volumePath(realRoot, 'v');
  const error = await t.throwsAsync(mounter.bind(source, target), { instanceOf: MounterError });
  t.is(error.code, 'DVDI_MOUNT_FAILED');
  t.regex(error.message, /appeared at .*\.stash and was undone/);
  t.deepEqual(await mountPointsBelow(dir, realRoot), [], 'nothing is mounted below the test dir but the root');

  // Control: mount(8) by path after the same swap follows the symlink and mounts outside ROOT.
  execFileSync('mount', ['--bind', source, target]);
  t.deepEqual(await mountPointsBelow(dir, realRoot), [outside], 'the simulated race works against a path-based bind');
  execFileSync('umount', ['-l', outside]);
});

test('ROOT/v removed and replaced by a symlink before mount(8): the bind fails, nothing mounted anywhere below', async (t) => {
  const { mounter, realRoot, source, dir } = await setup(async (target, out) => {
    await rmdir(target);
    await symlink(out, target);
  });
  const target = await mounter.volumePath(realRoot, 'v');
  const error = await t.throwsAsync(mounter.bind(source, target), { instanceOf: MounterError });
  t.is(error.code, 'DVDI_MOUNT_FAILED');
  t.deepEqual(await mountPointsBelow(dir, realRoot), []);
});

test('a symlink at ROOT/v before the bind is refused, and unmountLazy of it follows nothing', async (t) => {
  const { mounter, realRoot, source, outside, dir } = await setup(async () => undefined);
  execFileSync('mount', ['--bind', source, outside]); // something mounted where the link points
  await symlink(outside, join(realRoot, 'v'));
  const error = await t.throwsAsync(mounter.bind(source, join(realRoot, 'v')), { instanceOf: MounterError });
  t.is(error.code, 'DVDI_MOUNT_PATH_UNSAFE');
  await mounter.unmountLazy(join(realRoot, 'v'));
  t.deepEqual(await mountPointsBelow(dir, realRoot), [outside], 'the mount the symlink points at is left alone');
  execFileSync('umount', ['-l', outside]);
});

test('a staging mount left by a bind killed half-way is listed with the probes and removed; a path outside the scratch names is refused', async (t) => {
  const { mounter, realRoot, source, dir } = await setup(async () => undefined);
  const stage = join(realRoot, '.dvdi', 'stage-4242-deadbeef');
  await mkdir(stage, { recursive: true });
  execFileSync('mount', ['--bind', stage, stage]);
  execFileSync('mount', ['--make-private', stage]);
  execFileSync('mount', ['--bind', source, stage]);
  t.deepEqual(await mounter.listProbes(realRoot), [stage]);
  await mounter.removeProbe(realRoot, stage);
  t.deepEqual(await mountPointsBelow(dir, realRoot), []);
  t.deepEqual(await mounter.listProbes(realRoot), []);
  const refused = await t.throwsAsync(mounter.removeProbe(realRoot, join(realRoot, '.dvdi', 'mounts')), { instanceOf: MounterError });
  t.is(refused.code, 'DVDI_MOUNT_PATH_UNSAFE');
});
