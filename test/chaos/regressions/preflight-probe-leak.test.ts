// Chaos regression (found by seed 7, 40 ops): a sidecar killed (SIGKILL, or SIGTERM before its
// handlers are installed) during the mount-root preflight leaves its probe bind
// ROOT/.dvdi-probe-<pid>-<hex> mounted. The sweep only considers binds whose name is a volume
// name, so nothing ever unmounts it: a leaked mount under the mount root (invariant 5).
// The test builds exactly the state the kill leaves (the window is a few milliseconds, too short
// to hit on purpose) and asks two sweeps, one lease TTL apart, to clean it up.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';

const TTL = 1000;
const FAST = { DVDI_LEASE_TTL_MS: String(TTL), DVDI_RECONCILE_CRON: '* * * * * *' };
let node: NodeRig | undefined;
test.after.always(async () => {
  await node?.stop();
});

test('a preflight probe bind left by a killed sidecar is unmounted by the sweep', async (t) => {
  node = await startNodeRig();
  const probe = join(node.root, '.dvdi-probe-4242-deadbeef');
  await mkdir(probe);
  execFileSync('mount', ['--bind', probe, probe]);
  t.true(await node.isMounted(probe));
  const first = await node.reconcile(FAST);
  t.is(first.code, 0, first.stderr);
  await new Promise((r) => setTimeout(r, TTL + 200));
  const second = await node.reconcile(FAST);
  t.is(second.code, 0, second.stderr);
  t.false(await node.isMounted(probe), 'the dead preflight\'s probe bind is still mounted under the mount root');
});
