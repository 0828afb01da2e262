// The set-up two chaos regressions share: one node on a private Redis, a one-second lease and a
// per-second reconcile schedule; its only holder of a volume is SIGKILLed after ready, so what
// is left for the node's sweeps is a mount without a live holder. Each test then takes a write
// away from Redis in its own way, sweeps, and checks what the sweeps did.
import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';
import { startRedisServer, stopAllRedis, type RedisServer } from '../../helpers/redis-server.js';

const TTL = 1000;

export interface KilledHolderSetup {
  redis(): RedisServer;
  /** A node on that Redis under `prefix` whose only holder of `volume` was SIGKILLed when ready. */
  nodeWithKilledHolder(volume: string, prefix: string): Promise<NodeRig>;
  /** `count` sweeps of the node, one lease apart, each exiting 0. */
  sweep(count: number): Promise<Array<{ code: number | null; stderr: string }>>;
}

/** Registers the test file's hooks (a Redis before, everything stopped after). */
export function useKilledHolderSetup(): KilledHolderSetup {
  let redis: RedisServer | undefined;
  let node: NodeRig | undefined;
  test.before(async () => {
    redis = await startRedisServer();
  });
  test.after.always(async () => {
    await node?.stop();
    await stopAllRedis();
  });
  return {
    redis: () => redis!,
    async nodeWithKilledHolder(volume, prefix) {
      node = await startNodeRig({
        node: 'node-a',
        env: { DVDI_REDIS_URL: redis!.url, DVDI_REDIS_PREFIX: prefix, DVDI_LEASE_TTL_MS: String(TTL), DVDI_RECONCILE_CRON: '* * * * * *' },
      });
      const holder = await node.sidecar({ DVDI_VOLUME_NAME: volume, DVDI_TASK_ID: 'victim' });
      await holder.waitReady();
      holder.child.kill('SIGKILL');
      await holder.child.finished;
      return node;
    },
    async sweep(count) {
      const results = [];
      for (let i = 0; i < count; i++) {
        results.push(await node!.reconcile());
        await sleep(TTL + 200);
      }
      return results;
    },
  };
}
