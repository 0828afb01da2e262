// Chaos regression (seed 2002 × 200: t41/t43/t47 on node-3): a plugin that never answers a
// driver Get (hang fault) while a sidecar attaches. SIGTERM arrives ("shutdown requested"), but
// the in-flight driver call is not aborted and is bounded by a 60 s timeout instead of
// DVDI_MOUNT_TIMEOUT_MS, so the sidecar outlives DVDI_SHUTDOWN_TIMEOUT_MS by about a minute,
// keeps renewing its `mounting` claim meanwhile, and blocks the exclusive volume for every
// other node (invariant 3: alive but not ready at quiescence; does not stop on SIGTERM).
import test from 'ava';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';
import { waitFor } from '../../helpers/cli.js';

let node: NodeRig | undefined;
test.after.always(async () => {
  await node?.stop();
});

test('SIGTERM during a driver call that never answers: the sidecar exits within its shutdown limit', async (t) => {
  node = await startNodeRig({ faults: true });
  await node.setFaults({ Get: { hang: true } });
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'hung1', DVDI_TASK_ID: 'hung', DVDI_MOUNT_TIMEOUT_MS: '2000', DVDI_SHUTDOWN_TIMEOUT_MS: '2000', DVDI_LEASE_TTL_MS: '1500' });
  await waitFor('the sidecar to start attaching', () => sidecar.child.output.stderr.includes('dvdi sidecar starting'), 30_000);
  await new Promise((r) => setTimeout(r, 1000));
  const sent = Date.now();
  sidecar.child.kill('SIGTERM');
  // Generous: the limits are 2 s each; the bug keeps the process for about 60 s.
  const exited = await Promise.race([sidecar.child.finished.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 15_000))]);
  t.true(exited, `still running ${Date.now() - sent} ms after SIGTERM (DVDI_SHUTDOWN_TIMEOUT_MS=2000, DVDI_MOUNT_TIMEOUT_MS=2000)`);
});
