// Issue 8 acceptance across nodes: two simulated nodes (own DVDI_NODE_ID, mount root and plugin
// process) sharing one real redis-server. A Mesos agent's `dvdcli mount` and a sidecar respect
// each other's exclusive claims in both directions.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DVDCLI, runDvdi, type Finished } from '../../helpers/cli.js';
import { rigsFor, type NodeRig } from '../../helpers/node-rig.js';
import { startRedisServer, stopAllRedis, type RedisServer } from '../../helpers/redis-server.js';

let redis: RedisServer;
const startRig = rigsFor(test);
test.before(async () => {
  redis = await startRedisServer();
});
test.after.always(async () => {
  await stopAllRedis();
});

async function twoNodes(): Promise<[NodeRig, NodeRig]> {
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const driver = `xn${randomBytes(3).toString('hex')}`;
  const env = { DVDI_REDIS_URL: redis.url, DVDI_REDIS_PREFIX: prefix, DVDI_LEASE_TTL_MS: '1500' };
  const [a, b] = await Promise.all([startRig({ node: 'node-a', driver, env }), startRig({ node: 'node-b', driver, env })]);
  return [a, b];
}

async function dvdcli(node: NodeRig, args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return runDvdi(args, { ...node.env, ...env }, DVDCLI);
}

test("node B's dvdcli mount of an exclusive volume held by node A's dvdcli claim fails naming A; after A's unmount it succeeds", async (t) => {
  const [a, b] = await twoNodes();
  const held = await dvdcli(a, ['mount', `--volumedriver=${a.driver}`, '--volumename=agentvol']);
  t.is(held.code, 0, held.stderr);
  const refused = await dvdcli(b, ['mount', `--volumedriver=${b.driver}`, '--volumename=agentvol'], { DVDI_ACQUIRE_TIMEOUT_MS: '1000' });
  t.is(refused.code, 1, refused.stderr);
  t.is(refused.stdout, '');
  t.regex(refused.stderr, /dvdcli: error: volume agentvol \(driver \S+\) is held exclusively by node node-a/);
  t.is(b.journal().length, 0);
  t.is((await dvdcli(a, ['unmount', `--volumedriver=${a.driver}`, '--volumename=agentvol'])).code, 0);
  const mounted = await dvdcli(b, ['mount', `--volumedriver=${b.driver}`, '--volumename=agentvol']);
  t.is(mounted.code, 0, mounted.stderr);
  t.is(mounted.stdout, `${join(b.root, 'agentvol')}\n`);
  t.is((await dvdcli(b, ['unmount', `--volumedriver=${b.driver}`, '--volumename=agentvol'])).code, 0);
  t.false(await b.isMounted(join(b.root, 'agentvol')));
});

test("node B's dvdcli mount of an exclusive volume held by a sidecar on node A fails naming A; after A releases it succeeds, and then A's sidecar waits for B", async (t) => {
  const [a, b] = await twoNodes();
  const sidecar = await a.sidecar({ DVDI_VOLUME_NAME: 'xvol', DVDI_TASK_ID: 'task-on-a' });
  await sidecar.waitReady();

  const refused = await dvdcli(b, ['mount', `--volumedriver=${b.driver}`, '--volumename=xvol'], { DVDI_ACQUIRE_TIMEOUT_MS: '1000' });
  t.is(refused.code, 1, refused.stderr);
  t.is(refused.stdout, '', 'never exit with a path while another node holds the volume');
  t.regex(refused.stderr, /dvdcli: error: volume xvol \(driver \S+\) is held exclusively by node node-a/);
  t.is(b.journal().length, 0, 'node B never called its driver Mount');

  t.is((await sidecar.stop()).code, 0);
  t.false(await a.isMounted(join(a.root, 'xvol')));

  const mounted = await dvdcli(b, ['mount', `--volumedriver=${b.driver}`, '--volumename=xvol']);
  t.is(mounted.code, 0, mounted.stderr);
  t.is(mounted.stdout, `${join(b.root, 'xvol')}\n`);
  t.true(await b.isMounted(join(b.root, 'xvol')));

  // The other direction: the dvdcli claim of node B blocks a sidecar on node A.
  const blocked = await a.sidecar({ DVDI_VOLUME_NAME: 'xvol', DVDI_TASK_ID: 'task-on-a-2', DVDI_ACQUIRE_TIMEOUT_MS: '1000' });
  const blockedExit = await blocked.child.finished;
  t.is(blockedExit.code, 4);
  t.regex(blockedExit.stderr, /held exclusively by node node-b/);

  const unmounted = await dvdcli(b, ['unmount', `--volumedriver=${b.driver}`, '--volumename=xvol']);
  t.is(unmounted.code, 0, unmounted.stderr);
  t.false(await b.isMounted(join(b.root, 'xvol')));
  const journal = b.journal();
  t.is(journal.filter((l) => l.op === 'Mount' && l.result === 'ok').length, 1);
  t.is(journal.filter((l) => l.op === 'Unmount' && l.result === 'ok').length, 1);

  const renewed = await dvdcli(b, ['renew']);
  t.is(renewed.code, 0, renewed.stderr);
  t.deepEqual(JSON.parse(renewed.stdout), { renewed: [], lost: [] }, 'no claim left on node B');
});

test('dvdcli renew extends the claims of this node only', async (t) => {
  const [a, b] = await twoNodes();
  t.is((await dvdcli(a, ['mount', `--volumedriver=${a.driver}`, '--volumename=rnva'])).code, 0);
  t.is((await dvdcli(b, ['mount', `--volumedriver=${b.driver}`, '--volumename=rnvb'])).code, 0);
  const renewed = await dvdcli(a, ['renew']);
  t.is(renewed.code, 0, renewed.stderr);
  t.deepEqual(JSON.parse(renewed.stdout), { renewed: [`${a.driver}/rnva`], lost: [] });
  t.is((await dvdcli(a, ['unmount', `--volumedriver=${a.driver}`, '--volumename=rnva'])).code, 0);
  t.is((await dvdcli(b, ['unmount', `--volumedriver=${b.driver}`, '--volumename=rnvb'])).code, 0);
});
