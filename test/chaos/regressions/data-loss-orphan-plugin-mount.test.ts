// Chaos regression (found by seed 7, 40 ops: sh2 on node-3): the last holder of a volume on a
// node is SIGKILLed, and Redis loses its data (kill -9, restart without persistence) before any
// sweep has taken over the unmount. The store no longer knows the node had the volume mounted
// (nor the mount ID), so the sweep treats ROOT/<volume> as a stray bind and lazily unmounts it
// after its grace — but never sends the driver Unmount: the plugin's own mount (and, for block
// storage, the attachment to this node) stays for ever (invariant 5; for an exclusive volume
// every other node is then refused by the storage backend).
import test from 'ava';
import { join } from 'node:path';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';
import { startRedisServer, stopAllRedis, type RedisServer } from '../../helpers/redis-server.js';
import { readMountInfo } from '../../../src/common/mountinfo.js';

const TTL = 1000;
let redis: RedisServer;
let node: NodeRig | undefined;
test.before(async () => {
  redis = await startRedisServer();
});
test.after.always(async () => {
  await node?.stop();
  await stopAllRedis();
});

test('a killed last holder\'s mount is fully unmounted (bind and driver) even when Redis lost its data meanwhile', async (t) => {
  node = await startNodeRig({
    node: 'node-a',
    env: { DVDI_REDIS_URL: redis.url, DVDI_REDIS_PREFIX: 'loss', DVDI_LEASE_TTL_MS: String(TTL), DVDI_RECONCILE_CRON: '* * * * * *' },
  });
  const holder = await node.sidecar({ DVDI_VOLUME_NAME: 'lost1', DVDI_TASK_ID: 'victim' });
  await holder.waitReady();
  holder.child.kill('SIGKILL');
  await holder.child.finished;
  await redis.restart(); // kill -9 + empty restart, before any sweep ran
  const pluginMount = join(node.temp.dir, 'plugin', 'mounts', 'lost1');
  t.true((await readMountInfo()).some((m) => m.mountPoint === pluginMount), 'the plugin mounted the volume');
  // Two sweeps one TTL apart: the stray bind's grace, then its cleanup.
  for (let i = 0; i < 3; i++) {
    const result = await node.reconcile();
    t.is(result.code, 0, result.stderr);
    await new Promise((r) => setTimeout(r, TTL + 200));
  }
  t.false(await node.isMounted(join(node.root, 'lost1')), 'the bind under the mount root is gone');
  const journal = node.journal().filter((l) => l.volume === 'lost1' && l.op === 'Unmount' && l.result === 'ok');
  t.true((await readMountInfo()).every((m) => m.mountPoint !== pluginMount), `the plugin still has lost1 mounted (Unmounts sent: ${journal.length})`);
});
