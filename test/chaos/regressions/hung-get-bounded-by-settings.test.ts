// Chaos regression (seed 2002 × 200: t47 on node-3): a plugin Get that never answers while a
// sidecar attaches kept it alive and not ready for a minute — Get was bounded by the client's
// fixed 60 s default, not by any setting — so at quiescence a task was neither ready nor gone
// (invariant 3). Get (like Path, List, …) now follows DVDI_UNMOUNT_TIMEOUT_MS: the sidecar gives
// up within that limit, exits 3 naming the call, and leaves nothing behind.
import test from 'ava';
import { join } from 'node:path';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';

let node: NodeRig | undefined;
test.after.always(async () => {
  await node?.stop();
});

test('a plugin Get that never answers ends the attach within DVDI_UNMOUNT_TIMEOUT_MS (exit 3)', async (t) => {
  node = await startNodeRig({ faults: true });
  await node.setFaults({ Get: { hang: true } });
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'hungget', DVDI_TASK_ID: 'hung-get', DVDI_UNMOUNT_TIMEOUT_MS: '1500', DVDI_MOUNT_TIMEOUT_MS: '2000' });
  // Generous against a loaded machine: the bug kept the process for about 60 s.
  const finished = await Promise.race([sidecar.child.finished, new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000))]);
  t.truthy(finished, 'the sidecar was still attaching 20 s later');
  t.is(finished?.code, 3, finished?.stderr);
  t.regex(finished?.stderr ?? '', /VolumeDriver\.Get of volume "hungget" .*no reply within 1500 ms/);
  t.false(await node.isMounted(join(node.root, 'hungget')));
});
