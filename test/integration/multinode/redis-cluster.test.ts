// Sidecars on a real Redis Cluster (3 masters + 3 replicas of redis-server --cluster-enabled yes
// on loopback, test/helpers/redis-server.ts): exclusivity across nodes, `dvdi status` across
// masters, a kill -9 of the master holding an exclusive volume's record (its replica takes over;
// the holder stays ready, a third node is still refused, the holder still leaves cleanly), and
// a reshard (redis-cli --cluster reshard) of the slots of held volumes under running sidecars.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import calculateSlot from 'cluster-key-slot';
import { rigsFor, type NodeRig } from '../../helpers/node-rig.js';
import { runDvdi } from '../../helpers/cli.js';
import { redisCli, startRedisCluster, stopAllRedis, type ClusterTopology } from '../../helpers/redis-server.js';

// Longer than a cluster failover here (node timeout 2 s + election): a lease must survive one.
const TTL = 8000;
let cluster: ClusterTopology;
const startRig = rigsFor(test);

test.before(async () => {
  cluster = await startRedisCluster();
});
test.after.always(async () => {
  await stopAllRedis();
});

async function nodes(names: string[], prefix: string): Promise<NodeRig[]> {
  const driver = `cl${randomBytes(3).toString('hex')}`;
  return Promise.all(
    names.map((node) =>
      startRig({
        node,
        driver,
        env: { DVDI_REDIS_CLUSTER_NODES: cluster.seedList, DVDI_REDIS_PREFIX: prefix, DVDI_LEASE_TTL_MS: String(TTL), DVDI_RECONCILE_CRON: '*/2 * * * * *' },
      }),
    ),
  );
}

const volumeKey = (prefix: string, driver: string, name: string): string => `${prefix}:{${driver}/${name}}:vol`;

/** How many slots the node on `port` serves (from its own CLUSTER NODES line). */
async function slotCount(port: number): Promise<number> {
  const mine = (await redisCli(port, ['CLUSTER', 'NODES'])).split('\n').find((l) => l.includes('myself'));
  let count = 0;
  for (const range of (mine ?? '').trim().split(' ').slice(8)) {
    if (range.startsWith('[')) continue;
    const [from, to] = range.split('-').map(Number);
    count += (to ?? from!) - from! + 1;
  }
  return count;
}

/** Poll /readyz every 100 ms for `ms`: the statuses that were not 200. */
async function readyThroughout(url: string, ms: number): Promise<number[]> {
  const bad: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const status = await fetch(`${url}/readyz`).then(
      (r) => r.status,
      () => -1,
    );
    if (status !== 200) bad.push(status);
    await new Promise((r) => setTimeout(r, 100));
  }
  return bad;
}

test.serial('cluster: exclusive holder ready, a second node exits 4, status spans masters; kill -9 of the record\'s master: holder stays ready for 2 TTLs, a third node is refused, holder exits 0 and unmounts', async (t) => {
  const prefix = `c${randomBytes(4).toString('hex')}`;
  const [a, b, c] = await nodes(['node-a', 'node-b', 'node-c'], prefix);
  const holder = await a!.sidecar({ DVDI_VOLUME_NAME: 'ex', DVDI_TASK_ID: 'task-a' });
  // A new cluster quarantines each slot's first exclusive grant for one TTL: ready within ~TTL.
  await holder.waitReady(TTL + 20_000);
  const status = await (await fetch(`${holder.url}/status`)).json() as { store: { backend: string; up: boolean } };
  t.deepEqual(status.store, { backend: 'redis-cluster', up: true });
  t.regex(await (await fetch(`${holder.url}/metrics`)).text(), /dvdi_store_up\{backend="redis-cluster"\} 1/);

  const second = await b!.sidecar({ DVDI_VOLUME_NAME: 'ex', DVDI_TASK_ID: 'task-b', DVDI_ACQUIRE_TIMEOUT_MS: '3000' });
  const refused = await second.child.finished;
  t.is(refused.code, 4, refused.stderr.slice(-1500));
  t.regex(refused.stderr, /node-a/, 'the refusal names the holder');

  // Shared volumes on several names, so that records live on different masters.
  const shared = await Promise.all(['s1', 's2', 's3', 's4', 's5', 's6'].map((name) => b!.sidecar({ DVDI_VOLUME_NAME: name, DVDI_VOLUME_ACCESS: 'shared', DVDI_TASK_ID: `task-${name}` })));
  await Promise.all(shared.map((s) => s.waitReady(30_000)));
  const listed = await runDvdi(['status', '--json'], c!.env);
  t.is(listed.code, 0, listed.stderr);
  const view = JSON.parse(listed.stdout) as { backend: string; volumes: Array<{ name: string; driver: string }> };
  t.is(view.backend, 'redis-cluster');
  const names = view.volumes.map((v) => v.name).sort();
  t.deepEqual(names, ['ex', 's1', 's2', 's3', 's4', 's5', 's6']);
  const mastersOfListed = new Set(await Promise.all(view.volumes.map(async (v) => (await cluster.masterOf(calculateSlot(volumeKey(prefix, v.driver, v.name)))).port)));
  t.true(mastersOfListed.size >= 2, `the listed volumes' records live on ${mastersOfListed.size} masters`);
  await Promise.all(shared.map((s) => s.stop()));

  // Kill the master that holds the exclusive volume's record; its replica takes over.
  const slot = calculateSlot(volumeKey(prefix, a!.driver, 'ex'));
  const victim = await cluster.masterOf(slot);
  await victim.kill9();
  const killedAt = Date.now();
  const bad = await readyThroughout(holder.url, 2 * TTL);
  t.deepEqual(bad, [], 'the holder answered ready throughout 2 lease TTLs after the kill');
  await cluster.waitOk(20_000);
  const promoted = await cluster.masterOf(slot);
  t.not(promoted.port, victim.port, 'a replica took over the slot');
  t.log(`slot ${slot}: master ${victim.port} killed, ${promoted.port} serves it; ready checked for ${Date.now() - killedAt} ms`);

  const third = await c!.sidecar({ DVDI_VOLUME_NAME: 'ex', DVDI_TASK_ID: 'task-c', DVDI_ACQUIRE_TIMEOUT_MS: '3000' });
  const thirdDone = await third.child.finished;
  t.is(thirdDone.code, 4, `a third node is still refused after the failover: ${thirdDone.stderr.slice(-1500)}`);
  t.is((await fetch(`${holder.url}/readyz`)).status, 200);

  t.is((await holder.stop('SIGTERM')).code, 0);
  t.false(await a!.isMounted(join(a!.root, 'ex')), 'the holder unmounted its bind');
  // The killed master rejoins (as a replica): the cluster is whole again for the next test.
  await victim.restart();
  await clusterConsistent(30_000);
});

