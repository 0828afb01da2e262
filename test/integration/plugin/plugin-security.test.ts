// Findings of the security review against the reference plugin (issue "bind only what a plugin
// really mounted"): its volumes are mounted nosuid,nodev (dir and loop), and its socket is never
// usable by other users, whatever the umask it was started under.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { chmod, copyFile, lstat, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mountsAt, readMountInfo } from '../../../src/common/mountinfo.js';
import { DVDI, REPO, waitFor, type Finished } from '../../helpers/cli.js';
import { makeSharedRoot } from '../../helpers/mount-root.js';
import { call, PluginHarness } from './plugin-harness.js';

const NOBODY = 65534;

/** Run `file args` as uid/gid 65534 with no supplementary groups; its stdout, trimmed. */
function asNobody(file: string, args: string[]): string {
  return execFileSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', file, ...args], { encoding: 'utf8' }).trim();
}

/** Let others traverse (not read) every directory from `path` up to the test's temp dir. */
async function traversable(path: string, stopAt: string): Promise<void> {
  for (let dir = path; dir.startsWith(stopAt) && dir !== dirname(stopAt); dir = dirname(dir)) {
    await chmod(dir, ((await stat(dir)).mode & 0o7777) | 0o011);
  }
}

async function setuidDoesNotElevate(t: ExecutionContext, backend: 'dir' | 'loop'): Promise<void> {
  const p = await PluginHarness.create(t, backend);
  await p.ok('Create', { Name: 'suid', Opts: backend === 'loop' ? { size: '0.05' } : null });
  const mp = String((await p.ok('Mount', { Name: 'suid', ID: 'c1' })).Mountpoint);
  const entry = mountsAt(await readMountInfo(), mp).at(-1);
  t.truthy(entry, `${mp} is mounted`);
  t.true(entry!.options.includes('nosuid'), `nosuid on ${mp}: ${entry!.options.join(',')}`);
  t.true(entry!.options.includes('nodev'), `nodev on ${mp}: ${entry!.options.join(',')}`);
  t.true(execFileSync('findmnt', ['-n', '-o', 'OPTIONS', '--mountpoint', mp], { encoding: 'utf8' }).split(',').includes('nosuid'));

  // What root in a container could do: leave a setuid-root binary in the volume.
  const planted = join(mp, 'id');
  await copyFile('/usr/bin/id', planted);
  await chmod(planted, 0o4755);
  t.is(((await lstat(planted)).mode & 0o4000) !== 0, true, 'the setuid bit is set on the file');
  await traversable(mp, p.temp.dir);
  t.is(asNobody(planted, ['-u']), String(NOBODY), 'the setuid bit is ignored: the effective uid stays nobody');
  t.is(asNobody('/usr/bin/id', ['-u']), String(NOBODY), 'control: setpriv really drops to nobody');
  await p.ok('Unmount', { Name: 'suid', ID: 'c1' });
}

test('finding 2 (plugin side): a dir volume is mounted nosuid,nodev and a setuid file in it does not elevate', (t) => setuidDoesNotElevate(t, 'dir'));
test('finding 2 (plugin side): a loop volume is mounted nosuid,nodev and a setuid file in it does not elevate', (t) => setuidDoesNotElevate(t, 'loop'));

/** Start `dvdi plugin` under `umask 000` (a shell sets it, then execs node). */
function startUnderUmask000(args: string[]): { finished: Promise<Finished>; pid: number | undefined; kill(): void } {
  const child = spawn('/bin/sh', ['-c', 'umask 000 && exec "$0" "$@"', process.execPath, ...DVDI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const finished = new Promise<Finished>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, ...output })));
  return { finished, pid: child.pid, kill: () => child.kill('SIGKILL') };
}

async function startedPlugin(t: ExecutionContext, extra: string[] = []): Promise<{ socket: string; root: string }> {
  const temp = await makeSharedRoot('plugin-socket');
  const socket = join(temp.dir, 'sock', 'plugin.sock');
  const root = join(temp.root, 'plugin');
  const plugin = startUnderUmask000(['plugin', '--name', 'sockplug', '--backend', 'dir', '--root', root, '--socket', socket, ...extra]);
  t.teardown(async () => {
    plugin.kill();
    await plugin.finished;
    await temp.cleanup();
  });
  let exited: Finished | undefined;
  void plugin.finished.then((result) => (exited = result));
  await waitFor('the plugin to answer Activate', async () => {
    if (exited !== undefined) throw new Error(`plugin exited early (${exited.code ?? exited.signal}): ${exited.stderr}`);
    try {
      return (await call(socket, 'Plugin.Activate', '')).status === 200;
    } catch {
      return false;
    }
  });
  return { socket, root };
}

test('finding 5: under umask 000 the plugin socket is 0600, not writable by others, and no staging entry is left', async (t) => {
  const { socket } = await startedPlugin(t);
  const stats = await lstat(socket);
  t.true(stats.isSocket());
  t.is((stats.mode & 0o777).toString(8), '600');
  t.is(stats.uid, 0);
  await traversable(dirname(socket), dirname(dirname(socket)));
  // A real connect by another user is refused by the kernel (EACCES), not just a mode on paper.
  const script = `require('net').connect(${JSON.stringify(socket)}).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(0)})`;
  t.is(asNobody(process.execPath, ['-e', script]), 'EACCES');
  t.deepEqual(await readdir(dirname(socket)), ['plugin.sock'], 'the 0700 staging directory is gone');
});

test('finding 5: --socket-group makes the socket 0660 owned by that group, still closed to others', async (t) => {
  const { socket } = await startedPlugin(t, ['--socket-group', String(NOBODY)]);
  const stats = await lstat(socket);
  t.is((stats.mode & 0o777).toString(8), '660');
  t.is(stats.gid, NOBODY);
  await traversable(dirname(socket), dirname(dirname(socket)));
  const script = `require('net').connect(${JSON.stringify(socket)}).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(0)})`;
  t.is(asNobody(process.execPath, ['-e', script]), 'connected', 'a member of the group may connect');
  const other = execFileSync('setpriv', ['--reuid=65533', '--regid=65533', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8' }).trim();
  t.is(other, 'EACCES', 'anyone else may not');
});

test('finding 5: an unknown --socket-group is a usage error (exit 2) and nothing listens', async (t) => {
  const temp = await makeSharedRoot('plugin-socket');
  t.teardown(() => temp.cleanup());
  const socket = join(temp.dir, 'sock', 'plugin.sock');
  const plugin = startUnderUmask000(['plugin', '--name', 'sockplug', '--backend', 'dir', '--root', join(temp.root, 'p'), '--socket', socket, '--socket-group', 'no-such-group-dvdi']);
  const finished = await plugin.finished;
  t.is(finished.code, 2, finished.stderr);
  t.regex(finished.stderr, /--socket-group no-such-group-dvdi: no such group/);
  await t.throwsAsync(lstat(socket));
});
