// The reference plugin with the `dir` backend, driven over its real unix socket as Docker would:
// protocol shape, the full volume cycle, per-ID mount counts, restarts, hostile input.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VOLUME_NAME_PATTERN } from '../../../src/driver/protocol-types.js';
import { startDvdi } from '../../helpers/cli.js';
import { call, listTree, PluginHarness } from './plugin-harness.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

test('handshake: Activate, Capabilities and List take an empty body and any Content-Type', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const activate = await call(p.socket, 'Plugin.Activate', '');
  t.is(activate.status, 200);
  t.deepEqual(activate.body, { Implements: ['VolumeDriver'] });
  t.is(activate.contentType, 'application/vnd.docker.plugins.v1.1+json');
  t.deepEqual((await call(p.socket, 'VolumeDriver.Capabilities', '')).body, { Capabilities: { Scope: 'local' } });
  t.deepEqual((await call(p.socket, 'VolumeDriver.List', '', { 'Content-Type': 'text/plain' })).body, { Volumes: [] });
  t.deepEqual((await call(p.socket, 'VolumeDriver.List', 'null')).body, { Volumes: [] });
  t.is((await call(p.socket, 'VolumeDriver.Capabilities', '{}', { 'Content-Type': 'application/json' })).status, 200);
});

test('dir: Create, Get, List, Mount, Path, Unmount, Remove over the socket', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const mp = p.mountPoint('data1');
  t.deepEqual(await p.ok('Create', { Name: 'data1', Opts: null }), {});
  const got = (await p.ok('Get', { Name: 'data1' })).Volume as Record<string, unknown>;
  t.is(got.Name, 'data1');
  t.regex(String(got.CreatedAt), RFC3339);
  t.false('Mountpoint' in got, 'not mounted yet');
  t.deepEqual(await p.ok('Path', { Name: 'data1' }), { Mountpoint: '' });

  t.deepEqual(await p.ok('Mount', { Name: 'data1', ID: 'c1' }), { Mountpoint: mp });
  t.true(await p.isMounted(mp), 'the mountpoint is a real mount');
  await writeFile(join(mp, 'hello.txt'), 'hi');
  t.is(await readFile(join(p.pluginRoot, 'volumes', 'data1', 'hello.txt'), 'utf8'), 'hi', 'the bind shows the volume directory');
  t.deepEqual(await p.ok('Path', { Name: 'data1' }), { Mountpoint: mp });
  t.is(((await p.ok('Get', { Name: 'data1' })).Volume as Record<string, unknown>).Mountpoint, mp);
  const listed = (await p.ok('List')).Volumes as Record<string, unknown>[];
  t.deepEqual(listed.map((v) => [v.Name, v.Mountpoint]), [['data1', mp]]);

  const refused = await p.call('Remove', { Name: 'data1' });
  t.is(refused.status, 500);
  t.regex(String(refused.body.Err), /in use/);
  t.true(await p.isMounted(mp));

  t.deepEqual(await p.ok('Unmount', { Name: 'data1', ID: 'c1' }), {});
  t.false(await p.isMounted(mp));
  t.deepEqual(await p.ok('Path', { Name: 'data1' }), { Mountpoint: '' });
  t.deepEqual(await p.ok('Remove', { Name: 'data1' }), {});
  t.false(existsSync(join(p.pluginRoot, 'volumes', 'data1')));

  const gone = await p.call('Get', { Name: 'data1' });
  t.is(gone.status, 500);
  t.regex(String(gone.body.Err), /no such volume/);
  t.regex(String((await p.call('Remove', { Name: 'data1' })).body.Err), /no such volume/);
  t.regex(String((await p.call('Mount', { Name: 'never', ID: 'x' })).body.Err), /no such volume/);
  t.deepEqual((await p.ok('List')).Volumes, []);
});

test('Create is idempotent and keeps the first options', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  await p.ok('Create', { Name: 'same', Opts: { size: '2' } });
  const first = ((await p.ok('Get', { Name: 'same' })).Volume as Record<string, unknown>).CreatedAt;
  await p.ok('Create', { Name: 'same', Opts: { size: '5' } });
  await p.ok('Create', { Name: 'same' });
  t.is(((await p.ok('Get', { Name: 'same' })).Volume as Record<string, unknown>).CreatedAt, first);
  t.is(((await p.ok('List')).Volumes as unknown[]).length, 1);
});

