// `dvdi driver check` as an operator runs it: a real process against the reference plugin
// (`dvdi plugin --backend dir`, real bind mounts) and against the misbehaving test plugin.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, unmountBelow } from '../../helpers/mount-root.js';
import { startMisbehavingPlugin, type MisbehavingPlugin } from '../../helpers/misbehaving-plugin.js';
import { readMountInfo } from '../../../src/common/mountinfo.js';

const processes: ChildProcess[] = [];
const plugins: MisbehavingPlugin[] = [];
const dirs: string[] = [];

test.after.always(async () => {
  for (const child of processes) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  for (const plugin of plugins) await plugin.close();
  for (const dir of dirs) {
    await unmountBelow(dir);
    await rm(dir, { recursive: true, force: true });
  }
});

function dvdi(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/dvdi.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    processes.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The table row of a step: [step, result, ms, detail]. */
function row(stdout: string, step: string): string | undefined {
  return stdout.split('\n').find((line) => line.startsWith(`${step}  `));
}

async function waitForSocket(path: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`dvdi plugin exited with ${child.exitCode} before serving: ${log()}`);
    if ((await stat(path).catch(() => undefined))?.isSocket()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`dvdi plugin did not create ${path} within 10 s: ${log()}`);
}

test('against the reference plugin (dir backend): every step passes, exit 0, nothing left mounted', async (t) => {
  const dir = await makeTempDir('check-ref');
  dirs.push(dir);
  await mkdir(join(dir, 'plugins'));
  const socket = join(dir, 'plugins', 'refcheck.sock');
  const plugin = spawn(process.execPath, ['--import', 'tsx', 'src/cli/dvdi.ts', 'plugin', '--name', 'refcheck', '--backend', 'dir', '--root', join(dir, 'root'), '--socket', socket], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  processes.push(plugin);
  let pluginLog = '';
  plugin.stderr.on('data', (chunk: Buffer) => (pluginLog += chunk.toString()));
  await waitForSocket(socket, plugin, () => pluginLog);

  const result = await dvdi(['driver', 'check', '--driver', 'refcheck', '--plugin-dirs', `${join(dir, 'empty')}:${join(dir, 'plugins')}`, '--timeout-ms', '20000']);
  t.is(result.code, 0, `${result.stdout}\n${result.stderr}`);
  for (const step of ['Discovery', 'Plugin.Activate', 'Capabilities', 'Create', 'Get', 'Mount', 'Path', 'Unmount', 'Remove']) {
    t.regex(row(result.stdout, step) ?? '', /\s+PASS\s+\d+\s+/, step);
  }
  t.regex(result.stdout, /driver check of "refcheck": PASS \(9 passed, 0 failed\)/);
  t.regex(row(result.stdout, 'Mount') ?? '', new RegExp(`${join(dir, 'root')}/\\S+dvdi-check-[0-9a-f]{8} \\(a mount point\\)`));
  // The reference plugin's habits, as the INFO rows report them.
  t.regex(row(result.stdout, 'Get Status (mounted)') ?? '', /INFO .*no Status\.Mounts \(Status keys: .*holders.*\); dvdi falls back to the mount table/);
  t.regex(row(result.stdout, 'Path (unmounted)') ?? '', /INFO .*answers no mount point/);
  t.regex(row(result.stdout, 'Unmount (unknown ID)') ?? '', /INFO .*succeeds/);
  const left = (await readMountInfo()).filter((m) => m.mountPoint.startsWith(`${dir}/`));
  t.deepEqual(left.map((m) => m.mountPoint), [], 'the scratch volume is unmounted');
});

test('against the reference plugin in rclone-habits mode: still passes; the INFO rows show the other habits', async (t) => {
  const dir = await makeTempDir('check-hab');
  dirs.push(dir);
  const socket = join(dir, 'plugins', 'habcheck.sock');
  const plugin = spawn(process.execPath, ['--import', 'tsx', 'src/cli/dvdi.ts', 'plugin', '--name', 'habcheck', '--backend', 'dir', '--root', join(dir, 'root'), '--socket', socket, '--habits', 'rclone'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  processes.push(plugin);
  let pluginLog = '';
  plugin.stderr.on('data', (chunk: Buffer) => (pluginLog += chunk.toString()));
  await waitForSocket(socket, plugin, () => pluginLog);
  const result = await dvdi(['driver', 'check', '--driver', 'habcheck', '--plugin-dirs', join(dir, 'plugins')]);
  t.is(result.code, 0, `${result.stdout}\n${result.stderr}`);
  t.regex(row(result.stdout, 'Path (unmounted)') ?? '', /INFO .*still answers/);
  t.regex(row(result.stdout, 'Unmount (unknown ID)') ?? '', /INFO .*refused: volume is not mounted/);
  t.regex(row(result.stdout, 'Remove') ?? '', /PASS/);
});

async function misbehaving(modes: Parameters<typeof startMisbehavingPlugin>[0]['modes']): Promise<{ plugin: MisbehavingPlugin; dirsArg: string }> {
  const dir = await makeTempDir('check-bad');
  dirs.push(dir);
  await mkdir(join(dir, 'plugins'));
  const plugin = await startMisbehavingPlugin({ socketPath: join(dir, 'plugins', 'bad.sock'), mountRoot: join(dir, 'mnt'), modes });
  plugins.push(plugin);
  return { plugin, dirsArg: join(dir, 'plugins') };
}

test('a Mount refused with Err on 200: exit 3, the failure is named, no Unmount, the volume is removed', async (t) => {
  const { plugin, dirsArg } = await misbehaving({ Mount: 'err-200' });
  const result = await dvdi(['driver', 'check', '--driver', 'bad', '--plugin-dirs', dirsArg, '--opt', 'password=very-secret-value']);
  t.is(result.code, 3, result.stdout);
  t.regex(row(result.stdout, 'Create') ?? '', /PASS.*with options password/);
  t.regex(row(result.stdout, 'Mount') ?? '', /FAIL.*DVDI_DRIVER_REFUSED: VolumeDriver\.Mount of volume "dvdi-check-[0-9a-f]{8}" on driver "bad": plugin error: "the backend is on fire"/);
  t.regex(row(result.stdout, 'Path') ?? '', /SKIP/);
  t.regex(row(result.stdout, 'Unmount (cleanup)') ?? '', /SKIP/);
  t.regex(row(result.stdout, 'Remove (cleanup)') ?? '', /PASS/);
  t.regex(result.stdout, /FAIL \(6 passed, 1 failed\)/);
  t.is(plugin.count('Mount'), 1);
  t.is(plugin.count('Unmount'), 0);
  t.is(plugin.count('Remove'), 1);
  t.false(result.stdout.includes('very-secret-value') || result.stderr.includes('very-secret-value'));
});

test('a refused Create: exit 3, and no Remove follows (nothing was created)', async (t) => {
  const { plugin, dirsArg } = await misbehaving({ Create: 'err-500' });
  const result = await dvdi(['driver', 'check', '--driver', 'bad', '--plugin-dirs', dirsArg]);
  t.is(result.code, 3, result.stdout);
  t.regex(row(result.stdout, 'Create') ?? '', /FAIL.*DVDI_DRIVER_REFUSED/);
  t.regex(row(result.stdout, 'Remove (cleanup)') ?? '', /SKIP.*Create was refused/);
  t.is(plugin.count('Create'), 1);
  t.is(plugin.count('Remove'), 0);
});

test('a Create that times out may have created the volume: it is removed', async (t) => {
  const { plugin, dirsArg } = await misbehaving({ Create: 'hang' });
  const result = await dvdi(['driver', 'check', '--driver', 'bad', '--plugin-dirs', dirsArg, '--timeout-ms', '500']);
  t.is(result.code, 3, result.stdout);
  t.regex(row(result.stdout, 'Create') ?? '', /FAIL.*DVDI_DRIVER_TIMEOUT/);
  t.regex(row(result.stdout, 'Remove (cleanup)') ?? '', /PASS/);
  t.is(plugin.count('Remove'), 1);
});

test('a hanging Mount: DVDI_DRIVER_TIMEOUT, then the possible mount is undone', async (t) => {
  const { plugin, dirsArg } = await misbehaving({ Mount: 'hang' });
  const result = await dvdi(['driver', 'check', '--driver', 'bad', '--plugin-dirs', dirsArg, '--timeout-ms', '500']);
  t.is(result.code, 3, result.stdout);
  t.regex(row(result.stdout, 'Mount') ?? '', /FAIL.*DVDI_DRIVER_TIMEOUT/);
  t.regex(row(result.stdout, 'Unmount (cleanup)') ?? '', /PASS/);
  t.regex(row(result.stdout, 'Remove (cleanup)') ?? '', /PASS/);
  t.is(plugin.count('Mount'), 1);
  t.is(plugin.count('Unmount'), 1);
});

test('a garbage Activate reply fails clearly and creates nothing', async (t) => {
  const { plugin, dirsArg } = await misbehaving({ 'Plugin.Activate': 'garbage' });
  const result = await dvdi(['driver', 'check', '--driver', 'bad', '--plugin-dirs', dirsArg]);
  t.is(result.code, 3, result.stdout);
  t.regex(row(result.stdout, 'Plugin.Activate') ?? '', /FAIL.*DVDI_DRIVER_BAD_REPLY.*not JSON/);
  t.regex(row(result.stdout, 'Create') ?? '', /SKIP/);
  t.is(plugin.count('Create'), 0);
  t.is(plugin.count('Remove'), 0);
});

test('no such plugin: discovery fails with NOT_FOUND after the retry budget, exit 3', async (t) => {
  const dir = await makeTempDir('check-none');
  dirs.push(dir);
  const result = await dvdi(['driver', 'check', '--driver', 'ghost', '--plugin-dirs', dir, '--retry-budget-ms', '300']);
  t.is(result.code, 3);
  t.regex(row(result.stdout, 'Discovery') ?? '', /FAIL.*DVDI_DRIVER_NOT_FOUND.*ghost\.sock/);
});

test('usage errors exit 2; --help exits 0', async (t) => {
  t.is((await dvdi(['driver', 'check'])).code, 2);
  t.is((await dvdi(['driver', 'frobnicate', '--driver', 'x'])).code, 2);
  t.is((await dvdi(['driver', 'check', '--driver', 'x', '--timeout-ms', 'soon'])).code, 2);
  const help = await dvdi(['driver', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Usage: dvdi driver check --driver NAME/);
});
