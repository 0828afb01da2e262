// Issue 12 finding 1 through a real `dvdi sidecar`: a plugin whose Mount answers /, /etc, the
// mount root, ROOT/.dvdi, a ".." path or a symlink makes the sidecar exit 3 with a message naming
// the volume, the plugin and the rule; nothing is bound under the root and the driver Mount is
// undone (one Unmount). A plain directory is accepted by default, and refused once it lies
// outside DVDI_PLUGIN_MOUNT_DIRS.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readMountInfo } from '../../../src/common/mountinfo.js';
import { runDvdi, startDvdi, waitFor } from '../../helpers/cli.js';
import { startMisbehavingPlugin, type MisbehavingPlugin } from '../../helpers/misbehaving-plugin.js';
import { makeSharedRoot, type TempRoot } from '../../helpers/mount-root.js';

let temp: TempRoot;
let plugin: MisbehavingPlugin;
let env: Record<string, string>;

test.before(async () => {
  temp = await makeSharedRoot('sidecar-bind-source');
  await mkdir(join(temp.dir, 'plugins'));
  plugin = await startMisbehavingPlugin({ socketPath: join(temp.dir, 'plugins', 'evil.sock'), mountRoot: join(temp.dir, 'plugin-mounts') });
  env = {
    DVDI_MOUNT_ROOT: temp.root,
    DVDI_PLUGIN_DIRS: join(temp.dir, 'plugins'),
    DVDI_VOLUME_DRIVER: 'evil',
    DVDI_HTTP_ADDR: '127.0.0.1:0',
    DVDI_NODE_ID: 'node-a',
    DVDI_LOG_LEVEL: 'info',
  };
});
test.after.always(async () => {
  await plugin?.close();
  await temp?.cleanup();
});

async function bindsUnderRoot(): Promise<string[]> {
  return (await readMountInfo()).map((m) => m.mountPoint).filter((mp) => mp.startsWith(`${temp.root}/`));
}

const cases: Array<{ title: string; volume: string; answer: () => Promise<string>; rule: string }> = [
  { title: '/', volume: 'r-root', answer: async () => '/', rule: 'not-root' },
  { title: '/etc', volume: 'r-etc', answer: async () => '/etc', rule: 'not-system-tree' },
  { title: 'the mount root', volume: 'r-mroot', answer: async () => temp.root, rule: 'not-mount-root' },
  { title: 'ROOT/.dvdi', volume: 'r-state', answer: async () => join(temp.root, '.dvdi'), rule: 'not-inside-mount-root' },
  { title: 'a ".." path', volume: 'r-dotdot', answer: async () => `${temp.dir}/x/../../../../etc`, rule: 'normalised' },
  {
    title: 'a symlink to /root',
    volume: 'r-link',
    answer: async () => {
      await symlink('/root', join(temp.dir, 'link-to-root'));
      return join(temp.dir, 'link-to-root');
    },
    rule: 'not-symlink',
  },
];

for (const c of cases) {
  test.serial(`a plugin answering Mount with ${c.title}: exit 3 naming volume, plugin and rule; nothing bound; Mount undone`, async (t) => {
    plugin.setMountpoint(c.volume, await c.answer());
    const unmountsBefore = plugin.count('Unmount');
    const result = await runDvdi(['sidecar'], { ...env, DVDI_VOLUME_NAME: c.volume });
    t.is(result.code, 3, result.stderr);
    t.regex(result.stderr, new RegExp(`plugin "evil" reported for volume "${c.volume}"`));
    t.regex(result.stderr, new RegExp(`\\(rule ${c.rule}\\); nothing was bound`));
    t.regex(result.stderr, /DVDI_MOUNT_SOURCE_REFUSED/);
    t.deepEqual(await bindsUnderRoot(), []);
    t.is(plugin.count('Unmount') - unmountsBefore, 1, 'the driver Mount was undone');
  });
}

test.serial('a plain directory is accepted by default (bound nosuid,nodev), and refused when it lies outside DVDI_PLUGIN_MOUNT_DIRS', async (t) => {
  const plain = join(temp.dir, 'host-dirs', 'plain1');
  await mkdir(plain, { recursive: true });
  plugin.setMountpoint('plain1', plain);
  const sidecar = startDvdi(['sidecar'], { ...env, DVDI_VOLUME_NAME: 'plain1' });
  try {
    await waitFor('the sidecar ready', async () => {
      if (sidecar.exitCode !== null) throw new Error(`sidecar exited (${sidecar.exitCode}): ${sidecar.output.stderr}`);
      const line = sidecar.output.stderr.split('\n').find((l) => l.includes('http endpoints listening'));
      if (line === undefined) return false;
      return (await fetch(`${(JSON.parse(line) as { url: string }).url}/readyz`).catch(() => undefined))?.status === 200;
    });
    const options = execFileSync('findmnt', ['-n', '-o', 'OPTIONS', '--mountpoint', join(temp.root, 'plain1')], { encoding: 'utf8' }).trim().split(',');
    t.true(options.includes('nosuid') && options.includes('nodev'), options.join(','));
  } finally {
    sidecar.kill('SIGTERM');
  }
  t.is((await sidecar.finished).code, 0);
  t.deepEqual(await bindsUnderRoot(), []);

  const outside = await runDvdi(['sidecar'], { ...env, DVDI_VOLUME_NAME: 'plain1', DVDI_PLUGIN_MOUNT_DIRS: join(temp.dir, 'only-here') });
  t.is(outside.code, 3, outside.stderr);
  t.regex(outside.stderr, /\(rule plugin-mount-dirs\); nothing was bound/);
  t.deepEqual(await bindsUnderRoot(), []);
});
