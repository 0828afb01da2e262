// Chaos regression (found by the Redis Cluster seed 6006, 120 ops, in whole-suite runs: an orphan
// pool attachment after "SIGKILL + restart the pool plugin"): the pool plugin is killed between
// the two halves of a volume's detach — the image is unmounted (the loop device gone), but the
// attachment record still names this node. The restarted plugin sees nothing mounted and no
// holder, so every later Unmount (the sidecar's retry, the reconciler's takeover, the ledger
// sweep) finds "nothing to do" and the record stays for ever: no node is holding the volume,
// yet every other node is refused its attach (invariant 5, and in practice a volume nobody can
// mount any more). The window is made deterministic here: the test holds the loop device open,
// so the plugin's Unmount waits for the device's release after the umount, before the detach.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { rigsFor, type NodeRig } from '../../helpers/node-rig.js';
import { makeTempDir } from '../../helpers/mount-root.js';
import { waitFor } from '../../helpers/cli.js';
import { startRedisServer, stopAllRedis, type RedisServer } from '../../helpers/redis-server.js';
import { mountsAt, readMountInfo } from '../../../src/common/mountinfo.js';

const TTL = 1000;
let redis: RedisServer;
let held: FileHandle | undefined;
const startRig = rigsFor(test);
test.before(async () => {
  redis = await startRedisServer();
});
let poolDir: string | undefined;
test.after.always(async () => {
  await held?.close().catch(() => undefined);
  // rigsFor's hook, registered first, has stopped the rigs: the pool is no longer in use.
  if (poolDir !== undefined) await rm(poolDir, { recursive: true, force: true });
  await stopAllRedis();
});

async function attachments(pool: string): Promise<Record<string, string>> {
  const dir = join(pool, 'attachments');
  const out: Record<string, string> = {};
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json'))) {
    out[file.slice(0, -'.json'.length)] = (JSON.parse(await readFile(join(dir, file), 'utf8')) as { node: string }).node;
  }
  return out;
}

test('a pool plugin killed between unmounting an image and dropping its attachment leaves no attachment behind once the reconciler ran', async (t) => {
  poolDir = await makeTempDir('pool');
  const pool = join(poolDir, 'pool');
  await mkdir(pool);
  const driver = `orph${randomBytes(3).toString('hex')}`;
  const env = { DVDI_REDIS_URL: redis.url, DVDI_REDIS_PREFIX: `orph${randomBytes(3).toString('hex')}`, DVDI_LEASE_TTL_MS: String(TTL), DVDI_RECONCILE_CRON: '* * * * * *' };
  const [one, two] = (await Promise.all(['node-1', 'node-2'].map((node) => startRig({ node, driver, backend: 'loop', pool, env })))) as [NodeRig, NodeRig];

  const holder = await one.sidecar({ DVDI_VOLUME_NAME: 'ex1', DVDI_TASK_ID: 'holder', DVDI_VOLUME_OPTS: 'size=0.05' });
  await holder.waitReady();
  t.deepEqual(await attachments(pool), { ex1: 'node-1' });
  const pluginMount = join(one.temp.dir, 'plugin', 'mounts', 'ex1');
  const device = mountsAt(await readMountInfo(), pluginMount).at(-1)?.source;
  t.truthy(device?.startsWith('/dev/loop'), `the plugin mounted ex1 from a loop device (${String(device)})`);
  held = await open(device!, 'r'); // the device cannot autoclear while we hold it

  holder.child.kill('SIGTERM'); // release: unbind, driver Unmount → umount, then the wait for the device
  await waitFor('the plugin to unmount ex1', async () => mountsAt(await readMountInfo(), pluginMount).length === 0, 30_000);
  await one.restartPlugin('SIGKILL'); // killed while it waits for the release, before the detach
  await holder.child.finished;
  await held.close();
  held = undefined;
  t.true(one.journal().every((l) => !(l.volume === 'ex1' && l.op === 'Unmount' && l.result === 'ok' && l.changed === true)), `the Unmount never completed: ${JSON.stringify(one.journal())}`);

  // The reconciler gets its chance: the release's unmounter claim expires, a sweep takes over.
  for (let i = 0; i < 4; i++) {
    const sweep = await one.reconcile();
    t.is(sweep.code, 0, sweep.stderr);
    await new Promise((r) => setTimeout(r, TTL + 200));
  }
  t.deepEqual(await attachments(pool), {}, 'nobody holds ex1, so nothing may keep it attached to node-1');

  // And another node can have it.
  const next = await two.sidecar({ DVDI_VOLUME_NAME: 'ex1', DVDI_TASK_ID: 'next', DVDI_VOLUME_OPTS: 'size=0.05' });
  await t.notThrowsAsync(next.waitReady(30_000), 'node-2 attaches ex1');
  await next.stop('SIGTERM');
});
