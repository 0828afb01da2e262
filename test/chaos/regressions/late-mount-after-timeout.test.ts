// Chaos regression (plugin fault "Mount delayed longer than DVDI_MOUNT_TIMEOUT_MS"): the sidecar
// gives up on a slow driver Mount, undoes it with an Unmount of its ID and aborts the mount in
// the store. The plugin, though, carries out the Mount after the delay — after the Unmount,
// which found nothing to release. Nobody knows of that mount afterwards (the store says absent,
// there is no bind under the mount root), so no sweep ever unmounts it: the plugin keeps the
// volume mounted (and, for block storage, attached to this node) for ever (invariant 5).
import test from 'ava';
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

test('a driver Mount that completes after the sidecar timed out is unmounted again', async (t) => {
  node = await startNodeRig({ faults: true });
  await node.setFaults({ Mount: { delayMs: 2500 } });
  const sidecar = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'late1', DVDI_TASK_ID: 'late', DVDI_MOUNT_TIMEOUT_MS: '1000' });
  const result = await sidecar.child.finished;
  t.not(result.code, 0, 'the sidecar gave up on the slow Mount');
  await waitFor('the late Mount to complete in the plugin', () => node!.journal().some((l) => l.op === 'Mount' && l.result === 'ok'), 10_000);
  await node.setFaults({});
  for (let i = 0; i < 3; i++) {
    const sweep = await node.reconcile(FAST);
    t.is(sweep.code, 0, sweep.stderr);
    await new Promise((r) => setTimeout(r, TTL + 200));
  }
  const pluginMount = join(node.temp.dir, 'plugin', 'mounts', 'late1');
  const journal = node.journal().filter((l) => l.volume === 'late1').map((l) => `${l.op} ${l.result} changed=${String(l.changed)}`);
  t.true((await readMountInfo()).every((m) => m.mountPoint !== pluginMount), `the plugin still has late1 mounted; journal: ${journal.join(', ')}`);
});
