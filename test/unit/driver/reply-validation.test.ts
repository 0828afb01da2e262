import test from 'ava';
import { judgeReply, VolumeDriverClient, type DriverCallEvent } from '../../../src/driver/volume-driver-client.js';
import { activateReply, emptyReply, getReply, listReply, mountReply } from '../../../src/driver/reply-schemas.js';
import {
  DriverBadReplyError,
  DriverError,
  DriverNotFoundError,
  DriverRefusedError,
  DriverTimeoutError,
  scrubPluginText,
  type CallSite,
} from '../../../src/driver/driver-errors.js';
import { DvdiError, ExitCode } from '../../../src/common/errors.js';
import type { Clock } from '../../../src/common/clock.js';
import type { PluginResolver } from '../../../src/driver/plugin-discovery.js';

const site: CallSite = { driver: 'rexray', method: 'Mount', volume: 'pgdata' };

test('non-200 with {Err}: refused, with the plugin message', (t) => {
  const error = t.throws(() => judgeReply({ status: 500, body: '{"Err":"disk on fire"}' }, mountReply, site), { instanceOf: DriverRefusedError });
  t.is(error.code, 'DVDI_DRIVER_REFUSED');
  t.is(error.status, 500);
  t.is(error.pluginMessage, 'disk on fire');
});

test('non-200 without JSON: the raw body, flattened and truncated', (t) => {
  const error = t.throws(() => judgeReply({ status: 502, body: `bad gateway\n${'x'.repeat(5000)}` }, mountReply, site), { instanceOf: DriverRefusedError });
  t.true(error.pluginMessage.startsWith('bad gateway x'));
  t.true(error.pluginMessage.length < 600);
  t.regex(error.message, /HTTP 502/);
  const empty = t.throws(() => judgeReply({ status: 404, body: '' }, mountReply, site), { instanceOf: DriverRefusedError });
  t.is(empty.pluginMessage, '(empty body)');
});

test('200 with a non-empty Err is a refusal even when the success fields are present', (t) => {
  const error = t.throws(() => judgeReply({ status: 200, body: '{"Err":"nope","Mountpoint":"/m"}' }, mountReply, site), { instanceOf: DriverRefusedError });
  t.is(error.status, 200);
  t.deepEqual(judgeReply({ status: 200, body: '{"Err":"","Mountpoint":"/m"}' }, mountReply, site), { Err: '', Mountpoint: '/m' });
});

test('garbage on 200 is a typed bad reply: not JSON, empty, wrong shapes, missing Mountpoint', (t) => {
  const cases: Array<[string, Parameters<typeof judgeReply>[1], RegExp]> = [
    ['<html>', mountReply, /not JSON/],
    ['', emptyReply, /empty body/],
    ['{}', mountReply, /Mountpoint/],
    ['{"Mountpoint":""}', mountReply, /Mountpoint is empty/],
    ['{"Mountpoint":42}', mountReply, /Mountpoint/],
    ['{"Volume":"v"}', getReply, /Volume/],
    ['{"Volume":{"Mountpoint":"/m"}}', getReply, /Volume\.Name/],
    ['{"Volumes":{}}', listReply, /Volumes/],
    ['{"Implements":"VolumeDriver"}', activateReply, /Implements/],
    ['[1,2]', emptyReply, /\(reply\)/],
    ['{"Err":5}', emptyReply, /Err/],
  ];
  for (const [body, schema, pattern] of cases) {
    const error = t.throws(() => judgeReply({ status: 200, body }, schema, site), { instanceOf: DriverBadReplyError }, body);
    t.regex(error.message, pattern, body);
  }
});

test('extra fields are accepted; null Volume and null Volumes are valid', (t) => {
  t.like(judgeReply({ status: 200, body: '{"Mountpoint":"/m","Vendor":{"x":1}}' }, mountReply, site), { Mountpoint: '/m' });
  t.is(judgeReply({ status: 200, body: '{"Volume":null}' }, getReply, site).Volume, null);
  t.is(judgeReply({ status: 200, body: '{"Volumes":null}' }, listReply, site).Volumes, null);
});

test('error shape: stable code, exit code 3, context and a message naming driver, method and volume', (t) => {
  const error = new DriverTimeoutError(site, 120_000);
  t.true(error instanceof DriverError && error instanceof DvdiError);
  t.is(error.code, 'DVDI_DRIVER_TIMEOUT');
  t.is(error.exitCode, ExitCode.MountFailed);
  t.like(error.context, { driver: 'rexray', method: 'Mount', volume: 'pgdata', timeoutMs: 120_000 });
  t.regex(error.message, /^VolumeDriver\.Mount of volume "pgdata" on driver "rexray": /);
  const activate = new DriverNotFoundError({ ...site, step: 'Plugin.Activate' }, 'x');
  t.regex(activate.message, /VolumeDriver\.Mount of volume "pgdata" on driver "rexray" \(at Plugin\.Activate\)/);
});

test('option values never reach a refusal message; keys name where they were', (t) => {
  const opts = { secretKey: 's3cr3t-value', size: '10', fs: 'ext4' };
  const error = t.throws(() => judgeReply({ status: 500, body: '{"Err":"bad key s3cr3t-value for size 10 fs ext4"}' }, emptyReply, { ...site, method: 'Create' }, opts), {
    instanceOf: DriverRefusedError,
  });
  t.false(error.message.includes('s3cr3t'));
  t.false(error.message.includes('ext4'));
  t.regex(error.message, /<value of secretKey>/);
  t.is(scrubPluginText('a\u0000b\nc'), 'a b c');
});

function fakeClock(): Clock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    monotonic: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

test('discovery waits with the Docker backoff (1, 2, 4, 8 s) and then gives up with NOT_FOUND', async (t) => {
  const clock = fakeClock();
  let looks = 0;
  const resolver: PluginResolver = { resolve: async () => void looks++, describe: (name) => `looked everywhere for ${name}` };
  const events: DriverCallEvent[] = [];
  const client = new VolumeDriverClient({ driver: 'ghost', resolver, clock, onCall: (e) => events.push(e) });
  const error = await t.throwsAsync(client.mount('v1', 'id1'), { instanceOf: DriverNotFoundError });
  t.deepEqual(clock.slept, [1000, 2000, 4000, 8000]);
  t.is(looks, 5);
  t.is(error.code, 'DVDI_DRIVER_NOT_FOUND');
  t.regex(error.message, /VolumeDriver\.Mount of volume "v1" on driver "ghost": plugin not found: looked everywhere for ghost \(waited 15000 ms\)/);
  t.deepEqual(events, [{ driver: 'ghost', method: 'Mount', outcome: 'error', seconds: 15 }]);
});

test('timeouts must be positive', (t) => {
  t.throws(() => new VolumeDriverClient({ driver: 'x', mountTimeoutMs: 0 }), { instanceOf: RangeError });
});

test('the registry keeps one client per driver name', async (t) => {
  const { VolumeDriverRegistry } = await import('../../../src/driver/volume-driver-registry.js');
  const registry = new VolumeDriverRegistry({ pluginDirs: ['/nonexistent'] });
  t.is(registry.driver('a'), registry.driver('a'));
  t.not(registry.driver('a'), registry.driver('b'));
  t.is(registry.driver('b').driver, 'b');
});
