// Issue 12 finding 1, worst case: on a join the bind source came from the store record, so a
// record written into Redis naming "/" as this node's mount point made a joining sidecar bind
// host / at ROOT/<vol>. Now the joiner binds what the driver's Path reports; the record is only
// compared (and the difference logged).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { mountsAt, readMountInfo } from '../../../src/common/mountinfo.js';
import { rigsFor } from '../../helpers/node-rig.js';
import { startRedisServer, stopAllRedis } from '../../helpers/redis-server.js';

const rigs = rigsFor(test);
test.after.always(async () => {
  await stopAllRedis();
});

test('a forged Redis record naming / as the mount point: the joining sidecar binds what the driver reports, not /', async (t) => {
  const redis = await startRedisServer();
  const rig = await rigs({ env: { DVDI_REDIS_URL: redis.url } });
  const first = await rig.sidecar({ DVDI_VOLUME_NAME: 'forged' });
  await first.waitReady();
  const target = join(rig.root, 'forged');
  const driverRoot = mountsAt(await readMountInfo(), target)[0]!.root;
  t.not(driverRoot, '/');

  // Whoever can write to Redis rewrites this node's mount point, and the node's bind goes away.
  const client = new Redis(redis.url);
  try {
    const key = `dvdi:{${rig.driver}/forged}:vol`;
    const record = JSON.parse((await client.get(key))!) as { nodes: Array<{ node: string; mountpoint?: string }> };
    t.truthy(record.nodes.find((n) => n.node === 'node-a')?.mountpoint);
    for (const n of record.nodes) n.mountpoint = '/';
    await client.set(key, JSON.stringify(record));
    t.is((JSON.parse((await client.get(key))!) as typeof record).nodes[0]!.mountpoint, '/');
  } finally {
    client.disconnect();
  }
  execFileSync('umount', ['-l', target]);

  const second = await rig.sidecar({ DVDI_VOLUME_NAME: 'forged' });
  await second.waitReady();
  const bound = mountsAt(await readMountInfo(), target);
  t.is(bound.length, 1);
  t.is(bound[0]!.root, driverRoot, 'the bind shows the driver\'s directory');
  t.false((await readdir(target)).includes('etc'), 'host / is not bound');
  t.regex(second.child.output.stderr, /the store record names another mount point than the driver reports/);
  t.is(rig.journal().filter((e) => e.op === 'Mount').length, 1, 'the join made no second driver Mount');
  await second.stop();
  await first.stop();
});
