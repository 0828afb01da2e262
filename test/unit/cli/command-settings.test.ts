// The settings every node command shares with the sidecar: a flag overrides its DVDI_* variable,
// values are checked by the sidecar's own rules, and `dvdi wait` finds /readyz at DVDI_HTTP_ADDR.
import test from 'ava';
import { envWithFlags, readSetting } from '../../../src/cli/command-settings.js';
import { readinessUrl } from '../../../src/cli/wait-command.js';
import { ConfigError } from '../../../src/config/index.js';

test('a flag overrides its variable; absent flags leave the environment alone', (t) => {
  const env = { DVDI_MOUNT_ROOT: '/env/root', DVDI_NODE_ID: 'env-node', OTHER: 'x' };
  t.deepEqual(envWithFlags(env, { 'mount-root': '/flag/root', 'plugin-dirs': undefined }), { DVDI_MOUNT_ROOT: '/flag/root', DVDI_NODE_ID: 'env-node', OTHER: 'x' });
});

test('readSetting: flag, then variable, then the documented default, by the sidecar rule', (t) => {
  t.deepEqual(readSetting({ DVDI_PLUGIN_DIRS: '/a:/b' }, 'DVDI_PLUGIN_DIRS', { name: 'plugin-dirs', value: '/c' }), ['/c']);
  t.deepEqual(readSetting({ DVDI_PLUGIN_DIRS: '/a:/b' }, 'DVDI_PLUGIN_DIRS', { name: 'plugin-dirs', value: undefined }), ['/a', '/b']);
  t.deepEqual(readSetting({}, 'DVDI_PLUGIN_DIRS'), ['/run/docker/plugins', '/etc/docker/plugins', '/usr/lib/docker/plugins']);
  const error = t.throws(() => readSetting({ DVDI_PLUGIN_DIRS: 'relative' }, 'DVDI_PLUGIN_DIRS'));
  t.true(error instanceof ConfigError);
  t.regex(error.message, /DVDI_PLUGIN_DIRS/);
  t.regex(t.throws(() => readSetting({}, 'DVDI_PLUGIN_DIRS', { name: 'plugin-dirs', value: 'x' })).message, /--plugin-dirs/);
});

test('dvdi wait polls /readyz where the sidecar listens', (t) => {
  t.is(readinessUrl({}), 'http://127.0.0.1:9650/readyz');
  t.is(readinessUrl({ DVDI_HTTP_ADDR: ':9700' }), 'http://127.0.0.1:9700/readyz');
  t.is(readinessUrl({ DVDI_HTTP_ADDR: '10.0.0.5:9651' }), 'http://10.0.0.5:9651/readyz');
  t.is(readinessUrl({ DVDI_HTTP_ADDR: '[::]:9650' }), 'http://[::1]:9650/readyz');
});
