// Chaos regression (found by seed 7, 40 ops: sh2 on node-3): the last holder of a volume on a
// node is SIGKILLed, and Redis loses its data (kill -9, restart without persistence) before any
// sweep has taken over the unmount. The store no longer knows the node had the volume mounted
// (nor the mount ID), so the sweep treats ROOT/<volume> as a stray bind and lazily unmounts it
// after its grace — but never sends the driver Unmount: the plugin's own mount (and, for block
// storage, the attachment to this node) stays for ever (invariant 5; for an exclusive volume
// every other node is then refused by the storage backend).
import test from 'ava';
import { join } from 'node:path';
import { readMountInfo } from '../../../src/common/mountinfo.js';
import { useKilledHolderSetup } from './killed-holder.js';

const setup = useKilledHolderSetup();

test('a killed last holder\'s mount is fully unmounted (bind and driver) even when Redis lost its data meanwhile', async (t) => {
  const node = await setup.nodeWithKilledHolder('lost1', 'loss');
  await setup.redis().restart(); // kill -9 + empty restart, before any sweep ran
  const pluginMount = join(node.temp.dir, 'plugin', 'mounts', 'lost1');
  t.true((await readMountInfo()).some((m) => m.mountPoint === pluginMount), 'the plugin mounted the volume');
  // Sweeps one TTL apart: the stray bind's grace, then its cleanup.
  for (const result of await setup.sweep(3)) t.is(result.code, 0, result.stderr);
  t.false(await node.isMounted(join(node.root, 'lost1')), 'the bind under the mount root is gone');
  const journal = node.journal().filter((l) => l.volume === 'lost1' && l.op === 'Unmount' && l.result === 'ok');
  t.true((await readMountInfo()).every((m) => m.mountPoint !== pluginMount), `the plugin still has lost1 mounted (Unmounts sent: ${journal.length})`);
});
