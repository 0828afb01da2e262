// Regression (store-record strings in logs): records read from Redis are input from whoever can
// write to it. The shape checks (lua/includes/record-shape.lua, refcount-model.ts) accept any
// text up to 4096 bytes in node IDs, tokens, task names, mount IDs and mountpoints, and volume
// and driver names of any length (they come from the index member and the key). They used to
// reach log fields and error messages as they were: a bidi override or a U+009B raw in a JSON
// log line, a forged `{"level":"info",…}` line and an ANSI clear-screen raw in the sidecar's
// last stderr line, megabytes of name in every log line and report of a sweep. Now every one is
// cleaned and capped where it is shown (common/external-text.ts); what is stored and compared
// is unchanged. Three real processes against a real redis-server: `dvdi status`, `dvdi
// reconcile` (reap, takeover, driver Unmount refused and judged by facts, a name the mounter
// refuses, a driver nobody serves) and a sidecar that gives up on a volume "held" by 300 forged
// node IDs. Before the fix those two printed 10 MB and 4 MB of stderr; now a few KB each.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { runDvdi } from '../../helpers/cli.js';
import { rigsFor, type NodeRig } from '../../helpers/node-rig.js';
import { useAdminRedis } from '../../helpers/redis-admin.js';

const redis = useAdminRedis(test);
const startRig = rigsFor(test);

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const UNSAFE_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const FORGED = '\n{"level":"info","msg":"FORGED line"}\n';
const MEGABYTE = 1 << 20;
/** What a process may print for all of this: a few log lines of a few hundred characters each. */
const OUTPUT_BOUND = 64 * 1024;

/** `label`, a forged log line, an ANSI clear screen and colour, a C1 CSI, bidi controls, then padding to `length`. */
function hostile(label: string, length: number): string {
  const text = `${label}${FORGED}\u001b[2J\u001b[31m\u009b2J\u202eesrever\u2066\u2028`;
  return text + 'x'.repeat(Math.max(0, length - text.length));
}
/** Just under the shape check's 4096 bytes (Lua counts bytes). */
const TEXT_MAX = 4000;

/** Every string inside a parsed JSON value, keys included. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => [k, ...strings(v)]);
  return [];
}

/**
 * One process's output: bounded, no raw control or bidi character, the forged line never on its
 * own. Log output (`json`): every line one JSON object whose strings are clean and short (no
 * control character even JSON-escaped), or the command's one-line summary (`dvdi …: …`).
 */
function assertClean(t: ExecutionContext, what: string, output: string, kind: 'json' | 'text' = 'json'): void {
  t.log(`${what}: ${output.length} characters`);
  t.true(output.length < OUTPUT_BOUND, `${what}: ${output.length} characters of output`);
  t.false(UNSAFE_BUT_NEWLINE.test(output), `${what}: a raw control or bidi character: ${JSON.stringify(output.match(new RegExp(`.{0,40}${UNSAFE_BUT_NEWLINE.source}.{0,40}`))?.[0])}`);
  const lines = output.split('\n').filter((line) => line !== '');
  t.false(lines.some((line) => line.startsWith('{"level":"info","msg":"FORGED line"}')), `${what}: the forged line stands as a line of its own`);
  if (kind === 'text') return;
  for (const line of lines) {
    if (/^dvdi [a-z]+: /.test(line)) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      t.fail(`${what}: a line that is neither JSON nor the summary: ${JSON.stringify(line.slice(0, 200))}`);
      continue;
    }
    const bad = strings(parsed).find((s) => UNSAFE.test(s.replace(/\n {4}at .*/g, '')) || s.length > 20_000);
    t.is(bad, undefined, `${what}: a string holds control/bidi characters or is huge: ${JSON.stringify(bad?.slice(0, 200))}`);
  }
}

async function redisRig(prefix: string, extra: Record<string, string> = {}): Promise<NodeRig> {
  await redis.admin.set(`${prefix}:alive`, '0'); // an old marker: no quarantine after a "data loss"
  // rclone's habits: an Unmount of an ID the plugin does not hold is refused, so the takeover
  // judges it by facts and logs the evidence, which names the recorded mountpoint.
  return startRig({ habits: 'rclone', env: { DVDI_REDIS_URL: redis.server.url, DVDI_REDIS_PREFIX: prefix, DVDI_LEASE_TTL_MS: '3000', ...extra } });
}

