// The late-Mount regression against a plugin with rclone's habits (`dvdi plugin --habits
// rclone`): the undo's Unmount overtakes the delayed Mount and is refused (`volume is not
// mounted`); the sidecar treats it as done only because nothing is mounted with that ID. The
// Mount then lands; the reconciler unmounts it from the ledger, judges "still mounted" from the
// mount table (this plugin's Path always answers), forgets the entry and stays quiet afterwards;
// the next sidecar is ready.
import test from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';
import { waitFor } from '../../helpers/cli.js';
import { readMountInfo } from '../../../src/common/mountinfo.js';

const TTL = 1000;
const FAST = { DVDI_LEASE_TTL_MS: String(TTL), DVDI_RECONCILE_CRON: '* * * * * *' };
let node: NodeRig | undefined;
test.after.always(async () => {
  await node?.stop();
});

test('rclone habits: a Mount that lands after the refused undo is unmounted, forgotten, and the sweep converges', async (t) => {
  node = await startNodeRig({ faults: true, habits: 'rclone' });
  await node.setFaults({ Mount: { delayMs: 2500 } });
  const sidecar = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'late2', DVDI_TASK_ID: 'late', DVDI_MOUNT_TIMEOUT_MS: '1000' });
  const result = await sidecar.child.finished;
  t.is(result.code, 3, 'the sidecar gave up on the slow Mount');
  t.regex(result.stderr, /undo of an unfinished Mount: the plugin refused Unmount, but nothing is mounted with that ID/);
  await waitFor('the late Mount to complete in the plugin', () => node!.journal().some((l) => l.op === 'Mount' && l.result === 'ok'), 10_000);
  t.true(node.journal().some((l) => l.op === 'Unmount' && l.result === 'error'), 'the plugin refused the early Unmount');
  await node.setFaults({});
  const ledger = async () => (await readdir(join(node!.root, '.dvdi', 'mounts')).catch(() => [])).filter((f) => f.endsWith('.json'));
  let forgotten = false;
  for (let i = 0; i < 8 && !forgotten; i++) {
    const sweep = await node.reconcile(FAST);
    t.is(sweep.code, 0, sweep.stderr);
    forgotten = (await ledger()).length === 0;
    if (!forgotten) await new Promise((r) => setTimeout(r, TTL + 200));
  }
  t.true(forgotten, 'the ledger entry went');
  const pluginMount = join(node.temp.dir, 'plugin', 'mounts', 'late2');
  t.true((await readMountInfo()).every((m) => m.mountPoint !== pluginMount), 'the late mount is gone');
  const quiet = await node.reconcile(FAST);
  t.is(quiet.code, 0);
  t.deepEqual(quiet.report?.ledgerUnmounts, [], 'no Unmount sent again');
  const next = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'late2', DVDI_TASK_ID: 'late-2' });
  await next.waitReady();
  t.is((await next.stop()).code, 0);
});
