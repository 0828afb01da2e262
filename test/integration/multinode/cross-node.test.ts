// Issue 4 acceptance: several simulated nodes (own DVDI_NODE_ID, mount root and plugin process)
// sharing one real redis-server; for exclusive volumes the plugins share one loop-image pool
// that refuses a second node's attach unless it preempts (the storage backend as the hard
// fence, as EBS is). The plugins' journals are the ground truth of who had what attached when.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { rigsFor, type JournalLine, type NodeRig } from '../../helpers/node-rig.js';
import { makeTempDir } from '../../helpers/mount-root.js';
import { runDvdi, waitFor } from '../../helpers/cli.js';
import { startRedisServer, stopAllRedis, type RedisServer } from '../../helpers/redis-server.js';

const TTL = 1500;
let redis: RedisServer;
const startRig = rigsFor(test);
/** The pools' temp directories, removed once every rig has stopped (rigsFor's hook runs first). */
const pools: string[] = [];

test.before(async () => {
  redis = await startRedisServer();
});
test.after.always(async () => {
  await Promise.all(pools.map((dir) => rm(dir, { recursive: true, force: true })));
  await stopAllRedis();
});

/** Two (or more) nodes sharing a pool and one Redis key prefix. */
async function cluster(nodes: string[], options: { pool?: boolean; prefix?: string } = {}): Promise<NodeRig[]> {
  const prefix = options.prefix ?? `t${randomBytes(4).toString('hex')}`;
  const driver = `pool${randomBytes(3).toString('hex')}`;
  let pool: string | undefined;
  if (options.pool !== false) {
    const dir = await makeTempDir('pool');
    pools.push(dir);
    pool = join(dir, 'images');
    await mkdir(pool);
  }
  const started = await Promise.all(
    nodes.map((node) =>
      startRig({
        node,
        driver,
        backend: pool ? 'loop' : 'dir',
        ...(pool ? { pool } : {}),
        env: { DVDI_REDIS_URL: redis.url, DVDI_REDIS_PREFIX: prefix, DVDI_LEASE_TTL_MS: String(TTL), DVDI_RECONCILE_CRON: '*/2 * * * * *' },
      }),
    ),
  );
  return started;
}

/** Attach intervals per node from a journal: [first Mount that changed, Unmount that changed]. */
function attachIntervals(journal: JournalLine[], volume: string): Array<{ node: string; from: number; to: number }> {
  const out: Array<{ node: string; from: number; to: number }> = [];
  const open = new Map<string, number>();
  for (const line of journal.filter((l) => l.volume === volume && l.result === 'ok' && l.changed === true)) {
    const node = line.node ?? '?';
    if (line.op === 'Mount') open.set(node, Date.parse(line.time));
    else {
      out.push({ node, from: open.get(node) ?? 0, to: Date.parse(line.time) });
      open.delete(node);
    }
  }
  for (const [node, from] of open) out.push({ node, from, to: Number.POSITIVE_INFINITY });
  return out;
}

function overlaps(intervals: Array<{ node: string; from: number; to: number }>): boolean {
  return intervals.some((a, i) => intervals.some((b, j) => i < j && a.node !== b.node && a.from < b.to && b.from < a.to));
}

const size = { DVDI_VOLUME_OPTS: 'size=0.05' };

test.serial('exclusive: B waits while A holds, gets the volume right after A releases; never attached on both', async (t) => {
  const [a, b] = await cluster(['node-a', 'node-b']);
  const holderA = await a!.sidecar({ ...size, DVDI_VOLUME_NAME: 'ex1', DVDI_TASK_ID: 'task-a' });
  await holderA.waitReady();
  const waiterB = await b!.sidecar({ ...size, DVDI_VOLUME_NAME: 'ex1', DVDI_TASK_ID: 'task-b', DVDI_ACQUIRE_TIMEOUT_MS: '30000' });
  await new Promise((r) => setTimeout(r, 1500));
  t.is((await fetch(`${waiterB.url}/readyz`)).status, 503, 'B is not ready while A holds the volume');
  t.is((await holderA.stop()).code, 0);
  const releasedAt = Date.now();
  await waiterB.waitReady(20_000);
  t.log(`B ready ${Date.now() - releasedAt} ms after A exited`);
  const journal = [...a!.journal(), ...b!.journal()];
  const intervals = attachIntervals(journal, 'ex1');
  t.deepEqual(intervals.map((i) => i.node), ['node-a', 'node-b']);
  t.false(overlaps(intervals), JSON.stringify(intervals));
  const status = await runDvdi(['status', '--json'], b!.env);
  const view = (JSON.parse(status.stdout) as { volumes: Array<{ name: string; mode: string; epoch: number }> }).volumes.find((v) => v.name === 'ex1');
  t.is(view?.mode, 'exclusive');
  t.true((view?.epoch ?? 0) >= 2, 'granted to a different node: the epoch increased');
  t.is((await waiterB.stop()).code, 0);
});

test.serial('exclusive: B gives up with exit 4 naming A when A does not release in time', async (t) => {
  const [a, b] = await cluster(['node-a', 'node-b']);
  const holderA = await a!.sidecar({ ...size, DVDI_VOLUME_NAME: 'ex2', DVDI_TASK_ID: 'task-a' });
  await holderA.waitReady();
  const waiterB = await b!.sidecar({ ...size, DVDI_VOLUME_NAME: 'ex2', DVDI_TASK_ID: 'task-b', DVDI_ACQUIRE_TIMEOUT_MS: '2000' });
  const result = await waiterB.child.finished;
  t.is(result.code, 4);
  t.regex(result.stderr, /volume ex2 .* is held exclusively by node node-a/);
  t.false(await b!.isMounted(join(b!.root, 'ex2')));
  t.is((await fetch(`${holderA.url}/readyz`)).status, 200, 'A is unaffected');
  t.is((await holderA.stop()).code, 0);
});