/** Write a forged, well-shaped record and index it for `nodes` (and the cluster-wide list). */
async function forge(prefix: string, record: { driver: string; name: string } & Record<string, unknown>, nodes: readonly string[]): Promise<void> {
  const member = JSON.stringify([record.driver, record.name]);
  await redis.admin.set(`${prefix}:{${record.driver}/${record.name}}:vol`, JSON.stringify({ epoch: 3, ...record }), 'PX', 600_000);
  await redis.admin.sadd(`${prefix}:volumes`, member);
  for (const node of nodes) await redis.admin.zadd(`${prefix}:{node:${node}}:vols`, Date.now(), member);
}

test('forged store strings: dvdi status and dvdi reconcile print them cleaned and capped', async (t) => {
  const prefix = `hos${randomBytes(4).toString('hex')}`;
  // The takeover of a volume of an unknown driver gives up after 2 × the Unmount limit.
  const rig = await redisRig(prefix, { DVDI_UNMOUNT_TIMEOUT_MS: '1500' });
  const node = rig.env.DVDI_NODE_ID!;
  // A volume this node "had mounted" under a dead holder: reaped, taken over, Unmount refused.
  const mountpoint = `/srv/${hostile('mp', TEXT_MAX)}`;
  await forge(prefix, {
    driver: rig.driver,
    name: 'hostile-a',
    mode: 'exclusive',
    holders: [{ token: hostile('tok', TEXT_MAX), node, task: hostile('task', TEXT_MAX), role: 'holder', expiresAt: 1 }],
    nodes: [{ node, state: 'mounted', mountpoint, mountId: hostile('id', TEXT_MAX), lastLiveAt: 1 }],
  }, [node]);
  // A megabyte name with the same escapes: the mounter refuses it, the sweep reports the error.
  const hugeName = hostile('v', MEGABYTE);
  await forge(prefix, {
    driver: rig.driver,
    name: hugeName,
    mode: 'exclusive',
    holders: [{ token: 'tok-b', node, task: hostile('task', TEXT_MAX), role: 'holder', expiresAt: 1 }],
    nodes: [{ node, state: 'mounted', mountpoint: '/srv/b', mountId: 'tok-b', lastLiveAt: 1 }],
  }, [node]);

  // A megabyte driver name: no such plugin, the takeover's Unmount fails and is reported.
  const hugeDriver = hostile('drv', MEGABYTE);
  await forge(prefix, {
    driver: hugeDriver,
    name: 'hostile-c',
    mode: 'exclusive',
    holders: [{ token: 'tok-c', node, task: 't', role: 'holder', expiresAt: 1 }],
    nodes: [{ node, state: 'mounted', mountpoint: '/srv/c', mountId: 'tok-c', lastLiveAt: 1 }],
  }, [node]);

  const status = await runDvdi(['status'], rig.env);
  t.is(status.code, 0, status.stderr.slice(-2000));
  assertClean(t, 'dvdi status stdout', status.stdout, 'text');
  assertClean(t, 'dvdi status stderr', status.stderr);
  t.is(status.stdout.split('\n').filter((l) => l.startsWith('  node ')).length, 3, 'one line per node and volume, none forged');

  const swept = await rig.reconcile();
  t.is(swept.code, 3, swept.stderr.slice(-2000)); // the huge name is refused: a step failed
  assertClean(t, 'dvdi reconcile stderr', swept.stderr);
  const stdout = JSON.stringify(swept.report);
  t.not(swept.report, undefined, 'the report is JSON');
  assertClean(t, 'dvdi reconcile report', stdout);
  // The sweep still did its work on the exact records: the takeover of hostile-a happened.
  t.deepEqual(swept.report?.unmounted.map((v) => v.name), ['hostile-a']);
  t.true(swept.stderr.includes('no live holder on this node: taking over the unmount'), 'the takeover was logged');
  t.true(swept.stderr.includes('treated as done'), 'the refused Unmount was judged by facts and logged');
  t.is(swept.report?.errors.length, 2, stdout.slice(0, 2000)); // the huge name, the huge driver
  // What is stored is untouched by the cleaning: the record keeps its name, byte for byte.
  const raw = await redis.admin.get(`${prefix}:{${rig.driver}/${hugeName}}:vol`);
  t.is((JSON.parse(raw ?? '{}') as { name?: string }).name, hugeName);
});

