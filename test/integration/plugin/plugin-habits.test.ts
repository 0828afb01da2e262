// The reference plugin in rclone-habits mode (`dvdi plugin --habits rclone`), over its real
// socket: Unmount of an ID that holds nothing is refused with rclone's messages, Path and Get
// name the mountpoint while unmounted; everything else (counts, real mounts) is unchanged.
import test from 'ava';
import { PluginHarness } from './plugin-harness.js';

test('rclone habits: unknown-ID Unmount refused with rclone messages, Path and Get always name the mountpoint', async (t) => {
  const p = await PluginHarness.create(t, 'dir', ['--habits', 'rclone']);
  const mp = p.mountPoint('hab1');
  await p.ok('Create', { Name: 'hab1' });
  t.deepEqual(await p.ok('Path', { Name: 'hab1' }), { Mountpoint: mp }, 'Path answers while unmounted');
  t.is(((await p.ok('Get', { Name: 'hab1' })).Volume as Record<string, unknown>).Mountpoint, mp);

  const notMounted = await p.call('Unmount', { Name: 'hab1', ID: 'ghost' });
  t.is(notMounted.status, 500);
  t.deepEqual(notMounted.body, { Err: 'volume is not mounted' });
  const notFound = await p.call('Unmount', { Name: 'nosuch', ID: 'ghost' });
  t.deepEqual(notFound.body, { Err: 'volume not found' });

  await p.ok('Mount', { Name: 'hab1', ID: 'c1' });
  t.true(await p.isMounted(mp));
  const otherId = await p.call('Unmount', { Name: 'hab1', ID: 'c2' });
  t.deepEqual(otherId.body, { Err: 'volume is not mounted by this id' });
  t.true(await p.isMounted(mp), 'a refused Unmount changes nothing');
  await p.ok('Unmount', { Name: 'hab1', ID: 'c1' });
  t.false(await p.isMounted(mp));
  t.deepEqual(await p.ok('Path', { Name: 'hab1' }), { Mountpoint: mp }, 'still answers after the Unmount');
  const journal = await p.journalLines();
  t.is(journal.filter((l) => l.op === 'Unmount' && l.result === 'error').length, 3, 'refusals are journaled');
});

test('reference habits (default) keep accepting an unknown ID', async (t) => {
  const p = await PluginHarness.create(t, 'dir');
  await p.ok('Create', { Name: 'hab2' });
  t.deepEqual(await p.ok('Unmount', { Name: 'hab2', ID: 'ghost' }), {});
  t.deepEqual(await p.ok('Path', { Name: 'hab2' }), { Mountpoint: '' });
});

test('--habits with an unknown value is a usage error', async (t) => {
  const error = await t.throwsAsync(PluginHarness.create(t, 'dir', ['--habits', 'docker']));
  t.regex(error.message, /--habits must be one of reference\|rclone/);
});