test.serial('shared: both nodes mount; cluster holders is 2; each node unmounts on its own last release', async (t) => {
  const [a, b] = await cluster(['node-a', 'node-b'], { pool: false });
  const env = { DVDI_VOLUME_NAME: 'sh1', DVDI_VOLUME_ACCESS: 'shared' };
  const sa = await a!.sidecar({ ...env, DVDI_TASK_ID: 'task-a' });
  const sb = await b!.sidecar({ ...env, DVDI_TASK_ID: 'task-b' });
  await sa.waitReady();
  await sb.waitReady();
  // Holder gauges are refreshed on every lease renewal (TTL/3): wait for both sidecars' next.
  for (const s of [sa, sb]) {
    await waitFor('holder gauges to be refreshed', async () => /dvdi_volume_holders\{volume="sh1",scope="cluster"\} 2/.test(await (await fetch(`${s.url}/metrics`)).text()), 15_000);
  }
  const metricsB = await (await fetch(`${sb.url}/metrics`)).text();
  t.regex(metricsB, /^dvdi_volume_holders\{volume="sh1",scope="cluster"\} 2$/m);
  t.regex(metricsB, /^dvdi_volume_holders\{volume="sh1",scope="node"\} 1$/m);
  t.is((await sa.stop()).code, 0);
  t.false(await a!.isMounted(join(a!.root, 'sh1')), 'A unmounted on its own last release');
  t.true(await b!.isMounted(join(b!.root, 'sh1')), 'B keeps its mount');
  t.is(a!.journal().filter((l) => l.op === 'Unmount' && l.result === 'ok').length, 1);
  t.is(b!.journal().filter((l) => l.op === 'Unmount').length, 0);
  t.is((await sb.stop()).code, 0);
  t.false(await b!.isMounted(join(b!.root, 'sh1')));
});

test.serial('mode conflict: a shared request for a volume held exclusively is refused (exit 4)', async (t) => {
  const [a, b] = await cluster(['node-a', 'node-b'], { pool: false });
  const sa = await a!.sidecar({ DVDI_VOLUME_NAME: 'mc1', DVDI_TASK_ID: 'task-a' });
  await sa.waitReady();
  const sb = await b!.sidecar({ DVDI_VOLUME_NAME: 'mc1', DVDI_VOLUME_ACCESS: 'shared', DVDI_TASK_ID: 'task-b' });
  const result = await sb.child.finished;
  t.is(result.code, 4);
  t.regex(result.stderr, /held in exclusive mode; this task asked for shared/);
  t.is((await sa.stop()).code, 0);
});

test.serial('preempt: B takes the volume; A is fenced (exit 5) within about one TTL and its bind is gone', async (t) => {
  const [a, b] = await cluster(['node-a', 'node-b']);
  const holderA = await a!.sidecar({ ...size, DVDI_VOLUME_NAME: 'pe1', DVDI_TASK_ID: 'task-a' });
  await holderA.waitReady();
  const taker = await b!.sidecar({ ...size, DVDI_VOLUME_NAME: 'pe1', DVDI_TASK_ID: 'task-b', DVDI_VOLUME_PREEMPT: 'true' });
  await taker.waitReady(20_000);
  const takenAt = Date.now();
  const fenced = await holderA.child.finished;
  t.log(`A exited ${Date.now() - takenAt} ms after B was ready (TTL ${TTL} ms, renewals every ${TTL / 3} ms)`);
  t.is(fenced.code, 5);
  t.regex(fenced.stderr, /lease on volume pe1 .* was lost/);
  t.false(await a!.isMounted(join(a!.root, 'pe1')), 'the fenced node detached its bind');
  const metrics = await (await fetch(`${taker.url}/metrics`)).text();
  t.regex(metrics, /^dvdi_preemptions_total\{volume="pe1"\} 1$/m);
  t.is((await taker.stop()).code, 0);
});

test.serial('Redis killed while tasks run: mounts stay; restarted empty: the holder re-registers and no other node gets the volume', async (t) => {
  const [a, b] = await cluster(['node-a', 'node-b'], { pool: false });
  const holderA = await a!.sidecar({ DVDI_VOLUME_NAME: 'rk1', DVDI_TASK_ID: 'task-a' });
  await holderA.waitReady();
  await redis.kill9();
  await waitFor('dvdi_store_up to drop to 0', async () => /^dvdi_store_up\{backend="redis"\} 0$/m.test(await (await fetch(`${holderA.url}/metrics`)).text()), 10_000);
  t.true(await a!.isMounted(join(a!.root, 'rk1')), 'the mount stays while Redis is down');
  t.is((await fetch(`${holderA.url}/readyz`)).status, 200, 'readiness stays as it is');
  await redis.restart();
  // Within one TTL of the data loss another node must not be granted the exclusive volume.
  const other = await b!.sidecar({ DVDI_VOLUME_NAME: 'rk1', DVDI_TASK_ID: 'task-b', DVDI_ACQUIRE_TIMEOUT_MS: String(TTL * 3) });
  const refused = await other.child.finished;
  t.is(refused.code, 4, refused.stderr);
  t.regex(refused.stderr, /held exclusively by node (node-a|\(store quarantine)/);
  await waitFor('A to re-register', async () => {
    const status = await runDvdi(['status', '--json'], a!.env);
    return /"task": "task-a"/.test(status.stdout);
  }, 10_000);
  t.is((await fetch(`${holderA.url}/readyz`)).status, 200);
  t.regex(holderA.child.output.stderr, /re-registering this holder/);
  t.is((await holderA.stop()).code, 0);
  t.false(await a!.isMounted(join(a!.root, 'rk1')));
});