// Regression (ledger file names): the mount ID is part of the ledger file's name
// (ROOT/.dvdi/mounts/), and a forged 4000-byte one made `ledger.forget` fail with ENAMETOOLONG:
// the takeover never reached markUnmounted and every sweep retried it for ever. Now a long or
// odd key is named by its hash (reconcile/node-files.ts ledgerFileName).
test('forged store record with a 4000-byte mount ID: the takeover completes and the sweep converges', async (t) => {
  const prefix = `hos${randomBytes(4).toString('hex')}`;
  const rig = await redisRig(prefix);
  const node = rig.env.DVDI_NODE_ID!;
  const name = 'long-id';
  const mountId = hostile('id', TEXT_MAX);
  t.true(Buffer.byteLength(encodeURIComponent(mountId)) > 4000, 'far beyond a file name, even before the driver and volume are added');
  await forge(prefix, {
    driver: rig.driver,
    name,
    mode: 'exclusive',
    holders: [{ token: 'tok-l', node, task: 'task-l', role: 'holder', expiresAt: 1 }],
    nodes: [{ node, state: 'mounted', mountpoint: '/srv/l', mountId, lastLiveAt: 1 }],
  }, [node]);

  const first = await rig.reconcile();
  t.is(first.code, 0, JSON.stringify(first.report?.errors ?? first.stderr.slice(-2000)).slice(0, 1000));
  assertClean(t, 'first sweep stderr', first.stderr);
  t.deepEqual(first.report?.unmounted.map((v) => v.name), [name], 'taken over');
  t.deepEqual(first.report?.errors, []);
  t.true(first.stderr.includes('treated as done'), 'the refused Unmount (rclone habits) was judged by facts');
  // markUnmounted was taken: nothing of the volume is left on this node in the store.
  const raw = await redis.admin.get(`${prefix}:{${rig.driver}/${name}}:vol`);
  const { nodes } = JSON.parse(raw ?? '{"nodes":[]}') as { nodes: Array<{ node: string; state: string }> | Record<string, never> };
  // cjson writes an empty Lua table as {}
  t.deepEqual((Array.isArray(nodes) ? nodes : []).filter((n) => n.node === node && n.state !== 'absent'), [], raw?.slice(0, 500));

  const second = await rig.reconcile();
  t.is(second.code, 0, JSON.stringify(second.report?.errors ?? second.stderr.slice(-2000)).slice(0, 1000));
  const { reaped, unmounted, orphans, ledgerUnmounts, errors } = second.report ?? {};
  t.deepEqual({ reaped, unmounted, orphans, ledgerUnmounts, errors }, { reaped: [], unmounted: [], orphans: [], ledgerUnmounts: [], errors: [] }, 'the second sweep has nothing left to do');
  t.deepEqual(rig.journal().filter((l) => l.op === 'Unmount').map((l) => l.id === mountId), [true], 'one driver Unmount, with the recorded ID');
});

test('forged store strings: a sidecar that gives up on a volume held by 300 forged nodes prints them cleaned and capped', async (t) => {
  const prefix = `hos${randomBytes(4).toString('hex')}`;
  // Long enough for one "still waiting" line (every 5 s), then exit 4.
  const rig = await redisRig(prefix, { DVDI_ACQUIRE_TIMEOUT_MS: '6000' });
  const volume = `held-${randomBytes(3).toString('hex')}`;
  const until = Date.now() + 3_600_000;
  const nodes = Array.from({ length: 300 }, (_, i) => hostile(`node-${i}`, TEXT_MAX));
  await forge(prefix, {
    driver: rig.driver,
    name: volume,
    mode: 'exclusive',
    // Live holders alone make a node a blocker (lua/acquire-1.lua); ~1.2 MB of node IDs in all.
    holders: nodes.map((n, i) => ({ token: `tok-${i}`, node: n, task: 'task-z', role: 'holder', expiresAt: until })),
    nodes: [],
  }, []);
  const sidecar = await rig.sidecar({ DVDI_VOLUME_NAME: volume, DVDI_TASK_ID: 'task-held' });
  const finished = await sidecar.child.finished;
  t.is(finished.code, 4, finished.stderr.slice(-2000));
  assertClean(t, 'sidecar stderr', finished.stderr);
  t.true(finished.stderr.includes('still waiting for volume'), 'the progress line was logged');
  const summary = finished.stderr.split('\n').find((l) => l.startsWith('dvdi sidecar: ')) ?? '';
  t.regex(summary, new RegExp(`volume ${volume} \\(driver ${rig.driver}\\) is held exclusively by node "node-\\d+ `), summary.slice(0, 500));
  t.deepEqual(rig.journal().filter((l) => l.op === 'Mount'), [], 'the driver was never asked to Mount');
});