test('per-ID counts: two IDs, a repeated ID, an unknown ID, a missing ID', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const mp = p.mountPoint('shared');
  await p.ok('Create', { Name: 'shared' });

  // Two containers: only the second Unmount unmounts.
  await p.ok('Mount', { Name: 'shared', ID: 'a' });
  await p.ok('Mount', { Name: 'shared', ID: 'b' });
  await p.ok('Unmount', { Name: 'shared', ID: 'a' });
  t.true(await p.isMounted(mp), 'b still holds it');
  await p.ok('Unmount', { Name: 'shared', ID: 'b' });
  t.false(await p.isMounted(mp));

  // docker cp re-mounts with the same ID: it takes two Unmounts.
  await p.ok('Mount', { Name: 'shared', ID: 'a' });
  await p.ok('Mount', { Name: 'shared', ID: 'a' });
  await p.ok('Unmount', { Name: 'shared', ID: 'a' });
  t.true(await p.isMounted(mp), 'one count of a remains');
  // An ID that holds nothing: success, and no effect on the others.
  await p.ok('Unmount', { Name: 'shared', ID: 'stranger' });
  t.true(await p.isMounted(mp));
  await p.ok('Unmount', { Name: 'shared', ID: 'a' });
  t.false(await p.isMounted(mp));
  await p.ok('Unmount', { Name: 'shared', ID: 'a' }); // not mounted: still success
  await p.ok('Unmount', { Name: 'unknown-volume', ID: 'a' });

  // dvdcli sends no ID: those Mounts count under one pseudo-ID.
  await p.ok('Mount', { Name: 'shared' });
  await p.ok('Mount', { Name: 'shared', ID: '' });
  await p.ok('Unmount', { Name: 'shared' });
  t.true(await p.isMounted(mp));
  await p.ok('Unmount', { Name: 'shared', ID: null });
  t.false(await p.isMounted(mp));
});

test('concurrent Mounts of one volume mount it once; the last Unmount unmounts', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const mp = p.mountPoint('busy');
  await p.ok('Create', { Name: 'busy' });
  const ids = Array.from({ length: 12 }, (_, i) => `id${i}`);
  const replies = await Promise.all(ids.map((ID) => p.ok('Mount', { Name: 'busy', ID })));
  t.true(replies.every((r) => r.Mountpoint === mp));
  const { mountsAt, readMountInfo } = await import('../../../src/common/mountinfo.js');
  t.is(mountsAt(await readMountInfo(), mp).length, 1, 'exactly one mount, no stacking');
  await Promise.all(ids.slice(1).map((ID) => p.ok('Unmount', { Name: 'busy', ID })));
  t.true(await p.isMounted(mp));
  await p.ok('Unmount', { Name: 'busy', ID: 'id0' });
  t.false(await p.isMounted(mp));
});

test('restart: counts survive, mounted volumes stay mounted and known', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const mp = p.mountPoint('keep');
  await p.ok('Create', { Name: 'keep' });
  await p.ok('Mount', { Name: 'keep', ID: 'a' });
  await p.ok('Mount', { Name: 'keep', ID: 'a' });
  await p.ok('Mount', { Name: 'keep', ID: 'b' });
  await writeFile(join(mp, 'f'), 'x');

  await p.restart(); // SIGKILL: stale socket left behind, replaced by the new instance
  t.true(await p.isMounted(mp), 'a plugin crash unmounts nothing');
  t.is(((await p.ok('Get', { Name: 'keep' })).Volume as Record<string, unknown>).Mountpoint, mp);
  t.deepEqual(await p.ok('Path', { Name: 'keep' }), { Mountpoint: mp });
  await p.ok('Unmount', { Name: 'keep', ID: 'b' });
  await p.ok('Unmount', { Name: 'keep', ID: 'a' });
  t.true(await p.isMounted(mp), 'a still holds one count from before the restart');
  await p.ok('Unmount', { Name: 'keep', ID: 'a' });
  t.false(await p.isMounted(mp));
  await p.ok('Mount', { Name: 'keep', ID: 'c' });
  t.is(await readFile(join(mp, 'f'), 'utf8'), 'x');
});

test('restart without a state file: a mounted volume is adopted and never unmounted early', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const mp = p.mountPoint('orphan');
  await p.ok('Create', { Name: 'orphan' });
  await p.ok('Mount', { Name: 'orphan', ID: 'a' });
  await p.crash();
  await rm(join(p.pluginRoot, 'state.json'));
  await p.start();
  t.is(((await p.ok('Get', { Name: 'orphan' })).Volume as Record<string, unknown>).Mountpoint, mp);
  await p.ok('Unmount', { Name: 'orphan', ID: 'a' }); // its count was lost with the file
  t.true(await p.isMounted(mp), 'the unknown holder keeps it mounted');
  t.regex(String((await p.call('Remove', { Name: 'orphan' })).body.Err), /in use/);
});

