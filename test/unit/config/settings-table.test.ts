import test from 'ava';
import { FALLBACK_VARIABLES, SETTINGS, VOLUME_KEYS, isKnownVariable } from '../../../src/config/index.js';

// docs/contract.md "Sidecar settings" and "Task volume requests": names and documented defaults.
const CONTRACT_SETTINGS: Record<string, string | undefined> = {
  DVDI_MOUNT_ROOT: '/var/lib/dvdi/volumes',
  DVDI_REDIS_URL: undefined,
  DVDI_REDIS_SENTINELS: undefined,
  DVDI_REDIS_SENTINEL_NAME: undefined,
  DVDI_REDIS_CLUSTER_NODES: undefined,
  DVDI_REDIS_PREFIX: 'dvdi',
  DVDI_HTTP_ADDR: '0.0.0.0:9650',
  DVDI_READY_FILE: undefined,
  DVDI_LEASE_TTL_MS: '15000',
  DVDI_ACQUIRE_TIMEOUT_MS: '60000',
  DVDI_MOUNT_TIMEOUT_MS: '120000',
  DVDI_UNMOUNT_TIMEOUT_MS: '60000',
  DVDI_RECONCILE_CRON: '*/30 * * * * *',
  DVDI_PLUGIN_MOUNT_DIRS: undefined,
  DVDI_PLUGIN_DIRS: '/run/docker/plugins:/etc/docker/plugins:/usr/lib/docker/plugins',
  DVDI_TASK_CONTAINER: undefined,
  DOCKER_HOST: 'unix:///var/run/docker.sock',
  DVDI_EVENT_LOOP_RESOLUTION_MS: '1000',
  DVDI_LOG_LEVEL: 'info',
};

test('SETTINGS lists every setting of the contract with its default, plus the documented additions', (t) => {
  const byName = new Map(SETTINGS.map((s) => [s.name, s]));
  for (const [name, def] of Object.entries(CONTRACT_SETTINGS)) t.is(byName.get(name)?.default, def, name);
  t.regex(byName.get('DVDI_NODE_ID')?.default ?? '', /\$HOST, else \$NODE_NAME, else the hostname/);
  t.regex(byName.get('DVDI_TASK_ID')?.default ?? '', /\$MESOS_TASK_ID, else \$POD_UID, else the hostname/);
  t.is(byName.get('DVDI_SHUTDOWN_TIMEOUT_MS')?.default, '30000');
  t.is(byName.get('DVDI_HTTP_ENDPOINTS')?.default, 'all');
  t.deepEqual(
    [...byName.keys()].sort(),
    [...Object.keys(CONTRACT_SETTINGS), 'DVDI_NODE_ID', 'DVDI_TASK_ID', 'DVDI_SHUTDOWN_TIMEOUT_MS', 'DVDI_HTTP_ENDPOINTS'].sort(),
  );
  for (const row of SETTINGS) {
    t.true(row.description.length > 0 && row.accepted.length > 0, row.name);
  }
});

test('VOLUME_KEYS lists the contract keys with their defaults, and DVDCLI for compatibility', (t) => {
  t.deepEqual(
    VOLUME_KEYS.map((k) => [k.key, k.default]),
    [
      ['NAME', undefined],
      ['DRIVER', 'rexray'],
      ['OPTS', undefined],
      ['EXPLICITCREATE', 'false'],
      ['CONTAINERPATH', undefined],
      ['ACCESS', 'exclusive'],
      ['PREEMPT', 'false'],
      ['READONLY', 'false'],
      ['DVDCLI', undefined],
    ],
  );
});

test('isKnownVariable: settings, fallbacks, volume variables in all slots, and their Marathon label form', (t) => {
  for (const row of SETTINGS) t.true(isKnownVariable(row.name), row.name);
  for (const name of FALLBACK_VARIABLES) t.true(isKnownVariable(name), name);
  for (const key of VOLUME_KEYS.map((k) => k.key)) {
    for (const n of ['', '0', '5', '9']) {
      t.true(isKnownVariable(`DVDI_VOLUME_${key}${n}`));
      t.true(isKnownVariable(`MARATHON_APP_LABEL_DVDI_VOLUME_${key}${n}`));
    }
  }
  for (const name of ['DVDI_VOLUME_NAMES', 'DVDI_VOLUME_NAME10', 'DVDI_VOLUME_OPTS11', 'DVDI_REDIS_URI', 'DVDI_VOLUME_name', 'MARATHON_APP_LABEL_DVDI_REDIS_URL', 'PATH', 'dvdi_volume_name']) {
    t.false(isKnownVariable(name), name);
  }
});
