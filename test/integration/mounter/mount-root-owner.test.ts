// Issue 12 finding 3 at the module: ROOT/.dvdi/node-id is created once (the first of many
// concurrent claims wins, atomically), the same ID passes, another ID is refused with exit 2 and
// the fix, the hostname fallback warns, and a symlinked or garbage node-id file (or .dvdi) is
// refused rather than followed or trusted.
import test from 'ava';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { pino } from 'pino';
import { DvdiError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { claimMountRoot, MountRootOwnedError } from '../../../src/mounter/mount-root-owner.js';
import { makeTempDir as makeDir } from '../../helpers/mount-root.js';

const logger = silentLogger();
const dirs: string[] = [];
test.after.always(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});
async function makeTempDir(prefix: string): Promise<string> {
  const dir = await makeDir(prefix);
  dirs.push(dir);
  return dir;
}

test('the first claim records the ID; the same ID passes; another is refused with exit 2 naming DVDI_NODE_ID', async (t) => {
  const root = await makeTempDir('owner');
  await claimMountRoot({ realRoot: root, nodeId: 'node-a', nodeIdSource: 'DVDI_NODE_ID', logger });
  t.is(await readFile(join(root, '.dvdi', 'node-id'), 'utf8'), 'node-a\n');
  await claimMountRoot({ realRoot: root, nodeId: 'node-a', nodeIdSource: 'HOST', logger });
  const error = await t.throwsAsync(claimMountRoot({ realRoot: root, nodeId: 'node-b', nodeIdSource: 'NODE_NAME', logger }), { instanceOf: MountRootOwnedError });
  t.is(error.code, 'DVDI_MOUNT_ROOT_OWNED');
  t.is(error.exitCode, 2);
  t.regex(error.message, /belongs to node ID "node-a" \(recorded in .*\/\.dvdi\/node-id\), but this process has node ID "node-b" \(from NODE_NAME\)/);
  t.regex(error.message, /Set DVDI_NODE_ID=node-a/);
});

test('twelve concurrent claims with different IDs: exactly one wins, the file holds its ID', async (t) => {
  const root = await makeTempDir('owner-race');
  const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => claimMountRoot({ realRoot: root, nodeId: `n${i}`, nodeIdSource: 'DVDI_NODE_ID', logger })));
  const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [`n${i}`] : []));
  t.is(winners.length, 1);
  t.is((await readFile(join(root, '.dvdi', 'node-id'), 'utf8')).trim(), winners[0]!);
  for (const r of results) if (r.status === 'rejected') t.true(r.reason instanceof MountRootOwnedError);
});

test('the hostname fallback is logged as a warning naming DVDI_NODE_ID', async (t) => {
  const root = await makeTempDir('owner-host');
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => { lines.push(chunk.toString()); done(); } });
  await claimMountRoot({ realRoot: root, nodeId: 'c0ffee123456', nodeIdSource: 'hostname', logger: pino({ level: 'info' }, sink) });
  const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.level === 40);
  t.regex(warning?.msg ?? '', /DVDI_NODE_ID is not set .* using the hostname "c0ffee123456"/);
});

test('a symlinked node-id file, a garbage one, and a symlinked .dvdi are refused, never followed', async (t) => {
  const linked = await makeTempDir('owner-link');
  const target = join(linked, 'elsewhere-id');
  await writeFile(target, 'node-a\n');
  await mkdir(join(linked, 'root', '.dvdi'), { recursive: true });
  await symlink(target, join(linked, 'root', '.dvdi', 'node-id'));
  const viaLink = await t.throwsAsync(claimMountRoot({ realRoot: join(linked, 'root'), nodeId: 'node-a', nodeIdSource: 'DVDI_NODE_ID', logger }), { instanceOf: DvdiError });
  t.is(viaLink.code, 'DVDI_MOUNT_PATH_UNSAFE');

  const garbage = await makeTempDir('owner-garbage');
  await mkdir(join(garbage, '.dvdi'));
  await writeFile(join(garbage, '.dvdi', 'node-id'), 'two words\n');
  const bad = await t.throwsAsync(claimMountRoot({ realRoot: garbage, nodeId: 'node-a', nodeIdSource: 'DVDI_NODE_ID', logger }), { instanceOf: DvdiError });
  t.regex(bad.message, /does not hold a node ID/);

  const stateLink = await makeTempDir('owner-state-link');
  await mkdir(join(stateLink, 'real-state'));
  await mkdir(join(stateLink, 'root'));
  await symlink(join(stateLink, 'real-state'), join(stateLink, 'root', '.dvdi'));
  const viaState = await t.throwsAsync(claimMountRoot({ realRoot: join(stateLink, 'root'), nodeId: 'node-a', nodeIdSource: 'DVDI_NODE_ID', logger }), { instanceOf: DvdiError });
  t.is(viaState.exitCode, 3);
  t.regex(viaState.message, /\.dvdi is a symlink/);
});
