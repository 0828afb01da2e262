// The refused-Unmount rule (lifecycle/unmount-outcome.ts) with a fake plugin and a fake mount
// table: Get's Status.Mounts decides where reported, else the mount table of the bind and every
// mountpoint the plugin names; Path never counts as "mounted"; non-refusals are still thrown.
import test from 'ava';
import { silentLogger } from '../../../src/common/logger.js';
import type { MountInfoEntry } from '../../../src/common/mountinfo.js';
import { DriverRefusedError, DriverTimeoutError } from '../../../src/driver/driver-errors.js';
import { mountFacts, unmountTolerant, type UnmountOutcomeDriver } from '../../../src/lifecycle/unmount-outcome.js';

const site = { driver: 'rclone', method: 'Unmount', volume: 'v' };

function table(...points: string[]): () => Promise<MountInfoEntry[]> {
  return async () => points.map((mountPoint, i) => ({ id: i, parentId: 0, device: '0:1', root: '/', mountPoint, options: [], optionalFields: [], fsType: 'fuse.rclone', source: 'x', superOptions: [] }));
}

function plugin(options: { unmount?: Error; get?: unknown; getError?: Error; path?: string }): UnmountOutcomeDriver & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async unmount() {
      calls.push('Unmount');
      if (options.unmount) throw options.unmount;
    },
    async get() {
      calls.push('Get');
      if (options.getError) throw options.getError;
      return options.get;
    },
    async path() {
      calls.push('Path');
      return options.path;
    },
  };
}

const refused = (message = 'volume is not mounted') => new DriverRefusedError(site, 500, message);
const base = { name: 'v', mountId: 'id-1', bindPath: '/root/v', logger: silentLogger(), what: 'test' };

test('an accepted Unmount is unmounted; nothing else is asked', async (t) => {
  const driver = plugin({});
  t.deepEqual(await unmountTolerant({ ...base, driver, mountTable: table() }), { kind: 'unmounted' });
  t.deepEqual(driver.calls, ['Unmount']);
});

test('refused, Status.Mounts without the ID: done, even while the mountpoint is mounted for other IDs', async (t) => {
  const driver = plugin({ unmount: refused('volume is not mounted by this id'), get: { Name: 'v', Mountpoint: '/base/v', Status: { Mounts: ['other'] } }, path: '/base/v' });
  const outcome = await unmountTolerant({ ...base, driver, mountTable: table('/base/v') });
  t.is(outcome.kind, 'not-mounted');
  t.regex(outcome.kind === 'not-mounted' ? outcome.evidence : '', /Status\.Mounts does not list mount ID id-1/);
});

test('refused, Status.Mounts lists the ID: the refusal stands', async (t) => {
  const error = refused('something odd');
  const driver = plugin({ unmount: error, get: { Name: 'v', Status: { Mounts: ['id-1'] } } });
  t.is(await t.throwsAsync(unmountTolerant({ ...base, driver, mountTable: table() })), error);
});

test('refused, no Status.Mounts: decided by the mount table of bind, Get Mountpoint, Path and the recorded mountpoint', async (t) => {
  const get = { Name: 'v', Mountpoint: '/base/v', Status: { holders: 1 } };
  t.is((await unmountTolerant({ ...base, driver: plugin({ unmount: refused(), get, path: '/base/v' }), mountTable: table('/elsewhere') })).kind, 'not-mounted');
  for (const mounted of ['/base/v', '/root/v', '/recorded/v', '/path/v']) {
    const driver = plugin({ unmount: refused(), get, path: '/path/v' });
    await t.throwsAsync(unmountTolerant({ ...base, driver, mountpoint: '/recorded/v', mountTable: table(mounted) }), { instanceOf: DriverRefusedError }, mounted);
  }
});

test('Path answering while unmounted is not evidence of a mount (rclone always answers it)', async (t) => {
  const facts = await mountFacts({ ...base, driver: plugin({ get: { Name: 'v', Mountpoint: '/base/v' }, path: '/base/v' }), mountTable: table() });
  t.true(facts.notMounted, facts.evidence);
});

test('the plugin does not know the volume at all: not mounted when nothing is in the mount table', async (t) => {
  const outcome = await unmountTolerant({ ...base, driver: plugin({ unmount: refused('volume not found'), get: undefined }), mountTable: table() });
  t.is(outcome.kind, 'not-mounted');
  t.regex(outcome.kind === 'not-mounted' ? outcome.evidence : '', /no such volume/);
});

test('Get failing says nothing: the refusal stands', async (t) => {
  const error = refused();
  const driver = plugin({ unmount: error, getError: new DriverTimeoutError({ ...site, method: 'Get' }, 100) });
  t.is(await t.throwsAsync(unmountTolerant({ ...base, driver, mountTable: table() })), error);
});

test('a timeout or any other failure of the Unmount itself is thrown untouched, without asking more', async (t) => {
  const error = new DriverTimeoutError(site, 100);
  const driver = plugin({ unmount: error, get: { Name: 'v', Status: { Mounts: [] } } });
  t.is(await t.throwsAsync(unmountTolerant({ ...base, driver, mountTable: table() })), error);
  t.deepEqual(driver.calls, ['Unmount']);
});

test('a malformed Status.Mounts is no report: the mount table decides', async (t) => {
  for (const mounts of [[1, 2], 'id-1', Array.from({ length: 10_001 }, () => 'x')]) {
    const facts = await mountFacts({ ...base, driver: plugin({ get: { Name: 'v', Mountpoint: '/base/v', Status: { Mounts: mounts } } }), mountTable: table('/base/v') });
    t.false(facts.notMounted);
    t.regex(facts.evidence, /still in the mount table: \/base\/v/);
  }
});
