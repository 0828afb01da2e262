// Finding 9 (ready file): DVDI_READY_FILE is created without following anything planted at its
// path and without writing into anyone's file; removal leaves a planted symlink's target alone.
import test, { type ExecutionContext } from 'ava';
import { link, lstat, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeReadyFile, writeReadyFile } from '../../../src/common/ready-file.js';

async function dir(t: ExecutionContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dvdi-ready-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('finding 9: a symlink planted at DVDI_READY_FILE is replaced, its target is never written', async (t) => {
  const d = await dir(t);
  const victim = join(d, 'victim');
  await writeFile(victim, 'precious\n');
  const ready = join(d, 'ready');
  await symlink(victim, ready);
  await writeReadyFile(ready, 'ready-at-x\n');
  t.is(await readFile(victim, 'utf8'), 'precious\n', 'the target is untouched');
  t.true((await lstat(ready)).isFile(), 'the ready file is a plain file now');
  t.is(await readFile(ready, 'utf8'), 'ready-at-x\n');
  t.deepEqual((await readdir(d)).sort(), ['ready', 'victim'], 'no temp file left behind');
});

test('finding 9: a hard link planted at DVDI_READY_FILE loses its name only, the linked file keeps its content', async (t) => {
  const d = await dir(t);
  const victim = join(d, 'victim');
  await writeFile(victim, 'precious\n');
  const ready = join(d, 'ready');
  await link(victim, ready);
  await writeReadyFile(ready, 'ready\n');
  t.is(await readFile(victim, 'utf8'), 'precious\n');
  t.is(await readFile(ready, 'utf8'), 'ready\n');
});

test('finding 9: removal unlinks our plain file and leaves a symlink (and its target) alone', async (t) => {
  const d = await dir(t);
  const ready = join(d, 'ready');
  await writeReadyFile(ready, 'x');
  await removeReadyFile(ready);
  await t.throwsAsync(lstat(ready));
  await removeReadyFile(ready); // absent: fine
  const victim = join(d, 'victim');
  await writeFile(victim, 'precious');
  await symlink(victim, ready);
  await removeReadyFile(ready);
  t.true((await lstat(ready)).isSymbolicLink());
  t.is(await readFile(victim, 'utf8'), 'precious');
});

test('finding 9: a directory at DVDI_READY_FILE is an error, and nothing is left behind', async (t) => {
  const d = await dir(t);
  const ready = join(d, 'ready');
  await import('node:fs/promises').then((fs) => fs.mkdir(join(ready, 'inner'), { recursive: true }));
  await t.throwsAsync(writeReadyFile(ready, 'x'));
  t.deepEqual(await readdir(d), ['ready']);
});
