// dvdcli's driver Mounts go into the node's mount ledger like the sidecars' (so the reconciler
// can re-send an Unmount the store can no longer explain), and leave it with their Unmount.
import test from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DVDCLI, runDvdi } from '../../helpers/cli.js';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';

let node: NodeRig;
test.before(async () => {
  node = await startNodeRig();
});
test.after.always(async () => {
  await node?.stop();
});

async function ledger(): Promise<string[]> {
  return readdir(join(node.root, '.dvdi', 'mounts')).catch(() => []);
}

test('a dvdcli mount is in the mount ledger until its unmount', async (t) => {
  const args = [`--volumedriver=${node.driver}`, '--volumename=ledgervol'];
  const mounted = await runDvdi(['mount', ...args], node.env, DVDCLI);
  t.is(mounted.code, 0, mounted.stderr);
  const mountId = node.journal().find((l) => l.op === 'Mount' && l.result === 'ok')?.id;
  t.truthy(mountId);
  const entries = await ledger();
  t.is(entries.length, 1);
  t.true(entries[0]!.includes(encodeURIComponent(mountId!)), `the entry names the Mount ID: ${entries.join(', ')}`);
  const unmounted = await runDvdi(['unmount', ...args], node.env, DVDCLI);
  t.is(unmounted.code, 0, unmounted.stderr);
  t.deepEqual(await ledger(), []);
});