test('SIGTERM: exit 0, socket removed, volumes stay mounted', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  await p.ok('Create', { Name: 'stay' });
  await p.ok('Mount', { Name: 'stay', ID: 'a' });
  p.process!.kill('SIGTERM');
  const finished = await p.process!.finished;
  t.is(finished.code, 0, finished.stderr);
  t.false(existsSync(p.socket));
  t.true(await p.isMounted(p.mountPoint('stay')));
  t.true(finished.stderr.split('\n').filter(Boolean).every((line) => typeof JSON.parse(line) === 'object'), 'logs are JSON lines');
});

test('a second instance on a live socket is refused with exit 2', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const second = await startDvdi(p.args()).finished;
  t.is(second.code, 2);
  t.regex(second.stderr, /served by another process/);
  t.is((await call(p.socket, 'Plugin.Activate', '')).status, 200, 'the first keeps serving');
});

const HOSTILE_NAMES = ['../x', '..', '.', 'a/b', '/etc', '-rf', '', 'a'.repeat(129), 'a\nb', 'tab\there', 'nul\u0000', ' lead', '.hidden', 'x'.repeat(64) + '/../../y'];

test('hostile names are refused by every method and nothing appears outside the root', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  // The journal file is outside the root by the test's own choice; it records the refusals.
  const outsideRoot = (): string[] => listTree(p.temp.dir).filter((path) => !path.startsWith('root/plugin/') && path !== 'journal.jsonl');
  const outside = outsideRoot();
  const inside = listTree(p.pluginRoot);
  for (const Name of HOSTILE_NAMES) {
    t.false(VOLUME_NAME_PATTERN.test(Name), Name);
    for (const method of ['Create', 'Mount', 'Get', 'Path', 'Remove', 'Unmount']) {
      const reply = await p.call(method, { Name, ID: 'x', Opts: { size: '1' } });
      t.is(reply.status, 500, `${method} ${JSON.stringify(Name)}`);
      t.regex(String(reply.body.Err), /invalid volume name/, `${method} ${JSON.stringify(Name)}`);
    }
  }
  t.deepEqual(listTree(p.pluginRoot), inside);
  t.deepEqual(outsideRoot(), outside);
  t.deepEqual((await p.ok('List')).Volumes, []);
  t.deepEqual(await p.journalLines().then((lines) => lines.filter((l) => l.result === 'ok')), []);
  t.is(((await p.ok('Create', { Name: 'a'.repeat(128) })) && (await p.ok('List')).Volumes as unknown[]).length, 1, '128 characters is still valid');
});

test('a symlink planted at the mountpoint is refused, nothing is mounted through it', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const victim = join(p.temp.dir, 'victim');
  await mkdir(victim);
  await p.ok('Create', { Name: 'evil' });
  await symlink(victim, p.mountPoint('evil'));
  const reply = await p.call('Mount', { Name: 'evil', ID: 'a' });
  t.is(reply.status, 500);
  t.regex(String(reply.body.Err), /symlink/);
  t.false(await p.isMounted(victim));
  // The refused Mount left no count behind: after removing the link the volume mounts normally.
  await rm(p.mountPoint('evil'));
  await p.ok('Mount', { Name: 'evil', ID: 'a' });
  await p.ok('Unmount', { Name: 'evil', ID: 'a' });
  t.false(await p.isMounted(p.mountPoint('evil')));
});

test('bad options are refused naming the key, the value and the accepted form; nothing is created', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const before = listTree(p.pluginRoot);
  const cases: [Record<string, string>, RegExp][] = [
    [{ sise: '1' }, /unknown option "sise": accepted keys are size, newfstype, overwritefs, preempt/],
    [{ size: 'big' }, /option size="big" is invalid: expected a positive number of GiB/],
    [{ size: '0' }, /option size="0" is invalid/],
    [{ size: '-2' }, /option size="-2" is invalid/],
    [{ SIZE: '1e3' }, /option size="1e3" is invalid/],
    [{ newfstype: 'btrfs' }, /option newfstype="btrfs" is invalid: expected one of ext4\|xfs/],
    [{ overwriteFS: 'maybe' }, /option overwritefs="maybe" is invalid: expected a boolean/],
    [{ size: '1', Size: '2' }, /option size given twice/],
  ];
  for (const [Opts, expected] of cases) {
    const reply = await p.call('Create', { Name: 'opt', Opts });
    t.is(reply.status, 500, JSON.stringify(Opts));
    t.regex(String(reply.body.Err), expected);
  }
  t.deepEqual(listTree(p.pluginRoot), before);
  await p.ok('Create', { Name: 'opt', Opts: { Size: '0.5', NewFsType: 'XFS', OverwriteFs: 'TRUE', Preempt: 'false' } });
});

