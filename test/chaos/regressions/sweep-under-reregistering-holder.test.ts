// Chaos regression (found by the Sentinel seeds 9009 and 4444): a Sentinel failover is longer
// than the lease TTL and may lose the last writes, and each process of a node finds the new
// primary on its own (ioredis' reconnect backoff, up to 2 s). The node's sweep, in a process
// whose connection came back first, saw the holder's lease lapsed (or its record gone with the
// lost writes) and took the volume over — unbind and driver Unmount — while the holder, alive,
// was about to re-register: a ready holder's mount was taken away, or (when its reclaim landed
// after the takeover had marked the node unmounted) it re-registered over a mount that was gone.
// The test makes the holder's connection the slow one on purpose: the holder reaches Redis
// through a proxy that refuses it for a while, and `dvdi reconcile` (this node's sweep) goes to
// Redis directly. Once the proxy lets the holder through again it must re-register and stay
// ready over its mount, and no sweep may have unmounted anything meanwhile.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startTcpProxy, type TcpProxy } from '../tcp-proxy.js';
import { waitFor } from '../../helpers/cli.js';
import { rigsFor, type NodeRig } from '../../helpers/node-rig.js';
import { startRedisServer, stopAllRedis, type RedisServer } from '../../helpers/redis-server.js';

const TTL = 1500;
const startRig = rigsFor(test);
const proxies: TcpProxy[] = [];
let redis: RedisServer;
test.before(async () => {
  redis = await startRedisServer();
});
test.after.always(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await stopAllRedis();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A node whose sidecars reach Redis through `proxy`; their own schedule never sweeps within the test. */
async function nodeBehind(proxy: TcpProxy): Promise<NodeRig> {
  return startRig({ env: { DVDI_REDIS_URL: proxy.url, DVDI_REDIS_PREFIX: `r${randomBytes(3).toString('hex')}`, DVDI_LEASE_TTL_MS: String(TTL), DVDI_RECONCILE_CRON: '0 0 1 1 *' } });
}

/** This node's sweep from a process whose connection to Redis is fine. */
async function sweep(node: NodeRig): Promise<NonNullable<Awaited<ReturnType<NodeRig['reconcile']>>['report']>> {
  const result = await node.reconcile({ DVDI_REDIS_URL: redis.url });
  if (result.code !== 0 || result.report === undefined) throw new Error(`dvdi reconcile failed (${result.code}): ${result.stderr}`);
  return result.report;
}

for (const loss of ['lease lapsed in the outage', 'record lost with the data'] as const) {
  test.serial(`the node's sweep leaves a holder that is re-registering alone (${loss})`, async (t) => {
    const proxy = await startTcpProxy(redis.port);
    proxies.push(proxy);
    const node = await nodeBehind(proxy);
    const volume = `rr${randomBytes(2).toString('hex')}`;
    const holder = await node.sidecar({ DVDI_VOLUME_NAME: volume, DVDI_TASK_ID: 'holder' });
    await holder.waitReady();
    const bind = join(node.root, volume);

    // The holder cannot reach Redis for longer than its lease; the store itself is fine (or
    // comes back empty), and this node's sweep reaches it.
    proxy.setMode({ kind: 'reset' });
    if (loss === 'record lost with the data') await redis.restart();
    await sleep(TTL + 500);
    // Sweeps one TTL apart: a lapsed lease is reaped at once, an unexplained bind after its grace.
    for (let i = 0; i < 3; i++) {
      const report = await sweep(node);
      t.deepEqual(report.unmounted, [], `sweep ${i} took the volume over: ${JSON.stringify(report)}`);
      t.deepEqual(report.orphans, [], `sweep ${i} unmounted the bind as an orphan`);
      t.deepEqual(report.ledgerUnmounts, [], `sweep ${i} sent the ledger's Unmount`);
      t.true(await node.isMounted(bind), `the holder's bind is gone after sweep ${i}`);
      await sleep(TTL / 2 + 300);
    }

    proxy.setMode({ kind: 'pass' });
    await waitFor('the holder to re-register', async () => {
      if (holder.child.exitCode !== null) throw new Error(`the holder exited (${holder.child.exitCode}):\n${holder.child.output.stderr.split('\n').slice(-12).join('\n')}`);
      return /re-registering this holder/.test(holder.child.output.stderr);
    }, 15_000);
    await sleep(TTL);
    t.is(holder.child.exitCode, null, 'the holder is still running');
    t.is((await fetch(`${holder.url}/readyz`)).status, 200, 'the holder is ready');
    t.true(await node.isMounted(bind), 'and its bind is there');
    const after = await sweep(node);
    t.deepEqual([after.unmounted, after.orphans, after.ledgerUnmounts], [[], [], []], 'a sweep after the re-registration unmounts nothing');
    t.true(await node.isMounted(bind));

    const stopped = await holder.stop();
    t.is(stopped.code, 0, stopped.stderr.split('\n').slice(-12).join('\n'));
    t.false(await node.isMounted(bind), 'the last holder unmounts at its stop');
  });
}

// The same failover seen by two holders of one shared volume on the node: the one whose
// connection came back first is stopped, and the store, which shows the other one's lease
// lapsed, names it the node's last holder — its release unmounted from under the other one
// (seed 4444: the shared plugin unmounted sh1 under a ready holder). It now waits, at most a
// lease TTL, for the other holder (which still beats) to re-register first.
test.serial('a releasing holder does not unmount from under another holder of the node that is re-registering', async (t) => {
  const slowTtl = 3000;
  const proxy = await startTcpProxy(redis.port);
  proxies.push(proxy);
  const node = await startRig({ env: { DVDI_REDIS_URL: redis.url, DVDI_REDIS_PREFIX: `r${randomBytes(3).toString('hex')}`, DVDI_LEASE_TTL_MS: String(slowTtl), DVDI_RECONCILE_CRON: '0 0 1 1 *' } });
  const volume = `rs${randomBytes(2).toString('hex')}`;
  const shared = { DVDI_VOLUME_NAME: volume, DVDI_VOLUME_ACCESS: 'shared' };
  const first = await node.sidecar({ ...shared, DVDI_TASK_ID: 'first' });
  await first.waitReady();
  const second = await node.sidecar({ ...shared, DVDI_TASK_ID: 'second', DVDI_REDIS_URL: proxy.url });
  await second.waitReady();
  const bind = join(node.root, volume);

  proxy.setMode({ kind: 'reset' }); // the second holder's lease lapses; the first one's renews go on
  await sleep(slowTtl + 500);
  const stopping = first.stop();
  await sleep(300);
  proxy.setMode({ kind: 'pass' });
  const stopped = await stopping;
  t.is(stopped.code, 0, stopped.stderr.split('\n').slice(-12).join('\n'));
  t.true(await node.isMounted(bind), 'the first holder\'s release unmounted the volume from under the second one');
  await waitFor('the second holder to re-register', async () => {
    if (second.child.exitCode !== null) throw new Error(`the second holder exited (${second.child.exitCode}):\n${second.child.output.stderr.split('\n').slice(-12).join('\n')}`);
    return /re-registering this holder/.test(second.child.output.stderr);
  }, 15_000);
  await sleep(slowTtl / 2);
  t.is(second.child.exitCode, null, 'the second holder is still running');
  t.is((await fetch(`${second.url}/readyz`)).status, 200, 'and ready');
  t.true(await node.isMounted(bind), 'over its bind');
  t.is((await second.stop()).code, 0);
  t.false(await node.isMounted(bind), 'the last holder unmounts at its stop');
});
