// Issue 4, Redis trouble at the sidecar level: a primary + replica + three Sentinels on loopback
// and a sidecar that rides through a failover; SIGTERM while Redis is down ends the sidecar
// within its shutdown limit and unmounts nothing another holder still uses.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { rigsFor } from '../../helpers/node-rig.js';
import { runDvdi, waitFor } from '../../helpers/cli.js';
import { startRedisServer, startSentinelTopology, stopAllRedis } from '../../helpers/redis-server.js';

const startRig = rigsFor(test);
test.after.always(async () => {
  await stopAllRedis();
});

function okRenewals(metrics: string): number {
  return Number(/^dvdi_lease_renewals_total\{outcome="ok"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
}

test.serial('Sentinel: a sidecar rides through a failover of the primary', async (t) => {
  const topology = await startSentinelTopology();
  const node = await startRig({
    env: {
      DVDI_REDIS_SENTINELS: topology.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      DVDI_REDIS_SENTINEL_NAME: topology.masterName,
      DVDI_REDIS_PREFIX: `s${randomBytes(3).toString('hex')}`,
      DVDI_LEASE_TTL_MS: '3000',
    },
  });
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'sentvol', DVDI_TASK_ID: 'sent-task' });
  await sidecar.waitReady();
  await waitFor('the replica to have caught up', async () => (await runDvdi(['status', '--json'], { ...node.env })).stdout.includes('sent-task'), 10_000);

  await topology.primary.kill9();
  const killedAt = Date.now();
  const before = okRenewals(await (await fetch(`${sidecar.url}/metrics`)).text());
  // After the failover, renewals succeed again against the promoted replica.
  await waitFor('renewals to succeed after the failover', async () => {
    if (sidecar.child.exitCode !== null) throw new Error(`the sidecar exited (${sidecar.child.exitCode}) during the failover:\n${sidecar.child.output.stderr.split('\n').slice(-15).join('\n')}`);
    return okRenewals(await (await fetch(`${sidecar.url}/metrics`)).text()) >= before + 2;
  }, 30_000, 200);
  t.log(`renewals succeed again ${Date.now() - killedAt} ms after the primary was killed`);
  const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
  t.regex(metrics, /^dvdi_store_up\{backend="redis"\} 1$/m);
  t.is((await fetch(`${sidecar.url}/readyz`)).status, 200, 'ready throughout');
  t.true(await node.isMounted(join(node.root, 'sentvol')));
  const result = await sidecar.stop();
  t.is(result.code, 0, result.stderr);
  t.notRegex(result.stderr, /lease lost/);
  t.false(await node.isMounted(join(node.root, 'sentvol')));
});

test.serial('SIGTERM while Redis is down: exit within the shutdown limit, nothing unmounted under another holder', async (t) => {
  const redis = await startRedisServer();
  const node = await startRig({
    env: { DVDI_REDIS_URL: redis.url, DVDI_REDIS_PREFIX: `d${randomBytes(3).toString('hex')}`, DVDI_LEASE_TTL_MS: '1500', DVDI_SHUTDOWN_TIMEOUT_MS: '3000', DVDI_RECONCILE_CRON: '* * * * * *' },
  });
  const first = await node.sidecar({ DVDI_VOLUME_NAME: 'downvol', DVDI_TASK_ID: 'first' });
  await first.waitReady();
  const second = await node.sidecar({ DVDI_VOLUME_NAME: 'downvol', DVDI_TASK_ID: 'second' });
  await second.waitReady();
  await redis.kill9();

  const stoppedAt = Date.now();
  const result = await first.stop();
  const took = Date.now() - stoppedAt;
  t.log(`first sidecar exited ${took} ms after SIGTERM with Redis down (limit 3000 ms)`);
  t.is(result.code, 0, result.stderr);
  t.true(took < 3000 + 2000, 'within the shutdown limit (plus process exit)');
  t.regex(result.stderr, /could not be released|release failed|store/);
  t.true(await node.isMounted(join(node.root, 'downvol')), 'the second holder keeps its volume');

  // Redis comes back empty: the second holder re-registers; the first one's claim is gone with
  // the data; sweeps unmount nothing the second holder uses.
  await redis.restart();
  await waitFor('the second holder to re-register', async () => /re-registering this holder/.test(second.child.output.stderr), 15_000);
  await new Promise((r) => setTimeout(r, 3000));
  t.true(await node.isMounted(join(node.root, 'downvol')), 'still mounted after several sweeps');
  t.is((await fetch(`${second.url}/readyz`)).status, 200);
  t.is((await second.stop()).code, 0);
  t.false(await node.isMounted(join(node.root, 'downvol')));
});
