// Issue 12 finding 1 (a plugin reply can make the sidecar bind any host directory): the string
// rules of bind-source-policy.ts, one row per rule, plus the sources legitimate plugins answer.
import test from 'ava';
import { REFUSED_EXACT, REFUSED_TREES, bindSourceRefusal, showPath, type BindSourcePolicy, type BindSourceRule } from '../../../src/mounter/bind-source-policy.js';

const ROOT = '/var/lib/dvdi/volumes';
const policy: BindSourcePolicy = { realRoot: ROOT, allowedDirs: [], pluginDirs: [] };
const MANAGED = '/var/lib/docker/plugins/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/propagated-mount';

const refused: Array<[string, BindSourceRule, BindSourcePolicy?]> = [
  ['', 'length'],
  [`/${'a/'.repeat(2100)}x`, 'length'],
  [`/data/${'x'.repeat(256)}`, 'length'],
  ['/data/a\nb', 'control-characters'],
  ['/data/a\u009bb', 'control-characters'],
  ['/data/\ud800x', 'control-characters'],
  ['data/v1', 'absolute'],
  ['/tmp/x/../../../etc', 'normalised'],
  ['/data//v1', 'normalised'],
  ['/data/v1/', 'normalised'],
  ['/data/v1/.', 'normalised'],
  ['/', 'not-root'],
  [ROOT, 'not-mount-root'],
  [`${ROOT}/.dvdi`, 'not-inside-mount-root'],
  [`${ROOT}/other-volume`, 'not-inside-mount-root'],
  ['/var/lib/dvdi', 'not-above-mount-root'],
  ['/etc', 'not-system-tree'],
  ['/etc/ssl', 'not-system-tree'],
  ['/root', 'not-system-tree'],
  ['/proc/1/root', 'not-system-tree'],
  ['/usr/lib', 'not-system-tree'],
  ['/run/docker', 'not-system-tree'],
  ['/var/lib/docker/containers', 'not-system-tree'],
  [MANAGED, 'not-system-tree'], // not this plugin's own directory
  ['/tmp', 'not-system-tree'],
  ['/mnt', 'not-system-tree'],
  ['/home', 'not-system-tree'],
  ['/srv/volumes/v1', 'plugin-mount-dirs', { ...policy, allowedDirs: ['/var/lib/rexray/volumes'] }],
  ['/var/lib/rexray/volumes-evil/v1', 'plugin-mount-dirs', { ...policy, allowedDirs: ['/var/lib/rexray/volumes'] }],
];

for (const [index, [source, rule, custom]] of refused.entries()) {
  test(`bind source refused by rule ${rule} (${index}): ${showPath(source).slice(0, 60)}`, (t) => {
    const refusal = bindSourceRefusal(source, custom ?? policy);
    t.is(refusal?.rule, rule);
    t.true((refusal?.detail.length ?? 0) < 400, 'the detail is bounded');
  });
}

const accepted: Array<[string, BindSourcePolicy?]> = [
  ['/var/lib/rexray/volumes/pg1/data'],
  ['/var/lib/dvdi-plugin/dir/volumes/v1'],
  ['/mnt/efs/v1'],
  ['/run/rclone/v1'],
  ['/tmp/dvdi-test/x/plugin/v1'],
  ['/srv/btrfs/@vol1'],
  ['/var/lib/rexray/volumes/v1', { ...policy, allowedDirs: ['/var/lib/rexray/volumes'] }],
  [`${MANAGED}/v1`, { ...policy, pluginDirs: [MANAGED] }],
  [`${MANAGED}/v1`, { ...policy, allowedDirs: ['/mnt'], pluginDirs: [MANAGED] }],
  // the mount root's own ancestors are the only part of /var/lib refused; a sibling is not
  ['/var/lib/dvdi-other/v1'],
];

for (const [index, [source, custom]] of accepted.entries()) {
  test(`bind source accepted (${index}): ${source.slice(-50)}${custom ? ' with a policy' : ''}`, (t) => {
    t.is(bindSourceRefusal(source, custom ?? policy), undefined);
  });
}

test('the refused lists are absolute and normalised, and no tree shadows an exact entry', (t) => {
  for (const dir of [...REFUSED_TREES, ...REFUSED_EXACT]) t.regex(dir, /^(\/[a-z0-9]+)+$/, dir);
  for (const exact of REFUSED_EXACT) t.false(REFUSED_TREES.some((tree) => exact === tree || exact.startsWith(`${tree}/`)), exact);
});

test('showPath escapes controls and bidi overrides and caps long paths', (t) => {
  t.is(showPath('/a\u001b[31m\u202e'), '"/a\\u001b[31m\\u202e"');
  t.is(showPath('/a\u009b'), '"/a\\u009b"');
  const long = showPath(`/${'x'.repeat(5000)}`);
  t.true(long.length < 260);
  t.regex(long, /\(5001 bytes\)$/);
});