/** Until `redis-cli --cluster check` passes: every node reachable and agreeing on the slots. */
async function clusterConsistent(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await redisCli(cluster.seeds[0]!.port, ['--cluster', 'check', `127.0.0.1:${cluster.seeds[0]!.port}`]);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

test.serial('cluster: a reshard of held volumes\' slots under running sidecars loses nothing', async (t) => {
  const prefix = `r${randomBytes(4).toString('hex')}`;
  const [a, b] = await nodes(['node-a', 'node-b'], prefix);
  const names = ['r1', 'r2', 'r3', 'r4'];
  const holders = await Promise.all(names.map((name, i) => (i % 2 === 0 ? a! : b!).sidecar({ DVDI_VOLUME_NAME: name, DVDI_TASK_ID: `task-${name}` })));
  await Promise.all(holders.map((h) => h.waitReady(TTL + 20_000)));
  // redis-cli refuses to reshard while any known node is unreachable or the nodes disagree.
  await clusterConsistent(30_000);
  const masters = await cluster.masters();
  // Move the slots of every held record to one target master, one slot at a time (MIGRATE).
  const target = masters[0]!;
  const targetId = (await redisCli(target.port, ['CLUSTER', 'MYID'])).trim();
  let moved = 0;
  const owners = new Map<number, number>();
  for (const name of names) {
    const owner = await cluster.masterOf(calculateSlot(volumeKey(prefix, a!.driver, name)));
    if (owner.port !== target.port) owners.set(owner.port, (owners.get(owner.port) ?? 0) + 1);
  }
  // Every slot of each master that holds one of the records goes to the target: whatever
  // order redis-cli picks them in, the records' slots move (MIGRATE, with ASK/MOVED for clients).
  for (const port of owners.keys()) {
    // After a reshard the new slot map takes a moment to reach every node: wait until they agree.
    await clusterConsistent(30_000);
    const ownerId = (await redisCli(port, ['CLUSTER', 'MYID'])).trim();
    const count = await slotCount(port);
    await redisCli(port, ['--cluster', 'reshard', `127.0.0.1:${port}`, '--cluster-from', ownerId, '--cluster-to', targetId, '--cluster-slots', String(count), '--cluster-yes'], 300_000);
    moved += 1;
  }
  await cluster.waitOk(20_000);
  t.true(moved > 0, 'some held records lived away from the target master');
  // Renewals went on through MOVED/ASK: every holder is still ready two TTLs later.
  const bad = (await Promise.all(holders.map((h) => readyThroughout(h.url, 2 * TTL)))).flat();
  t.deepEqual(bad, [], 'every holder stayed ready through and after the reshard');
  const listed = await runDvdi(['status', '--json'], a!.env);
  const view = JSON.parse(listed.stdout) as { volumes: Array<{ name: string; epoch: number; holders: Array<{ node: string }> }> };
  t.deepEqual(view.volumes.map((v) => v.name).sort(), names);
  for (const v of view.volumes) t.is(v.holders.length, 1, `${v.name} keeps its one holder`);
  for (const h of holders) t.is((await h.stop('SIGTERM')).code, 0);
});
