// The client against a real HTTP server on a real unix socket that misbehaves on demand.
import test from 'ava';
import { rm, mkdir, link, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { makeTempDir } from '../../helpers/mount-root.js';
import { startMisbehavingPlugin, PLUGIN_ERROR_TEXT, type MisbehavingPlugin, type MethodName, type PluginMode } from '../../helpers/misbehaving-plugin.js';
import { VolumeDriverClient, type DriverCallEvent, type VolumeDriverClientOptions } from '../../../src/driver/volume-driver-client.js';
import {
  DriverAbortedError,
  DriverBadReplyError,
  DriverNotFoundError,
  DriverRefusedError,
  DriverTimeoutError,
  DriverUnreachableError,
  NotVolumeDriverError,
} from '../../../src/driver/driver-errors.js';
import { PLUGIN_MEDIA_TYPE } from '../../../src/driver/protocol-types.js';

const FAST_BACKOFF = { initialMs: 50, maxDelayMs: 200, budgetMs: 600 };
const cleanups: Array<() => Promise<void>> = [];

test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function setup(
  modes: Partial<Record<MethodName, PluginMode>> = {},
  clientOptions: Partial<VolumeDriverClientOptions> = {},
  listen = true,
): Promise<{ plugin: MisbehavingPlugin; client: VolumeDriverClient; events: DriverCallEvent[]; dir: string }> {
  const dir = await makeTempDir('drv');
  await mkdir(join(dir, 'plugins'));
  const plugin = await startMisbehavingPlugin({ socketPath: join(dir, 'plugins', 'bad.sock'), mountRoot: join(dir, 'mnt'), modes, listen });
  cleanups.push(async () => {
    await plugin.close();
    await rm(dir, { recursive: true, force: true });
  });
  const events: DriverCallEvent[] = [];
  const client = new VolumeDriverClient({
    driver: 'bad',
    pluginDirs: [join(dir, 'nothing-here'), join(dir, 'plugins')],
    backoff: FAST_BACKOFF,
    callTimeoutMs: 5000,
    mountTimeoutMs: 5000,
    unmountTimeoutMs: 5000,
    onCall: (e) => events.push(e),
    ...clientOptions,
  });
  return { plugin, client, events, dir };
}

test('a well-behaved plugin: the whole protocol, Docker headers, one Activate', async (t) => {
  const { plugin, client, events, dir } = await setup();
  t.is(await client.get('v1'), undefined, 'absent volume: Err on Get means no such volume');
  await client.create('v1', { size: '1', fs: 'ext4' });
  t.like(await client.get('v1'), { Name: 'v1' });
  const mountpoint = await client.mount('v1', 'mount-id-1');
  t.is(mountpoint, join(dir, 'mnt', 'v1'));
  t.is(await client.path('v1'), mountpoint);
  t.deepEqual((await client.list()).map((v) => v.Name), ['v1']);
  t.deepEqual(await client.capabilities(), { scope: 'local' });
  await client.unmount('v1', 'mount-id-1');
  t.is(await client.path('v1'), undefined);
  await client.remove('v1');

  t.is(plugin.count('Plugin.Activate'), 1);
  for (const request of plugin.requests) {
    t.is(request.headers.accept, PLUGIN_MEDIA_TYPE);
    t.is(request.headers.host, 'plugin.moby.localhost');
  }
  const byMethod = Object.fromEntries(plugin.requests.map((r) => [r.method, JSON.parse(r.body)]));
  t.deepEqual(byMethod.Create, { Name: 'v1', Opts: { size: '1', fs: 'ext4' } });
  t.deepEqual(byMethod.Mount, { Name: 'v1', ID: 'mount-id-1' });
  t.deepEqual(byMethod['Plugin.Activate'], {});
  t.true(events.every((e) => e.outcome === 'ok' && e.driver === 'bad' && e.seconds >= 0));
  t.deepEqual(
    events.map((e) => e.method),
    ['Plugin.Activate', 'Get', 'Create', 'Get', 'Mount', 'Path', 'List', 'Capabilities', 'Unmount', 'Path', 'Remove'],
  );
});

const refusals: Array<[PluginMode, number, RegExp]> = [
  ['err-200', 200, new RegExp(`plugin error: "${PLUGIN_ERROR_TEXT}"`)],
  ['err-500', 500, new RegExp(`HTTP 500: "${PLUGIN_ERROR_TEXT}"$`)],
  ['text-500', 500, new RegExp(`HTTP 500: "internal failure: ${PLUGIN_ERROR_TEXT}"$`)],
];
for (const [mode, status, pattern] of refusals) {
  test(`Mount answered ${mode}: DVDI_DRIVER_REFUSED after exactly one request`, async (t) => {
    const { plugin, client, events } = await setup({ Mount: mode });
    await client.create('v1');
    const error = await t.throwsAsync(client.mount('v1', 'id'), { instanceOf: DriverRefusedError });
    t.is(error.code, 'DVDI_DRIVER_REFUSED');
    t.is(error.status, status);
    t.regex(error.message, /^VolumeDriver\.Mount of volume "v1" on driver "bad": /);
    t.regex(error.message, pattern);
    t.is(plugin.count('Mount'), 1);
    t.is(plugin.count('Unmount'), 0);
    t.like(events.at(-1), { method: 'Mount', outcome: 'error' });
  });
}

const garbage: Array<[MethodName, PluginMode, RegExp]> = [
  ['Mount', 'garbage', /not JSON/],
  ['Mount', 'empty-object', /Mountpoint/],
  ['Mount', 'wrong-shape', /Mountpoint/],
  ['Create', 'empty-body', /empty body/],
  ['List', 'wrong-shape', /Volumes/],
  ['Get', 'garbage', /not JSON/],
];
for (const [method, mode, pattern] of garbage) {
  test(`${method} answered ${mode}: DVDI_DRIVER_BAD_REPLY after exactly one request`, async (t) => {
    const { plugin, client } = await setup({ [method]: mode });
    const call = (): Promise<unknown> =>
      method === 'Mount' ? client.mount('v1', 'id') : method === 'Create' ? client.create('v1') : method === 'Get' ? client.get('v1') : client.list();
    const error = await t.throwsAsync(call(), { instanceOf: DriverBadReplyError });
    t.is(error.code, 'DVDI_DRIVER_BAD_REPLY');
    t.regex(error.message, pattern);
    t.is(plugin.count(method), 1);
  });
}

test('a hanging Mount times out (DVDI_DRIVER_TIMEOUT) and is not retried', async (t) => {
  const { plugin, client, events } = await setup({ Mount: 'hang' }, { mountTimeoutMs: 300 });
  await client.create('v1');
  const error = await t.throwsAsync(client.mount('v1', 'id'), { instanceOf: DriverTimeoutError });
  t.is(error.code, 'DVDI_DRIVER_TIMEOUT');
  t.is(error.timeoutMs, 300);
  t.is(plugin.count('Mount'), 1);
  t.like(events.at(-1), { method: 'Mount', outcome: 'timeout' });
});

test('the other calls use their own time limit', async (t) => {
  const { plugin, client } = await setup({ Unmount: 'hang', Get: 'hang' }, { unmountTimeoutMs: 200, callTimeoutMs: 250 });
  t.like(await t.throwsAsync(client.unmount('v1', 'id'), { instanceOf: DriverTimeoutError }), { timeoutMs: 200 });
  t.like(await t.throwsAsync(client.get('v1'), { instanceOf: DriverTimeoutError }), { timeoutMs: 250 });
  t.is(plugin.count('Unmount'), 1);
});

test('a socket that appears after 3 s: discovery retries and the call succeeds', async (t) => {
  const { plugin, client, events } = await setup({}, { backoff: { initialMs: 250, maxDelayMs: 1000, budgetMs: 10_000 } }, false);
  const timer = setTimeout(() => void plugin.listen(), 3000);
  cleanups.push(async () => clearTimeout(timer));
  await client.create('late');
  t.is(plugin.count('Create'), 1);
  t.is(plugin.count('Plugin.Activate'), 1);
  t.like(events.at(-1), { method: 'Create', outcome: 'ok' });
  t.true(events.at(-1)!.seconds > 0);
});

test('a socket that never appears: DVDI_DRIVER_NOT_FOUND after the budget, naming what was searched', async (t) => {
  const { client, dir } = await setup({}, {}, false);
  const error = await t.throwsAsync(client.mount('v1', 'id'), { instanceOf: DriverNotFoundError });
  t.is(error.code, 'DVDI_DRIVER_NOT_FOUND');
  t.true(error.message.includes(join(dir, 'plugins')));
  t.regex(error.message, /VolumeDriver\.Mount of volume "v1" on driver "bad": plugin not found: looked for bad\.sock.*\(waited \d+ ms\)/);
});

test('a socket file with nobody listening: ECONNREFUSED is retried, then DVDI_DRIVER_UNREACHABLE', async (t) => {
  const { plugin, client, dir } = await setup();
  await client.create('v1');
  // A socket file whose listener is gone: keep a hard link while the server closes (which
  // unlinks its own name), then put it back. Connecting to it is refused by the kernel.
  await link(plugin.socketPath, join(dir, 'dead.sock'));
  await plugin.close();
  await rename(join(dir, 'dead.sock'), plugin.socketPath);
  const error = await t.throwsAsync(client.remove('v1'), { instanceOf: DriverUnreachableError });
  t.is(error.code, 'DVDI_DRIVER_UNREACHABLE');
  t.true(error.retryable);
  t.regex(error.message, /VolumeDriver\.Remove of volume "v1" on driver "bad": plugin at unix:\/\/.*bad\.sock unreachable: ECONNREFUSED/);
});

test('a plugin that restarts between calls: the missing socket (ENOENT) is retried and the call succeeds', async (t) => {
  const { plugin, client } = await setup();
  await client.create('v1');
  await plugin.close();
  const timer = setTimeout(() => void plugin.listen(), 150);
  cleanups.push(async () => clearTimeout(timer));
  await client.get('v1');
  t.is(plugin.count('Get'), 1);
  t.is(plugin.count('Plugin.Activate'), 1, 'activation stays cached across the restart');
});

test('connections reset before any reply are retried until the budget, then UNREACHABLE', async (t) => {
  const { plugin, client } = await setup({ Remove: 'reset' });
  const error = await t.throwsAsync(client.remove('v1'), { instanceOf: DriverUnreachableError });
  t.true(error.retryable);
  t.is(plugin.count('Remove'), 1 + 4, 'one try plus one per backoff step (50, 100, 200, 200 ms within 600 ms)');
});

test('Activate without VolumeDriver: DVDI_DRIVER_NOT_VOLUME_DRIVER; failure not cached, success cached', async (t) => {
  const { plugin, client } = await setup({ 'Plugin.Activate': 'not-volume-driver' });
  const error = await t.throwsAsync(client.create('v1'), { instanceOf: NotVolumeDriverError });
  t.is(error.code, 'DVDI_DRIVER_NOT_VOLUME_DRIVER');
  t.regex(error.message, /VolumeDriver\.Create of volume "v1" on driver "bad" \(at Plugin\.Activate\): plugin implements \[NetworkDriver\], not VolumeDriver/);
  t.is(plugin.count('Create'), 0);
  await t.throwsAsync(client.create('v1'), { instanceOf: NotVolumeDriverError });
  t.is(plugin.count('Plugin.Activate'), 2);
  plugin.setMode('Plugin.Activate', 'ok');
  await client.create('v1');
  await client.get('v1');
  t.is(plugin.count('Plugin.Activate'), 3);
});

test('Get: a refusal or null Volume means absent; a refused Activate does not', async (t) => {
  const { plugin, client } = await setup({ Get: 'err-500' });
  t.is(await client.get('v1'), undefined);
  plugin.setMode('Get', 'err-200');
  t.is(await client.get('v1'), undefined);

  const other = await setup({ 'Plugin.Activate': 'err-500' });
  const error = await t.throwsAsync(other.client.get('v1'), { instanceOf: DriverRefusedError });
  t.is(error.step, 'Plugin.Activate');
});

test('Capabilities: errors, empty and unknown scopes mean local', async (t) => {
  for (const mode of ['err-500', 'garbage', 'empty-object', 'wrong-shape'] as const) {
    const { client } = await setup({ Capabilities: mode });
    const result = await client.capabilities();
    t.is(result.scope, 'local', mode);
    t.truthy(result.fallback, mode);
  }
});

test('an abort signal cancels a hanging call', async (t) => {
  const { client } = await setup({ Path: 'hang' });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const error = await t.throwsAsync(client.path('v1', { signal: controller.signal }), { instanceOf: DriverAbortedError });
  t.is(error.code, 'DVDI_DRIVER_ABORTED');
});

test('option values appear neither in errors nor in logs, even at debug level', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
  const logger = pino({ level: 'debug' }, sink);
  const { client } = await setup({ Create: 'err-500', 'Plugin.Activate': 'ok' }, { logger, onCall: () => { throw new Error('observer bug'); } });
  const secret = 'hunter2-correct-horse';
  const error = await t.throwsAsync(client.create('v1', { password: secret }), { instanceOf: DriverRefusedError });
  t.false(JSON.stringify({ message: error.message, context: error.context }).includes(secret));
  const log = lines.join('');
  t.true(log.includes('password'), 'keys are logged');
  t.false(log.includes(secret));
});
