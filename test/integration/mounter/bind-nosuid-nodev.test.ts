// Issue 12 finding 2 (binds lack nosuid,nodev; the mount root is created 0755): a setuid-root
// binary in a volume does not elevate an unprivileged host user who runs it through ROOT/<vol>
// (while the same file through a plain bind does: the test can fail), device nodes do not open,
// findmnt shows nosuid,nodev on every bind (rw and ro), and a mount root the sidecar creates
// cannot be entered by other host users.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readMountInfo } from '../../../src/common/mountinfo.js';
import { LinuxMounter } from '../../../src/mounter/linux-mounter.js';
import { MounterError } from '../../../src/mounter/mounter-error.js';
import { makeSharedRoot, makeTempDir, unmountBelow } from '../../helpers/mount-root.js';
import { rm } from 'node:fs/promises';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--'];
const cleanups: Array<() => Promise<void>> = [];
test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function optionsAt(path: string): string[] {
  return execFileSync('findmnt', ['-n', '-o', 'OPTIONS', '--mountpoint', path], { encoding: 'utf8' }).trim().split(',');
}

/** Runs `argv` as uid/gid 65534 (nobody) without extra groups; stdout, or the failure. */
function asNobody(argv: string[]): { ok: boolean; out: string } {
  const result = spawnSync('setpriv', [...NOBODY, ...argv], { encoding: 'utf8' });
  return { ok: result.status === 0, out: (result.stdout + result.stderr).trim() };
}

async function setup() {
  const temp = await makeSharedRoot('nosuid');
  cleanups.push(() => temp.cleanup());
  await chmod(temp.dir, 0o755); // the test's unprivileged user must reach the paths below
  await chmod(temp.root, 0o755);
  const plugin = join(temp.dir, 'plugin');
  await mkdir(plugin);
  // The plugin's filesystem allows setuid and devices, as a real volume's filesystem would.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0755,suid,dev', 'tmpfs', plugin]);
  const source = join(plugin, 'v1');
  await mkdir(source, { mode: 0o755 });
  await copyFile('/usr/bin/id', join(source, 'id'));
  await chmod(join(source, 'id'), 0o4755);
  execFileSync('mknod', ['-m', '0666', join(source, 'zero'), 'c', '1', '5']);
  const mounter = new LinuxMounter({ timeoutMs: 10_000 });
  const realRoot = await mounter.preflight(temp.root);
  return { ...temp, source, mounter, realRoot };
}

test('a setuid-root binary in a volume does not elevate through ROOT/<vol>; through a plain bind it does', async (t) => {
  const { mounter, realRoot, source, dir } = await setup();
  const target = await mounter.volumePath(realRoot, 'v1');
  await mounter.bind(source, target);
  t.true(optionsAt(target).includes('nosuid'));
  t.true(optionsAt(target).includes('nodev'));

  // Control: the same file through a bind without nosuid runs as root. Without this the check
  // below could pass for another reason (setpriv, a nosuid /tmp…).
  const control = join(dir, 'control');
  await mkdir(control);
  execFileSync('mount', ['--bind', source, control]);
  t.deepEqual(asNobody([join(control, 'id'), '-u']), { ok: true, out: '0' }, 'the control bind must elevate');

  t.deepEqual(asNobody([join(target, 'id'), '-u']), { ok: true, out: '65534' });
  t.deepEqual(asNobody([join(target, 'id'), '-g']), { ok: true, out: '65534' });
  await mounter.unmountLazy(target);
});

test('the copies the kernel propagates to the root\'s peers (the host, app containers) are nosuid,nodev too; no staging mount is left', async (t) => {
  const { mounter, realRoot, source, dir } = await setup();
  // A peer of the root stands for the host's (or another container's) view of the sidecar's root.
  const peer = join(dir, 'peer');
  await mkdir(peer);
  execFileSync('mount', ['--bind', realRoot, peer]);
  const target = await mounter.volumePath(realRoot, 'v1');
  await mounter.bind(source, target);
  const copy = join(peer, 'v1');
  t.like(Object.fromEntries(optionsAt(copy).map((o) => [o, true])), { nosuid: true, nodev: true });
  t.deepEqual(asNobody([join(copy, 'id'), '-u']), { ok: true, out: '65534' });
  const ro = await mounter.volumePath(realRoot, 'ro1');
  await mounter.bind(source, ro, { readOnly: true });
  t.like(Object.fromEntries(optionsAt(join(peer, 'ro1')).map((o) => [o, true])), { ro: true, nosuid: true, nodev: true });
  const staging = (await readMountInfo()).map((m) => m.mountPoint).filter((mp) => mp.startsWith(`${dir}/`) && mp.includes('/.dvdi/'));
  t.deepEqual(staging, [], 'no staging mount left in this namespace or the peer');
  t.deepEqual((await readdir(join(realRoot, '.dvdi'))).filter((n) => n.startsWith('stage-')), []);
  await mounter.unmountLazy(target);
  await mounter.unmountLazy(ro);
  t.deepEqual((await readMountInfo()).map((m) => m.mountPoint).filter((mp) => mp.startsWith(`${peer}/`)), []);
});

test('device nodes in a volume do not open through ROOT/<vol> (nodev)', async (t) => {
  const { mounter, realRoot, source } = await setup();
  const target = await mounter.volumePath(realRoot, 'v1');
  await mounter.bind(source, target);
  t.true(asNobody(['head', '-c', '1', join(source, 'zero')]).ok, 'the node opens in the plugin directory');
  const through = asNobody(['head', '-c', '1', join(target, 'zero')]);
  t.false(through.ok);
  t.regex(through.out, /Permission denied/);
  await mounter.unmountLazy(target);
});

test('findmnt shows nosuid,nodev on a read-only bind too, and on a bind made before (hardened on the next bind call)', async (t) => {
  const { mounter, realRoot, source } = await setup();
  const ro = await mounter.volumePath(realRoot, 'ro1');
  await mounter.bind(source, ro, { readOnly: true });
  t.like(Object.fromEntries(optionsAt(ro).map((o) => [o, true])), { ro: true, nosuid: true, nodev: true });
  // A bind an older sidecar made (plain mount --bind) is hardened by the next idempotent bind.
  const old = await mounter.volumePath(realRoot, 'old1');
  await mkdir(old);
  execFileSync('mount', ['--bind', source, old]);
  t.false(optionsAt(old).includes('nosuid'));
  t.false((await mounter.bind(source, old)).created);
  t.like(Object.fromEntries(optionsAt(old).map((o) => [o, true])), { rw: true, nosuid: true, nodev: true });
  await mounter.unmountLazy(ro);
  await mounter.unmountLazy(old);
});

test('a mount root the sidecar creates is 0700: another host user cannot enter it', async (t) => {
  const dir = await makeTempDir('nosuid-root');
  cleanups.push(async () => {
    await unmountBelow(dir);
    await rm(dir, { recursive: true, force: true });
  });
  await chmod(dir, 0o755);
  const root = join(dir, 'root');
  // First start: created, then refused as not a mount point (the host must make it rshared).
  t.is((await t.throwsAsync(new LinuxMounter().preflight(root), { instanceOf: MounterError })).code, 'DVDI_MOUNT_ROOT_NOT_SHARED');
  t.is((await stat(root)).mode & 0o777, 0o700);
  execFileSync('mount', ['--bind', root, root]);
  execFileSync('mount', ['--make-rshared', root]);
  await new LinuxMounter().preflight(root);
  t.is((await stat(root)).mode & 0o777, 0o700);
  const listing = asNobody(['ls', root]);
  t.false(listing.ok);
  t.regex(listing.out, /Permission denied/);
});
