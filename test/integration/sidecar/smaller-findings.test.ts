// Finding 9 (smaller findings) against a real sidecar process: a symlink planted at
// DVDI_READY_FILE is not followed, and one volume name in two slots is refused at config.
import test from 'ava';
import { lstat, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runDvdi } from '../../helpers/cli.js';
import { rigsFor } from '../../helpers/node-rig.js';

const rig = rigsFor(test);

test('finding 9: DVDI_READY_FILE with a planted symlink: the sidecar gets ready and the target is never written', async (t) => {
  const node = await rig();
  const victim = join(node.temp.dir, 'victim');
  await writeFile(victim, 'precious\n');
  const ready = join(node.temp.dir, 'ready');
  await symlink(victim, ready);
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'readyvol', DVDI_READY_FILE: ready, DVDI_TASK_ID: 'ready-task' });
  await sidecar.waitReady();
  for (let i = 0; i < 100 && !(await lstat(ready)).isFile(); i++) await new Promise((r) => setTimeout(r, 100));
  t.true((await lstat(ready)).isFile(), 'the ready file replaced the symlink');
  t.is(await readFile(victim, 'utf8'), 'precious\n');
  const stopped = await sidecar.stop();
  t.is(stopped.code, 0, stopped.stderr.slice(-2000));
  await t.throwsAsync(lstat(ready), undefined, 'removed on shutdown');
  t.is(await readFile(victim, 'utf8'), 'precious\n');
});

test('finding 9: the same volume name in two slots with different drivers: exit 2 naming both variables, nothing mounted', async (t) => {
  const node = await rig();
  const result = await runDvdi(['sidecar'], { ...node.env, DVDI_VOLUME_NAME: 'twice', DVDI_VOLUME_NAME3: 'twice', DVDI_VOLUME_DRIVER3: 'otherdriver' });
  t.is(result.code, 2, result.stderr.slice(-2000));
  t.regex(result.stderr, /DVDI_VOLUME_NAME="twice" and DVDI_VOLUME_NAME3="twice" request the same volume name twice/);
  t.false(await node.isMounted(join(node.root, 'twice')));
});

test('finding 9: a corrupt ROOT/.dvdi/state.json: the sidecar exits 4 at once naming the file and the problem, and leaves the file as it was', async (t) => {
  const node = await rig();
  await mkdir(join(node.root, '.dvdi'), { recursive: true, mode: 0o700 });
  const state = join(node.root, '.dvdi', 'state.json');
  await writeFile(state, '{"version":1,"volumes":{"x":{"holders":"abc"}}}');
  const result = await runDvdi(['sidecar'], { ...node.env, DVDI_VOLUME_NAME: 'corrupt', DVDI_TASK_ID: 'corrupt-task' });
  t.is(result.code, 4, result.stderr.slice(-2000));
  t.true(result.stderr.includes(`state file ${state} is not a valid refcount state: volumes.x.`), result.stderr.slice(-2000));
  t.false(/waiting for the refcount store to answer/.test(result.stderr), 'reported at once, not after the connect budget');
  t.is(await readFile(state, 'utf8'), '{"version":1,"volumes":{"x":{"holders":"abc"}}}');
  t.false(await node.isMounted(join(node.root, 'corrupt')));
});
