// The ordinary path against rclone's Docker volume plugin (`rclone serve docker`, local backend):
// driver check with --opt, a sidecar whose bind carries data into the remote's directory, two
// sidecars on one node sharing one mount, and dvdcli mount/unmount.
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DVDCLI, runDvdi } from '../../helpers/cli.js';
import { rcloneNodesFor } from '../../helpers/rclone-plugin.js';
import { readMountInfo } from '../../../src/common/mountinfo.js';

const node = rcloneNodesFor(test);

test('dvdi driver check passes against rclone with --opt remote=:local:DIR', async (t) => {
  const n = await node();
  const data = await n.dataDir('check');
  const result = await runDvdi(['driver', 'check', '--driver', n.rclone.driver, '--plugin-dirs', n.rclone.pluginDirs, '--opt', `remote=:local:${data}`]);
  t.is(result.code, 0, `${result.stdout}\n${result.stderr}`);
  t.regex(result.stdout, /driver check of "rclone": PASS/);
  t.false(result.stdout.includes(data), 'option values are never printed');
  const row = (step: string) => result.stdout.split('\n').find((line) => line.startsWith(`${step}  `)) ?? '';
  // rclone's habits, as the INFO rows report them.
  t.regex(row('Mount'), /PASS .*\(a mount point\)/);
  t.regex(row('Get Status (mounted)'), /INFO .*Status\.Mounts lists the mount ID/);
  t.regex(row('Path (unmounted)'), /INFO .*still answers .*dvdi never reads "mounted" from Path/);
  t.regex(row('Unmount (unknown ID)'), /INFO .*refused: volume is not mounted/);
  t.regex(row('Remove'), /PASS/);
});

test('a sidecar becomes ready and a file written through ROOT/<vol> lands in the remote directory', async (t) => {
  const n = await node();
  const data = await n.dataDir('plain');
  const sidecar = await n.sidecar({ DVDI_VOLUME_NAME: 'rcplain', DVDI_VOLUME_OPTS: `remote=:local:${data}`, DVDI_TASK_ID: 'plain-1' });
  await sidecar.waitReadyz();
  await writeFile(join(n.root, 'rcplain', 'hello.txt'), 'through the bind');
  // rclone's VFS writes the file back to the remote when it is closed.
  t.is(await readFile(join(data, 'hello.txt'), 'utf8'), 'through the bind');
  const exit = await sidecar.stop();
  t.is(exit.code, 0, exit.stderr);
  t.false(await n.isMounted(join(n.root, 'rcplain')));
  t.deepEqual(n.ledger(), [], 'the ledger entry went with the Unmount');
});

test('two sidecars on one node share the rclone mount; the last SIGTERM unmounts', async (t) => {
  const n = await node();
  const data = await n.dataDir('shared');
  const env = { DVDI_VOLUME_NAME: 'rcshared', DVDI_VOLUME_OPTS: `remote=:local:${data}` };
  const first = await n.sidecar({ ...env, DVDI_TASK_ID: 'shared-1' });
  await first.waitReadyz();
  const second = await n.sidecar({ ...env, DVDI_TASK_ID: 'shared-2' });
  await second.waitReadyz();
  const hostPath = join(n.root, 'rcshared');
  await writeFile(join(hostPath, 'one.txt'), 'from task 1');
  t.is((await first.stop()).code, 0);
  t.true(await n.isMounted(hostPath), 'the second task still uses the volume');
  t.is(await readFile(join(hostPath, 'one.txt'), 'utf8'), 'from task 1');
  t.true(await n.isMounted(join(n.rclone.baseDir, 'rcshared')), "rclone's FUSE mount stays");
  const last = await second.stop();
  t.is(last.code, 0, last.stderr);
  t.false(await n.isMounted(hostPath));
  t.false(await n.isMounted(join(n.rclone.baseDir, 'rcshared')), 'the last user unmounted the FUSE mount');
  t.deepEqual(n.ledger(), []);
});

test('dvdcli mount and unmount through rclone', async (t) => {
  const n = await node();
  const data = await n.dataDir('dvdcli');
  const args = [`--volumedriver=${n.rclone.driver}`, '--volumename=rccli', `--volumeopts=remote=:local:${data}`];
  const mounted = await runDvdi(['mount', ...args], n.env, DVDCLI);
  t.is(mounted.code, 0, mounted.stderr);
  const path = mounted.stdout.trim();
  t.is(path, join(n.root, 'rccli'));
  await writeFile(join(path, 'cli.txt'), 'dvdcli');
  t.is(await readFile(join(data, 'cli.txt'), 'utf8'), 'dvdcli');
  const unmounted = await runDvdi(['unmount', `--volumedriver=${n.rclone.driver}`, '--volumename=rccli'], n.env, DVDCLI);
  t.is(unmounted.code, 0, unmounted.stderr);
  t.false(await n.isMounted(path));
  t.false(await n.isMounted(join(n.rclone.baseDir, 'rccli')));
  t.deepEqual(n.ledger(), []);
});

test('a CSV-quoted option value with commas reaches rclone intact (DVDI_VOLUME_OPTS and dvdcli --volumeopts)', async (t) => {
  const n = await node();
  const data = await n.dataDir('quoted');
  const remote = `:local,case_insensitive=false:${data}`;
  const sidecar = await n.sidecar({ DVDI_VOLUME_NAME: 'rcquoted', DVDI_VOLUME_OPTS: `"remote=${remote}",vfs_cache_mode=off`, DVDI_TASK_ID: 'quoted-1' });
  await sidecar.waitReadyz();
  // rclone names its FUSE mount after the remote it was given, with a connection string's
  // options replaced by a hash of them (`:local{hash}:DIR`): the options and the path both
  // arrived, so the comma did not cut the value (cut, it would be `:local` with no path).
  const fuseSource = async (name: string) => (await readMountInfo()).find((m) => m.mountPoint === join(n.rclone.baseDir, name))?.source;
  t.regex((await fuseSource('rcquoted')) ?? '', new RegExp(`^:local\\{\\w+\\}:${data}$`));
  await writeFile(join(n.root, 'rcquoted', 'q.txt'), 'quoted');
  t.is(await readFile(join(data, 'q.txt'), 'utf8'), 'quoted');
  t.false(sidecar.child.output.stderr.includes(data), 'the option value is not logged');
  t.is((await sidecar.stop()).code, 0);

  const cliData = await n.dataDir('quoted-cli');
  const cliRemote = `:local,case_insensitive=false:${cliData}`;
  const mounted = await runDvdi(['mount', `--volumedriver=${n.rclone.driver}`, '--volumename=rcquotedcli', `--volumeopts="remote=${cliRemote}"`], n.env, DVDCLI);
  t.is(mounted.code, 0, mounted.stderr);
  t.regex((await fuseSource('rcquotedcli')) ?? '', new RegExp(`^:local\\{\\w+\\}:${cliData}$`));
  await writeFile(join(mounted.stdout.trim(), 'c.txt'), 'cli');
  t.is(await readFile(join(cliData, 'c.txt'), 'utf8'), 'cli');
  const unmounted = await runDvdi(['unmount', `--volumedriver=${n.rclone.driver}`, '--volumename=rcquotedcli'], n.env, DVDCLI);
  t.is(unmounted.code, 0, unmounted.stderr);
});
