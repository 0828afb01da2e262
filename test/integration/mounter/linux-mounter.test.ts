// Real binds under a real rshared mount root, with a tmpfs standing in for the plugin's
// mountpoint. Every mount lives below a per-test temp dir that after.always unmounts.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountsAt, readMountInfo } from '../../../src/common/mountinfo.js';
import { LinuxMounter } from '../../../src/mounter/linux-mounter.js';
import { MounterError } from '../../../src/mounter/mounter-error.js';
import { makeSharedRoot, makeTempDir, unmountBelow } from '../../helpers/mount-root.js';

const cleanups: Array<() => Promise<void>> = [];
test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function setup() {
  const temp = await makeSharedRoot('mounter');
  cleanups.push(() => temp.cleanup());
  const plugin = join(temp.dir, 'plugin');
  await mkdir(plugin);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', plugin]);
  const source = join(plugin, 'vol1');
  await mkdir(source);
  await writeFile(join(source, 'hello.txt'), 'hello');
  const mounter = new LinuxMounter({ timeoutMs: 10_000 });
  const realRoot = await mounter.preflight(temp.root);
  return { ...temp, plugin, source, mounter, realRoot };
}

async function mountCountAt(path: string): Promise<number> {
  return mountsAt(await readMountInfo(), path).length;
}

function codeOf(error: unknown): string | undefined {
  return error instanceof MounterError ? error.code : undefined;
}

test('preflight passes on an rshared root and leaves no probe behind', async (t) => {
  const { root, realRoot } = await setup();
  t.is(realRoot, root);
  t.deepEqual(await readdir(root), []);
  t.deepEqual((await readMountInfo()).filter((m) => m.mountPoint.startsWith(`${root}/`)), []);
});

test('preflight on a private mount root fails with the host fix', async (t) => {
  const dir = await makeTempDir('mounter-private');
  cleanups.push(async () => {
    await unmountBelow(dir);
    await rm(dir, { recursive: true, force: true });
  });
  const root = join(dir, 'root');
  await mkdir(root);
  execFileSync('mount', ['--bind', root, root]);
  execFileSync('mount', ['--make-private', root]);
  const error = await t.throwsAsync(new LinuxMounter().preflight(root), { instanceOf: MounterError });
  t.is(error.code, 'DVDI_MOUNT_ROOT_NOT_SHARED');
  t.is(error.exitCode, 3);
  t.true(error.message.includes(`mount --bind ${root} ${root} && mount --make-rshared ${root}`));
  t.true(error.message.includes(`-v ${root}:${root}:rshared`));
  t.true(error.message.includes('mountPropagation: Bidirectional'));
});

test('preflight creates a missing root (0700: not traversable by other host users) and refuses it because it is not a mount point', async (t) => {
  const dir = await makeTempDir('mounter-missing');
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'a', 'root');
  const error = await t.throwsAsync(new LinuxMounter().preflight(root), { instanceOf: MounterError });
  t.is(error.code, 'DVDI_MOUNT_ROOT_NOT_SHARED');
  t.regex(error.message, /is not a mount point/);
  t.is((await stat(root)).mode & 0o777, 0o700);
});

test('bind shows the source at ROOT/<name>, listBinds and isMounted report it', async (t) => {
  const { mounter, root, source } = await setup();
  const target = await mounter.volumePath(root, 'vol1');
  t.is(target, join(root, 'vol1'));
  t.false(await mounter.isMounted(target));
  t.deepEqual(await mounter.bind(source, target), { target, created: true });
  t.is(await readFile(join(target, 'hello.txt'), 'utf8'), 'hello');
  t.true(await mounter.isMounted(target));
  const binds = await mounter.listBinds(root);
  t.is(binds.length, 1);
  t.like(binds[0], { name: 'vol1', path: target, rootInFs: '/vol1', fsType: 'tmpfs', readOnly: false, mountCount: 1 });
  t.is(binds[0]!.device, mountsAt(await readMountInfo(), join(root, '..', 'plugin'))[0]!.device);
});

test('a read-only bind rejects writes while the source stays writable', async (t) => {
  const { mounter, root, source } = await setup();
  const target = await mounter.volumePath(root, 'ro1');
  await mounter.bind(source, target, { readOnly: true });
  const error = await t.throwsAsync(writeFile(join(target, 'x.txt'), 'no'));
  t.is((error as NodeJS.ErrnoException).code, 'EROFS');
  await writeFile(join(source, 'y.txt'), 'yes');
  t.is(await readFile(join(target, 'y.txt'), 'utf8'), 'yes');
  t.true(mountsAt(await readMountInfo(), target)[0]!.options.includes('ro'));
  t.true((await mounter.listBinds(root))[0]!.readOnly);
});