test('garbage requests get 400 with Err and the server keeps serving', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const garbage: [string, string][] = [
    ['VolumeDriver.Create', 'garbage'],
    ['VolumeDriver.Create', ''],
    ['VolumeDriver.Create', '[1,2]'],
    ['VolumeDriver.Create', '"Name"'],
    ['VolumeDriver.Create', '{"Name":5}'],
    ['VolumeDriver.Create', '{"Name":"x","Opts":{"size":1}}'],
    ['VolumeDriver.Create', '{"Name":"x","Opts":[1]}'],
    ['VolumeDriver.Mount', '{"Name":"x","ID":7}'],
    ['VolumeDriver.Mount', '{"Name":"x"'],
    ['VolumeDriver.Get', '{}'],
  ];
  for (const [path, body] of garbage) {
    const reply = await call(p.socket, path, body);
    t.is(reply.status, 400, `${path} ${body}`);
    t.is(typeof reply.body.Err, 'string', `${path} ${body}`);
    t.is(reply.contentType, 'application/vnd.docker.plugins.v1.1+json');
  }
  const huge = await call(p.socket, 'VolumeDriver.Create', JSON.stringify({ Name: 'x', Opts: { pad: 'y'.repeat(2 * 1024 * 1024) } })).catch(() => undefined);
  if (huge !== undefined) t.is(huge.status, 400);
  t.is((await call(p.socket, 'VolumeDriver.Nope', '{}')).status, 404);
  t.is((await call(p.socket, 'VolumeDriver.List', '', {}, 'GET')).status, 405);
  t.is((await call(p.socket, 'Plugin.Activate', '')).status, 200);
  t.deepEqual((await p.ok('List')).Volumes, [], 'no garbage request created anything');
});

test('journal: one line per Mount/Unmount with time, node, op, volume, id, result', async (t) => {
  const p = await PluginHarness.create(t, 'dir', ['--node', 'node-a']);
  await p.ok('Create', { Name: 'j' });
  await p.ok('Mount', { Name: 'j', ID: 'a' });
  await p.ok('Mount', { Name: 'j' });
  await p.call('Mount', { Name: 'missing', ID: 'b' });
  await p.ok('Unmount', { Name: 'j' });
  await p.ok('Unmount', { Name: 'j', ID: 'a' });
  await p.ok('Get', { Name: 'j' });
  const lines = await p.journalLines();
  t.is(lines.length, 5, 'Get and Create are not journaled');
  for (const line of lines) {
    t.regex(String(line.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    t.is(line.node, 'node-a');
  }
  const mp = p.mountPoint('j');
  t.like(lines[0], { op: 'Mount', volume: 'j', id: 'a', result: 'ok', mountpoint: mp, changed: true });
  t.like(lines[1], { op: 'Mount', volume: 'j', id: null, result: 'ok', mountpoint: mp, changed: false });
  t.like(lines[2], { op: 'Mount', volume: 'missing', id: 'b', result: 'error' });
  t.regex(String(lines[2]!.error), /no such volume: missing/);
  t.like(lines[3], { op: 'Unmount', volume: 'j', id: null, result: 'ok', changed: false });
  t.like(lines[4], { op: 'Unmount', volume: 'j', id: 'a', result: 'ok', changed: true });
  const times = lines.map((line) => Date.parse(String(line.time)));
  t.deepEqual([...times].sort((a, b) => a - b), times, 'in order');
});

test('a busy filesystem: the last Unmount fails loudly, stays mounted, and a later Unmount retries', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  const mp = p.mountPoint('busy');
  await p.ok('Create', { Name: 'busy' });
  await p.ok('Mount', { Name: 'busy', ID: 'a' });
  const handle = await open(join(mp, 'open-file'), 'w');
  // A process whose working directory is inside the mount keeps it busy for umount(8).
  const holder = spawn('sleep', ['60'], { cwd: mp, stdio: 'ignore' });
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise((resolve) => holder.once('spawn', resolve));
  const refused = await p.call('Unmount', { Name: 'busy', ID: 'a' });
  t.is(refused.status, 500);
  t.regex(String(refused.body.Err), /umount/);
  t.true(await p.isMounted(mp), 'never detached underneath a user');
  await handle.close();
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  await p.ok('Unmount', { Name: 'busy', ID: 'whoever' }); // no holders left: retries the unmount
  t.false(await p.isMounted(mp));
  const last = (await p.journalLines()).slice(-2);
  t.like(last[0], { op: 'Unmount', id: 'a', result: 'error' });
  t.like(last[1], { op: 'Unmount', id: 'whoever', result: 'ok', changed: true });
});
