// Issue 12 finding 1 at the mounter: a source that is /, a system tree, the mount root or inside
// it, a path with "..", a symlink, or a path through a symlinked directory is refused with
// DVDI_MOUNT_SOURCE_REFUSED (exit 3) naming the volume, the plugin and the rule, and nothing is
// mounted anywhere; a plain directory (not a mount point) is bound; DVDI_PLUGIN_MOUNT_DIRS
// narrows what is accepted.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readMountInfo } from '../../../src/common/mountinfo.js';
import { LinuxMounter } from '../../../src/mounter/linux-mounter.js';
import { MounterError } from '../../../src/mounter/mounter-error.js';
import { makeSharedRoot } from '../../helpers/mount-root.js';

const cleanups: Array<() => Promise<void>> = [];
test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function setup(options: { pluginMountDirs?: string[] } = {}) {
  const temp = await makeSharedRoot('bind-source');
  cleanups.push(() => temp.cleanup());
  const plugin = join(temp.dir, 'plugin');
  await mkdir(join(plugin, 'v1'), { recursive: true });
  await writeFile(join(plugin, 'v1', 'data'), 'mine');
  const mounter = new LinuxMounter({ timeoutMs: 10_000, pluginMountDirs: options.pluginMountDirs ?? [] });
  const realRoot = await mounter.preflight(temp.root);
  return { ...temp, plugin, mounter, realRoot };
}

async function refusedWith(t: ExecutionContext, mounter: LinuxMounter, source: string, target: string, rule: string): Promise<void> {
  const error = await t.throwsAsync(mounter.bind(source, target, { driver: 'evil-plugin' }), { instanceOf: MounterError });
  t.is(error.code, 'DVDI_MOUNT_SOURCE_REFUSED', source);
  t.is(error.exitCode, 3);
  t.is(error.context.rule, rule, source);
  t.regex(error.message, /plugin "evil-plugin" reported for volume "victim"/);
  t.regex(error.message, new RegExp(`\\(rule ${rule}\\); nothing was bound`));
  t.false(await isMountPoint(target), `${source}: something is mounted at the target`);
}

async function isMountPoint(path: string): Promise<boolean> {
  return (await readMountInfo()).some((m) => m.mountPoint === path);
}

test('plugin replies naming /, /etc, the mount root, ROOT/.dvdi, a ".." path or /root through a symlink are refused; nothing is mounted', async (t) => {
  const { mounter, realRoot, dir } = await setup();
  const target = await mounter.volumePath(realRoot, 'victim');
  await mkdir(join(realRoot, '.dvdi'), { recursive: true });
  await symlink('/root', join(dir, 'to-root'));
  await mkdir(join(dir, 'real', 'sub'), { recursive: true });
  await symlink(join(dir, 'real'), join(dir, 'linked'));
  const cases: Array<[string, string]> = [
    ['/', 'not-root'],
    ['/etc', 'not-system-tree'],
    ['/usr/bin', 'not-system-tree'],
    [realRoot, 'not-mount-root'],
    [join(realRoot, '.dvdi'), 'not-inside-mount-root'],
    [`${dir}/x/../../../etc`, 'normalised'],
    [join(dir, 'to-root'), 'not-symlink'],
    [join(dir, 'linked', 'sub'), 'not-symlink'],
    [`${dir}/..`, 'normalised'],
    [join(dir, '..'), 'not-above-mount-root'],
  ];
  for (const [source, rule] of cases) await refusedWith(t, mounter, source, target, rule);
  // The bind could only have landed at the target (checked per case) or, followed, below dir.
  t.deepEqual((await readMountInfo()).filter((m) => m.mountPoint.startsWith(`${dir}/`) && m.mountPoint !== realRoot).map((m) => m.mountPoint), []);
});

test('a symlink whose target is a system tree is refused by the symlink rule, not followed', async (t) => {
  const { mounter, realRoot, dir } = await setup();
  const target = await mounter.volumePath(realRoot, 'victim');
  await symlink('/etc', join(dir, 'etc-link'));
  await refusedWith(t, mounter, join(dir, 'etc-link'), target, 'not-symlink');
});

test('a plain directory that is not a mount point is bound (nosuid,nodev); the data is there', async (t) => {
  const { mounter, realRoot, plugin } = await setup();
  const target = await mounter.volumePath(realRoot, 'v1');
  t.true((await mounter.bind(join(plugin, 'v1'), target, { driver: 'good' })).created);
  t.is(execFileSync('cat', [join(target, 'data')], { encoding: 'utf8' }), 'mine');
  const options = execFileSync('findmnt', ['-n', '-o', 'OPTIONS', '--mountpoint', target], { encoding: 'utf8' }).trim().split(',');
  t.true(options.includes('nosuid') && options.includes('nodev'), options.join(','));
  await mounter.unmountLazy(target);
});

test('with DVDI_PLUGIN_MOUNT_DIRS set, a directory outside it is refused and one inside is bound', async (t) => {
  const temp = await makeSharedRoot('bind-source-dirs');
  cleanups.push(() => temp.cleanup());
  const allowed = join(temp.dir, 'allowed');
  const other = join(temp.dir, 'other');
  await mkdir(join(allowed, 'v1'), { recursive: true });
  await mkdir(join(other, 'v1'), { recursive: true });
  const mounter = new LinuxMounter({ timeoutMs: 10_000, pluginMountDirs: [allowed] });
  const realRoot = await mounter.preflight(temp.root);
  const target = await mounter.volumePath(realRoot, 'victim');
  await refusedWith(t, mounter, join(other, 'v1'), target, 'plugin-mount-dirs');
  t.true((await mounter.bind(join(allowed, 'v1'), target)).created);
  await mounter.unmountLazy(target);
});

test("a managed plugin's own PropagatedMount is accepted for that plugin only, also with DVDI_PLUGIN_MOUNT_DIRS set", async (t) => {
  const temp = await makeSharedRoot('bind-source-managed');
  cleanups.push(() => temp.cleanup());
  const own = join(temp.dir, 'propagated-mount');
  await mkdir(join(own, 'v1'), { recursive: true });
  const mounter = new LinuxMounter({ timeoutMs: 10_000, pluginMountDirs: ['/srv/elsewhere'], pluginDirsOf: (driver) => (driver === 'managed' ? [own] : []) });
  const realRoot = await mounter.preflight(temp.root);
  const target = await mounter.volumePath(realRoot, 'victim');
  const error = await t.throwsAsync(mounter.bind(join(own, 'v1'), target, { driver: 'evil-plugin' }), { instanceOf: MounterError });
  t.is(error.context.rule, 'plugin-mount-dirs');
  t.true((await mounter.bind(join(own, 'v1'), target, { driver: 'managed' })).created);
  await mounter.unmountLazy(target);
});