test('a bind of a read-only plugin mount (the mount point itself) is read-only and idempotent', async (t) => {
  const { mounter, root, dir } = await setup();
  const roSource = join(dir, 'ro-plugin');
  await mkdir(roSource);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', roSource]);
  const target = await mounter.volumePath(root, 'snap');
  t.true((await mounter.bind(roSource, target)).created);
  t.false((await mounter.bind(roSource, target, { readOnly: true })).created);
  t.like((await mounter.listBinds(root))[0], { name: 'snap', rootInFs: '/', readOnly: true });
  t.deepEqual(await new LinuxMounter().listBinds(join(dir, 'no-such-root')), []);
});

test('bind is idempotent: a second call mounts nothing more', async (t) => {
  const { mounter, root, source } = await setup();
  const target = await mounter.volumePath(root, 'idem');
  t.true((await mounter.bind(source, target)).created);
  t.false((await mounter.bind(source, target)).created);
  // The same directory spelled otherwise is not normalised: refused, not treated as the same.
  t.is((await t.throwsAsync(mounter.bind(`${source}/.`, target), { instanceOf: MounterError })).code, 'DVDI_MOUNT_SOURCE_REFUSED');
  t.is(await mountCountAt(target), 1);
  const conflict = await t.throwsAsync(mounter.bind(source, target, { readOnly: true }), { instanceOf: MounterError });
  t.is(conflict.code, 'DVDI_MOUNT_OPTIONS_CONFLICT');
  t.is(await mountCountAt(target), 1);
});

test('concurrent binds of one target in one process make one mount', async (t) => {
  const { mounter, root, source } = await setup();
  const target = await mounter.volumePath(root, 'race');
  const results = await Promise.all(Array.from({ length: 6 }, () => mounter.bind(source, target)));
  t.is(results.filter((r) => r.created).length, 1);
  t.is(await mountCountAt(target), 1);
  const [bound, unmounted] = await Promise.all([mounter.bind(source, target), mounter.unmountLazy(target)]);
  t.false(bound.created);
  t.is(unmounted.detached, 1);
  t.is(await mountCountAt(target), 0);
});

test('bind refuses a target where something else is mounted', async (t) => {
  const { mounter, root, source, plugin } = await setup();
  const other = join(plugin, 'vol2');
  await mkdir(other);
  const target = await mounter.volumePath(root, 'busy');
  await mounter.bind(source, target);
  const error = await t.throwsAsync(mounter.bind(other, target), { instanceOf: MounterError });
  t.is(error.code, 'DVDI_MOUNT_TARGET_BUSY');
  t.true(error.message.includes(target));
  t.is(await mountCountAt(target), 1);
});

test('bind refuses a source that is missing or not a directory', async (t) => {
  const { mounter, root, plugin } = await setup();
  const target = await mounter.volumePath(root, 'src');
  await writeFile(join(plugin, 'file'), 'x');
  for (const bad of [join(plugin, 'file'), join(plugin, 'missing')]) {
    const error = await t.throwsAsync(mounter.bind(bad, target), { instanceOf: MounterError });
    t.is(error.code, 'DVDI_MOUNT_SOURCE_INVALID');
  }
  t.false(existsSync(target));
});

test('a bind in an rshared root reaches a peer of the root (the app container side)', async (t) => {
  const { mounter, root, dir, source } = await setup();
  const peer = join(dir, 'peer');
  await mkdir(peer);
  execFileSync('mount', ['--bind', root, peer]);
  const target = await mounter.volumePath(root, 'prop');
  await mounter.bind(source, target);
  t.is(await readFile(join(peer, 'prop', 'hello.txt'), 'utf8'), 'hello');
  t.is(await mountCountAt(join(peer, 'prop')), 1);
  await mounter.unmountLazy(target);
  t.is(await mountCountAt(join(peer, 'prop')), 0);
  t.false(existsSync(join(peer, 'prop')));
});

test('unmountLazy detaches a busy bind; writes through a held fd still land in the source', async (t) => {
  const { mounter, root, source } = await setup();
  const target = await mounter.volumePath(root, 'held');
  await mounter.bind(source, target);
  const handle = await open(join(target, 'open.txt'), 'w');
  try {
    t.deepEqual(await mounter.unmountLazy(target), { detached: 1, removedDir: true });
    t.is(await mountCountAt(target), 0);
    t.false(existsSync(target));
    t.false(await mounter.isMounted(target));
    await handle.write('after detach');
  } finally {
    await handle.close();
  }
  t.is(await readFile(join(source, 'open.txt'), 'utf8'), 'after detach');
});

