// Issue 3: a table of bad inputs given to a real `dvdi sidecar`: each exits 2, names the
// variable (and the accepted form), never prints an option value, and mounts nothing.
import test from 'ava';
import { readMountInfo } from '../../../src/common/mountinfo.js';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';
import { runDvdi } from '../../helpers/cli.js';

let node: NodeRig;
test.before(async () => {
  node = await startNodeRig();
});
test.after.always(async () => {
  await node?.stop();
});

const SECRET = 'pa55word-XYZ';

const cases: Array<{ title: string; env: Record<string, string>; names: RegExp }> = [
  { title: 'path traversal name', env: { DVDI_VOLUME_NAME: '../etc' }, names: /DVDI_VOLUME_NAME="\.\.\/etc" is not valid: expected a volume name/ },
  { title: 'slash in name', env: { DVDI_VOLUME_NAME: 'a/b' }, names: /DVDI_VOLUME_NAME="a\/b" is not valid/ },
  { title: 'leading dash', env: { DVDI_VOLUME_NAME: '-rf' }, names: /DVDI_VOLUME_NAME="-rf" is not valid/ },
  { title: 'name over 128 characters', env: { DVDI_VOLUME_NAME: 'x'.repeat(129) }, names: /DVDI_VOLUME_NAME="x+" is not valid/ },
  { title: 'control character', env: { DVDI_VOLUME_NAME: 'a\u0007b' }, names: /DVDI_VOLUME_NAME=".*" is not valid/ },
  { title: 'option without =', env: { DVDI_VOLUME_NAME: 'ok1', DVDI_VOLUME_OPTS: `size=1,${SECRET}` }, names: /DVDI_VOLUME_OPTS/ },
  { title: 'bad boolean', env: { DVDI_VOLUME_NAME: 'ok1', DVDI_VOLUME_READONLY: 'maybe' }, names: /DVDI_VOLUME_READONLY="maybe" is not valid: expected/ },
  { title: 'bad enum', env: { DVDI_VOLUME_NAME: 'ok1', DVDI_VOLUME_ACCESS: 'sometimes' }, names: /DVDI_VOLUME_ACCESS="sometimes" is not valid: expected exclusive or shared/ },
  { title: 'bad number', env: { DVDI_VOLUME_NAME: 'ok1', DVDI_LEASE_TTL_MS: 'fast' }, names: /DVDI_LEASE_TTL_MS="fast" is not valid/ },
  { title: 'unknown slot suffix', env: { DVDI_VOLUME_NAME10: 'ok1' }, names: /DVDI_VOLUME_NAME10 is not a known variable/ },
  { title: 'unknown key', env: { DVDI_VOLUME_NAMES: 'ok1' }, names: /DVDI_VOLUME_NAMES is not a known variable/ },
  { title: 'slot without a name', env: { DVDI_VOLUME_DRIVER3: 'rexray' }, names: /DVDI_VOLUME_NAME3|slot 3/ },
  { title: 'relative container path', env: { DVDI_VOLUME_NAME: 'ok1', DVDI_VOLUME_CONTAINERPATH: 'data' }, names: /DVDI_VOLUME_CONTAINERPATH="data" is not valid/ },
  { title: 'bad redis URL', env: { DVDI_VOLUME_NAME: 'ok1', DVDI_REDIS_URL: `http://user:${SECRET}@host` }, names: /DVDI_REDIS_URL=.* is not valid/ },
  { title: 'bad cron', env: { DVDI_VOLUME_NAME: 'ok1', DVDI_RECONCILE_CRON: 'every minute' }, names: /DVDI_RECONCILE_CRON="every minute" is not valid/ },
];

for (const c of cases) {
  test(`bad input → exit 2: ${c.title}`, async (t) => {
    const result = await runDvdi(['sidecar'], { ...node.env, DVDI_VOLUME_DRIVER: node.driver, ...c.env });
    t.is(result.code, 2, result.stderr);
    t.regex(result.stderr, c.names);
    t.false(result.stderr.includes(SECRET), 'a secret leaked into the message');
    t.is(result.stdout, '');
    t.deepEqual((await readMountInfo()).filter((m) => m.mountPoint.startsWith(`${node.root}/`)), [], 'nothing was mounted under the root');
    t.deepEqual(node.journal(), [], 'the plugin was never asked to Mount');
  });
}
