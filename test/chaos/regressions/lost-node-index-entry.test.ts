// Chaos regression (found by the Redis Cluster seed 6006, 120 ops, under load: "the store has a
// holder of sh1 on node-1 for task t19-node-1-sh1, which is not running", at quiescence and after
// the drain): the node's store index (`<prefix>:{node:<node>}:vols`, its own hash slot) lost the
// volume in a failover that the volume's record (another slot) survived, and the record's only
// holder on the node stopped renewing (its task died), so nothing ever touched the index again.
// The node's sweep walks only its index: it never reaped the holder nor took over the node's
// unmount in the store. It did unmount the bind (unexplained) and the driver mount (from its
// ledger), so the record kept saying "mounted on node-a" over nothing — and the next task here was
// told to join a mount that was gone. The lost write is played here by deleting the index key.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisCli } from '../../helpers/redis-server.js';
import { readMountInfo } from '../../../src/common/mountinfo.js';
import { useKilledHolderSetup } from './killed-holder.js';

const setup = useKilledHolderSetup();

test("a volume lost from the node's store index is still reaped and unmounted in the store, and the next task on the node gets it", async (t) => {
  const prefix = `lostidx${randomBytes(3).toString('hex')}`;
  const node = await setup.nodeWithKilledHolder('idx1', prefix);
  const redis = setup.redis();
  t.is(await redisCli(redis.port, ['DEL', `${prefix}:{node:node-a}:vols`]), '1\n', 'the index entry is gone (the lost write)');

  for (const sweep of await setup.sweep(4)) t.is(sweep.code, 0, sweep.stderr);
  const pluginMount = join(node.temp.dir, 'plugin', 'mounts', 'idx1');
  t.true((await readMountInfo()).every((m) => m.mountPoint !== pluginMount), 'the plugin mount is gone');
  const admin = new Redis(redis.url);
  const raw = await admin.get(`${prefix}:{${node.driver}/idx1}:vol`).finally(() => admin.disconnect());
  // (Lua's cjson writes an empty list as {}.)
  const record = JSON.parse(raw ?? '{}') as { holders?: Record<string, { task: string }>; nodes?: Record<string, { node: string; state: string }> };
  t.deepEqual(Object.values(record.holders ?? {}), [], `the dead task's holder is reaped: ${String(raw)}`);
  t.true(Object.values(record.nodes ?? {}).every((n) => n.state === 'absent'), `the store no longer says node-a has it mounted: ${String(raw)}`);

  const next = await node.sidecar({ DVDI_VOLUME_NAME: 'idx1', DVDI_TASK_ID: 'next' });
  await t.notThrowsAsync(next.waitReady(30_000), 'the next task on the node gets the volume');
  await next.stop('SIGTERM');
});