test('unmountLazy removes every stacked mount, and "not mounted" is success', async (t) => {
  const { mounter, root, source } = await setup();
  const target = await mounter.volumePath(root, 'stack');
  await mkdir(target);
  for (let i = 0; i < 5; i++) execFileSync('mount', ['--bind', source, target]);
  t.is(await mountCountAt(target), 5);
  t.is((await mounter.listBinds(root))[0]!.mountCount, 5);
  t.deepEqual(await mounter.unmountLazy(target), { detached: 5, removedDir: true });
  t.is(await mountCountAt(target), 0);
  t.deepEqual(await mounter.unmountLazy(target), { detached: 0, removedDir: false });
  t.deepEqual(await mounter.listBinds(root), []);
});

test('unmountLazy keeps a directory that is not empty underneath', async (t) => {
  const { mounter, root, source } = await setup();
  const target = await mounter.volumePath(root, 'kept');
  await mkdir(target);
  await writeFile(join(target, 'underneath'), 'x');
  await mounter.bind(source, target);
  t.deepEqual(await mounter.unmountLazy(target), { detached: 1, removedDir: false });
  t.is(await readFile(join(target, 'underneath'), 'utf8'), 'x');
});

test('hostile names are refused by volumePath, bind and unmountLazy', async (t) => {
  const { mounter, root, source, dir } = await setup();
  for (const name of ['../x', 'a/b', '-rf', '', 'a'.repeat(129), 'a\nb']) {
    const error = await t.throwsAsync(mounter.volumePath(root, name), { instanceOf: MounterError });
    t.is(error.code, 'DVDI_MOUNT_INVALID_NAME', name);
  }
  for (const target of [join(root, '..', 'x'), join(root, 'a', 'b'), join(root, '-rf'), dir]) {
    const bindError = await t.throwsAsync(mounter.bind(source, target));
    t.true(['DVDI_MOUNT_INVALID_NAME', 'DVDI_MOUNT_PATH_UNSAFE'].includes(codeOf(bindError) ?? ''), target);
    t.true(['DVDI_MOUNT_INVALID_NAME', 'DVDI_MOUNT_PATH_UNSAFE'].includes(codeOf(await t.throwsAsync(mounter.unmountLazy(target))) ?? ''));
  }
  t.deepEqual((await readMountInfo()).filter((m) => m.mountPoint.startsWith(`${dir}/`) && !m.mountPoint.startsWith(`${dir}/plugin`) && m.mountPoint !== root), []);
});

test('a symlink at ROOT/<name> pointing outside is refused and nothing is mounted outside', async (t) => {
  const { mounter, root, source, dir } = await setup();
  const outside = join(dir, 'outside');
  await mkdir(outside);
  await symlink(outside, join(root, 'evil'));
  const viaPath = await t.throwsAsync(mounter.volumePath(root, 'evil'), { instanceOf: MounterError });
  t.is(viaPath.code, 'DVDI_MOUNT_PATH_UNSAFE');
  const viaBind = await t.throwsAsync(mounter.bind(source, join(root, 'evil')), { instanceOf: MounterError });
  t.is(viaBind.code, 'DVDI_MOUNT_PATH_UNSAFE');
  t.is(await mountCountAt(outside), 0);
  t.is(await mountCountAt(join(root, 'evil')), 0);
  await mounter.unmountLazy(join(root, 'evil')); // nothing mounted there: success, and the symlink is not followed
  t.is(await mountCountAt(outside), 0);
  t.true(existsSync(outside));
});

test('a root reached through a symlink is used by its real path, and refused once the link is swapped', async (t) => {
  const temp = await makeSharedRoot('mounter-link');
  cleanups.push(() => temp.cleanup());
  const link = join(temp.dir, 'link');
  await symlink(temp.root, link);
  const mounter = new LinuxMounter();
  t.is(await mounter.preflight(link), temp.root);
  t.is(await mounter.volumePath(link, 'v'), join(temp.root, 'v'));
  const elsewhere = join(temp.dir, 'elsewhere');
  await mkdir(elsewhere);
  await symlink(elsewhere, `${link}.new`);
  await rename(`${link}.new`, link);
  const error = await t.throwsAsync(mounter.volumePath(link, 'v'), { instanceOf: MounterError });
  t.is(error.code, 'DVDI_MOUNT_PATH_UNSAFE');
  t.regex(error.message, /symlink/);
});

test('paths under a root that preflight never checked are refused', async (t) => {
  const { source, dir } = await setup();
  const fresh = new LinuxMounter();
  const error = await t.throwsAsync(fresh.bind(source, join(dir, 'root', 'v')), { instanceOf: MounterError });
  t.is(error.code, 'DVDI_MOUNT_ROOT_NOT_PREPARED');
  t.is((await t.throwsAsync(fresh.volumePath(join(dir, 'root'), 'v'), { instanceOf: MounterError })).code, 'DVDI_MOUNT_ROOT_NOT_PREPARED');
});
