import test from 'ava';
import { ExitCode } from '../../../src/common/errors.js';
import { ConfigError, SETTINGS, loadSidecarConfig, type Config } from '../../../src/config/index.js';

const HOST = 'node-a';

function configError(env: Record<string, string | undefined>, hostname = HOST): ConfigError {
  try {
    loadSidecarConfig(env, hostname);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function accepted(name: string): string {
  const row = SETTINGS.find((s) => s.name === name);
  if (!row) throw new Error(`no setting ${name}`);
  return row.accepted;
}

test('defaults are exactly those of docs/contract.md', (t) => {
  const config = loadSidecarConfig({}, HOST);
  const expected: Config = {
    nodeId: HOST,
    nodeIdSource: 'hostname',
    taskId: HOST,
    taskIdSource: 'hostname',
    mountRoot: '/var/lib/dvdi/volumes',
    storeBackend: 'embedded',
    redisUrl: undefined,
    redisSentinels: [],
    redisSentinelName: undefined,
    redisClusterNodes: [],
    redisPrefix: 'dvdi',
    httpAddr: { host: '0.0.0.0', port: 9650 },
    httpEndpoints: 'all',
    readyFile: undefined,
    leaseTtlMs: 15000,
    eventLoopResolutionMs: 1000,
    acquireTimeoutMs: 60000,
    mountTimeoutMs: 120000,
    unmountTimeoutMs: 60000,
    shutdownTimeoutMs: 30000,
    reconcileCron: '*/30 * * * * *',
    pluginDirs: ['/run/docker/plugins', '/etc/docker/plugins', '/usr/lib/docker/plugins'],
    pluginMountDirs: [],
    taskContainer: undefined,
    dockerHost: 'unix:///var/run/docker.sock',
    logLevel: 'info',
    warnings: [],
  };
  t.deepEqual(config, expected);
});

test('the config is frozen, nested parts included', (t) => {
  const config = loadSidecarConfig({ DVDI_REDIS_SENTINELS: 'a:1', DVDI_REDIS_SENTINEL_NAME: 'm' }, HOST);
  t.true(Object.isFrozen(config));
  t.true(Object.isFrozen(config.pluginDirs));
  t.true(Object.isFrozen(config.httpAddr));
  t.true(Object.isFrozen(config.redisSentinels));
  t.true(Object.isFrozen(config.redisSentinels[0]));
});

test('node identity: DVDI_NODE_ID, else HOST, else NODE_NAME, else the hostname', (t) => {
  const all = { DVDI_NODE_ID: 'n1', HOST: 'n2', NODE_NAME: 'n3' };
  t.like(loadSidecarConfig(all, HOST), { nodeId: 'n1', nodeIdSource: 'DVDI_NODE_ID' });
  t.like(loadSidecarConfig({ ...all, DVDI_NODE_ID: undefined }, HOST), { nodeId: 'n2', nodeIdSource: 'HOST' });
  t.like(loadSidecarConfig({ NODE_NAME: 'n3' }, HOST), { nodeId: 'n3', nodeIdSource: 'NODE_NAME' });
  t.like(loadSidecarConfig({ HOST: '10.0.0.7' }, HOST), { nodeId: '10.0.0.7' });
  t.like(loadSidecarConfig({ HOST: 'fd00::7' }, HOST), { nodeId: 'fd00::7' });
});

test('task identity: DVDI_TASK_ID, else MESOS_TASK_ID, else POD_UID, else the hostname', (t) => {
  const all = { DVDI_TASK_ID: 't1', MESOS_TASK_ID: 'app.instance-7d1c_1', POD_UID: '0b6e2a7c-1f5e-4a4f-9a1e-2d7f0c9b8a11' };
  t.like(loadSidecarConfig(all, HOST), { taskId: 't1', taskIdSource: 'DVDI_TASK_ID' });
  t.like(loadSidecarConfig({ ...all, DVDI_TASK_ID: undefined }, HOST), { taskId: 'app.instance-7d1c_1', taskIdSource: 'MESOS_TASK_ID' });
  t.like(loadSidecarConfig({ POD_UID: all.POD_UID }, HOST), { taskId: all.POD_UID, taskIdSource: 'POD_UID' });
  t.like(loadSidecarConfig({}, 'box-1'), { taskId: 'box-1', taskIdSource: 'hostname' });
});

test('an invalid identity fallback is named, and an unusable hostname asks for the variable', (t) => {
  t.regex(configError({ HOST: 'bad host' }).message, /HOST="bad host" is not valid: expected 1-253 characters/);
  const error = configError({}, 'bad{host}');
  t.regex(error.message, /hostname "bad\{host\}" cannot serve as identity .*set DVDI_NODE_ID/);
  t.regex(error.message, /set DVDI_TASK_ID/);
});

test('every setting is read in its documented forms', (t) => {
  const config = loadSidecarConfig(
    {
      DVDI_MOUNT_ROOT: '/srv//dvdi/./volumes/',
      DVDI_REDIS_URL: 'rediss://dvdi:pw@redis.example:6380/2',
      DVDI_REDIS_SENTINELS: 's1:26379, [fd00::2]:26379,',
      DVDI_REDIS_SENTINEL_NAME: 'mymaster',
      DVDI_REDIS_PREFIX: 'prod:dvdi',
      DVDI_HTTP_ADDR: '[::1]:0',
      DVDI_READY_FILE: '/run/dvdi/ready',
      DVDI_LEASE_TTL_MS: '1000',
      DVDI_ACQUIRE_TIMEOUT_MS: ' 1 ',
      DVDI_MOUNT_TIMEOUT_MS: '2147483647',
      DVDI_UNMOUNT_TIMEOUT_MS: '5',
      DVDI_SHUTDOWN_TIMEOUT_MS: '45000',
      DVDI_RECONCILE_CRON: '*/5 * * * *',
      DVDI_PLUGIN_DIRS: '/a::/b/:/a',
      DVDI_TASK_CONTAINER: '/app-1',
      DOCKER_HOST: 'tcp://127.0.0.1:2375',
      DVDI_LOG_LEVEL: ' DEBUG ',
      DVDI_EVENT_LOOP_RESOLUTION_MS: '10',
    },
    HOST,
  );
  t.like(config, {
    eventLoopResolutionMs: 10,
    mountRoot: '/srv/dvdi/volumes',
    storeBackend: 'redis',
    redisUrl: 'rediss://dvdi:pw@redis.example:6380/2',
    redisSentinelName: 'mymaster',
    redisPrefix: 'prod:dvdi',
    readyFile: '/run/dvdi/ready',
    leaseTtlMs: 1000,
    acquireTimeoutMs: 1,
    mountTimeoutMs: 2147483647,
    unmountTimeoutMs: 5,
    shutdownTimeoutMs: 45000,
    reconcileCron: '*/5 * * * *',
    taskContainer: '/app-1',
    dockerHost: 'tcp://127.0.0.1:2375',
    logLevel: 'debug',
  });
  t.deepEqual(config.redisSentinels, [{ host: 's1', port: 26379 }, { host: 'fd00::2', port: 26379 }]);
  t.deepEqual(config.httpAddr, { host: '::1', port: 0 });
  t.deepEqual(config.pluginDirs, ['/a', '/b']);
});

test('":PORT" listens on all IPv4 interfaces; sentinels alone select the redis backend', (t) => {
  t.deepEqual(loadSidecarConfig({ DVDI_HTTP_ADDR: ':9651' }, HOST).httpAddr, { host: '0.0.0.0', port: 9651 });
  t.is(loadSidecarConfig({ DVDI_REDIS_SENTINELS: 'a:1', DVDI_REDIS_SENTINEL_NAME: 'm' }, HOST).storeBackend, 'redis');
  t.is(loadSidecarConfig({ DVDI_REDIS_URL: 'redis://h' }, HOST).storeBackend, 'redis');
});

test('blank values count as unset', (t) => {
  const config = loadSidecarConfig({ DVDI_REDIS_URL: '', DVDI_LEASE_TTL_MS: '  ', DVDI_NODE_ID: '', HOST: 'h2' }, HOST);
  t.like(config, { redisUrl: undefined, storeBackend: 'embedded', leaseTtlMs: 15000, nodeId: 'h2' });
});

const INVALID: ReadonlyArray<[string, string, RegExp?]> = [
  ['DVDI_NODE_ID', 'a/b'],
  ['DVDI_TASK_ID', 'x{y}'],
  ['DVDI_MOUNT_ROOT', 'var/lib/dvdi', /not absolute/],
  ['DVDI_MOUNT_ROOT', '/', /cannot be the mount root/],
  ['DVDI_MOUNT_ROOT', '/var/../etc', /"\.\." segment/],
  ['DVDI_REDIS_URL', 'http://redis:6379', /scheme/],
  ['DVDI_REDIS_URL', 'redis:///0', /host is missing/],
  ['DVDI_REDIS_URL', 'redis://h/db1', /database number/],
  ['DVDI_REDIS_SENTINELS', 's1:26379,s2', /item 2 is not host:port/],
  ['DVDI_REDIS_PREFIX', 'has space'],
  ['DVDI_HTTP_ADDR', '0.0.0.0:65536', /port 65536 is out of range/],
  ['DVDI_HTTP_ADDR', '9650'],
  ['DVDI_HTTP_ADDR', '[::g]:1', /not an IPv6 address/],
  ['DVDI_READY_FILE', 'ready'],
  ['DVDI_LEASE_TTL_MS', '999', /out of range/],
  ['DVDI_LEASE_TTL_MS', '15s'],
  ['DVDI_ACQUIRE_TIMEOUT_MS', '0'],
  ['DVDI_MOUNT_TIMEOUT_MS', '2147483648', /out of range/],
  ['DVDI_UNMOUNT_TIMEOUT_MS', '-1'],
  ['DVDI_SHUTDOWN_TIMEOUT_MS', '1.5'],
  ['DVDI_RECONCILE_CRON', '*/30 * * *'],
  ['DVDI_PLUGIN_DIRS', '/run/docker/plugins:relative', /not absolute/],
  ['DVDI_TASK_CONTAINER', 'app container'],
  ['DOCKER_HOST', 'unix://var/run/docker.sock', /absolute path/],
  ['DOCKER_HOST', 'ftp://h', /scheme/],
  ['DVDI_LOG_LEVEL', 'verbose'],
  ['DVDI_EVENT_LOOP_RESOLUTION_MS', '0', /out of range/],
  ['DVDI_EVENT_LOOP_RESOLUTION_MS', '60001', /out of range/],
];

for (const [name, value, detail] of INVALID) {
  test(`${name}=${JSON.stringify(value)} → exit 2 naming the variable, the value and the accepted form`, (t) => {
    const companion = name === 'DVDI_REDIS_SENTINELS' ? { DVDI_REDIS_SENTINEL_NAME: 'mymaster' } : {};
    const error = configError({ ...companion, [name]: value });
    t.is(error.code, 'DVDI_CONFIG_INVALID');
    t.is(error.exitCode, ExitCode.Config);
    t.is(error.problems.length, 1);
    const message = error.problems[0]?.message ?? '';
    t.true(message.startsWith(`${name}=${JSON.stringify(value)} is not valid: `), message);
    t.true(message.endsWith(`expected ${accepted(name)}`), message);
    if (detail) t.regex(message, detail);
    t.is(error.problems[0]?.variable, name);
  });
}

test('the log level list is the one docs/contract.md and the logger know', (t) => {
  t.is(accepted('DVDI_LOG_LEVEL'), 'one of trace, debug, info, warn, error, fatal, silent');
});

test('sentinels need a master name, and a master name needs sentinels', (t) => {
  t.regex(configError({ DVDI_REDIS_SENTINELS: 'a:26379' }).message, /DVDI_REDIS_SENTINEL_NAME is not set but DVDI_REDIS_SENTINELS is/);
  t.regex(configError({ DVDI_REDIS_SENTINEL_NAME: 'm' }).message, /DVDI_REDIS_SENTINELS is not set but DVDI_REDIS_SENTINEL_NAME is/);
});

test('the ready file may not live under the mount root', (t) => {
  const error = configError({ DVDI_MOUNT_ROOT: '/data/vols', DVDI_READY_FILE: '/data/vols/ready' });
  t.regex(error.message, /DVDI_READY_FILE="\/data\/vols\/ready" is not valid: it lies under DVDI_MOUNT_ROOT/);
  t.notThrows(() => loadSidecarConfig({ DVDI_MOUNT_ROOT: '/data/vols', DVDI_READY_FILE: '/data/vols-ready' }, HOST));
});

test('every problem is reported at once, in one error', (t) => {
  const error = configError({
    DVDI_MOUNT_ROOT: 'rel',
    DVDI_REDIS_URL: 'mysql://x',
    DVDI_HTTP_ADDR: 'nope',
    DVDI_LEASE_TTL_MS: '5',
    DVDI_RECONCILE_CRON: 'often',
    DVDI_LOG_LEVEL: 'loud',
    DVDI_REDIS_SENTINELS: 'a:1',
  });
  t.is(error.problems.length, 7);
  for (const name of ['DVDI_MOUNT_ROOT', 'DVDI_REDIS_URL', 'DVDI_HTTP_ADDR', 'DVDI_LEASE_TTL_MS', 'DVDI_RECONCILE_CRON', 'DVDI_LOG_LEVEL', 'DVDI_REDIS_SENTINEL_NAME']) {
    t.true(error.message.includes(`  - ${name}`), name);
  }
  t.regex(error.message, /^invalid configuration \(7 problems\):\n/);
  t.is(error.context.problemCount, 7);
});

test('the redis password never appears in an error', (t) => {
  const error = configError({ DVDI_REDIS_URL: 'redis://dvdi:hunter2@redis:6379/db' });
  t.false(error.message.includes('hunter2'));
  t.true(error.message.includes('DVDI_REDIS_URL="redis://dvdi:<redacted>@redis:6379/db"'), error.message);
  t.false(configError({ DVDI_REDIS_URL: 'redis:/hunter2@redis' }).message.includes('hunter2'));
});

test('an unknown DVDI_* setting is a warning, not an error; volume variables are not its business', (t) => {
  const config = loadSidecarConfig({ DVDI_REDIS_URI: 'redis://h', DVDI_VOLUME_NAMES: 'x', DVDI_LOG_LEVEL: 'warn' }, HOST);
  t.deepEqual(config.warnings, ['DVDI_REDIS_URI is not a known setting and is ignored (a typo?)']);
});

test('the process environment is never read: only the env handed in', (t) => {
  process.env.DVDI_LOG_LEVEL = 'nonsense';
  try {
    t.is(loadSidecarConfig({}, HOST).logLevel, 'info');
  } finally {
    delete process.env.DVDI_LOG_LEVEL;
  }
});

test('DVDI_REDIS_CLUSTER_NODES: seeds select the redis backend; not with sentinels, not with a database other than 0', (t) => {
  const config = loadSidecarConfig({ DVDI_REDIS_CLUSTER_NODES: 'r1:7000, r2:7001', DVDI_REDIS_URL: 'rediss://u:p@ignored/0' }, HOST);
  t.is(config.storeBackend, 'redis');
  t.deepEqual(config.redisClusterNodes, [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7001 }]);
  const both = configError({ DVDI_REDIS_CLUSTER_NODES: 'r1:7000', DVDI_REDIS_SENTINELS: 's:1', DVDI_REDIS_SENTINEL_NAME: 'm' });
  t.true(both.problems.some((p) => p.variable === 'DVDI_REDIS_CLUSTER_NODES' && /both set/.test(p.message)));
  const db = configError({ DVDI_REDIS_CLUSTER_NODES: 'r1:7000', DVDI_REDIS_URL: 'redis://h/3' });
  t.true(db.problems.some((p) => p.variable === 'DVDI_REDIS_URL' && /only database 0/.test(p.message)));
  t.true(configError({ DVDI_REDIS_CLUSTER_NODES: 'r1' }).problems.some((p) => p.variable === 'DVDI_REDIS_CLUSTER_NODES'));
});
