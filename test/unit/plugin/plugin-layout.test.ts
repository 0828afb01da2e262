import test from 'ava';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PluginError } from '../../../src/plugin/plugin-errors.js';
import { PluginLayout, validateVolumeName } from '../../../src/plugin/plugin-layout.js';

test('volume names follow the contract pattern', (t) => {
  for (const good of ['a', 'A0', 'pg-data_1.2', 'a'.repeat(128)]) t.is(validateVolumeName(good), good);
  for (const bad of ['', '.', '..', '../x', 'a/b', '-x', '_x', 'a'.repeat(129), 'a\nb', 'a b', 'ü', 5, null, undefined]) {
    const error = t.throws(() => validateVolumeName(bad), { instanceOf: PluginError }, String(bad));
    t.is(error.code, 'DVDI_PLUGIN_BAD_NAME');
    t.regex(error.message, /expected \^\[A-Za-z0-9\]/);
  }
});

test('paths are direct children of the layout directories; symlinks are refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-layout-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const layout = await PluginLayout.open(join(dir, 'root'));
  t.is(layout.mountPath('v1'), join(layout.root, 'mounts', 'v1'));
  t.is(layout.imagePath('v1'), join(layout.root, 'images', 'v1.img'));
  t.is(layout.volumeOfMountPoint(join(layout.root, 'mounts', 'v1')), 'v1');
  t.is(layout.volumeOfMountPoint(join(layout.root, 'mounts', 'v1', 'sub')), undefined);
  t.is(layout.volumeOfMountPoint('/elsewhere/mounts/v1'), undefined);
  t.throws(() => layout.mountPath('../../etc'), { instanceOf: PluginError });

  await mkdir(join(dir, 'outside'));
  await symlink(join(dir, 'outside'), layout.mountPath('link'));
  await t.throwsAsync(layout.ensureDir(layout.mountPath('link')), { message: /symlink/ });
  await t.throwsAsync(layout.check(layout.mountPath('link'), 'dir'), { message: /symlink/ });
  t.false(await layout.check(layout.mountPath('absent'), 'dir'));
  await layout.ensureDir(layout.mountPath('real'));
  t.true(await layout.check(layout.mountPath('real'), 'dir'));
  await t.throwsAsync(layout.check(layout.mountPath('real'), 'file'), { message: /not a regular file/ });

  // A layout directory replaced by a symlink is refused too.
  await rm(join(layout.root, 'images'), { recursive: true });
  await symlink(join(dir, 'outside'), join(layout.root, 'images'));
  await t.throwsAsync(layout.check(layout.imagePath('v1'), 'file'), { message: /symlink/ });
});

test('the pool holds meta and images; mounts and state stay in the root', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-layout-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const layout = await PluginLayout.open(join(dir, 'root'), join(dir, 'pool'));
  t.true(layout.metaPath('v').startsWith(join(dir, 'pool')));
  t.true(layout.attachmentPath('v').startsWith(join(dir, 'pool')));
  t.true(layout.mountPath('v').startsWith(join(dir, 'root')));
  t.true(layout.stateFile.startsWith(join(dir, 'root')));
});
