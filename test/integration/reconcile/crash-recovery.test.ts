// Issue 5 acceptance on one node (embedded store): a SIGKILLed last holder's mount is cleaned
// up by another sidecar's scheduled sweep or by `dvdi reconcile`; a stray bind nobody knows is
// unmounted; and each crash point (between the store commit and the driver call, between the
// driver Mount and the bind, during the unmount) is recovered with the plugin's per-ID count
// consistent: one effective Unmount per successful Mount, with the Mount's own ID.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { rigsFor, type NodeRig, type JournalLine } from '../../helpers/node-rig.js';
import { waitFor } from '../../helpers/cli.js';
import { EmbeddedRefcountStore } from '../../../src/refcount/embedded-refcount-store.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { readMountInfo } from '../../../src/common/mountinfo.js';

// Short enough to keep the file quick, long enough that a live sidecar's renewals (every TTL/3)
// hold on a loaded 2-core machine: a holder that misses its lease rightly fences itself.
const TTL = 2000;
const FAST = { DVDI_LEASE_TTL_MS: String(TTL), DVDI_RECONCILE_CRON: '* * * * * *' };

const rig = rigsFor(test);

async function nodeState(node: NodeRig, name: string): Promise<string> {
  const store = new EmbeddedRefcountStore({ dir: join(node.root, '.dvdi'), clock: systemClock, logger: silentLogger() });
  try {
    const view = await store.inspect({ driver: node.driver, name });
    return view?.nodes.find((n) => n.node === 'node-a')?.state ?? 'absent';
  } finally {
    await store.close();
  }
}

/** Per mount ID: successful Mounts minus Unmounts that changed something must end at zero,
 * and the plugin's filesystem must be unmounted exactly once. */
function assertCountsBalanced(t: { is: (a: unknown, b: unknown, m?: string) => void }, journal: JournalLine[], volume: string): void {
  const mine = journal.filter((l) => l.volume === volume && l.result === 'ok');
  const mounted = mine.filter((l) => l.op === 'Mount');
  for (const m of mounted) {
    t.is(mine.filter((l) => l.op === 'Unmount' && l.id === m.id).length >= 1, true, `Mount ${m.id} got an Unmount`);
  }
  t.is(mine.filter((l) => l.op === 'Mount' && l.changed === true).length, mine.filter((l) => l.op === 'Unmount' && l.changed === true).length, 'every filesystem mount was unmounted once');
}

async function mountedUnder(dir: string): Promise<string[]> {
  return (await readMountInfo()).map((m) => m.mountPoint).filter((mp) => mp.startsWith(`${dir}/`));
}

test('a SIGKILLed last holder is cleaned up by another sidecar\'s sweep; its other volume is untouched', async (t) => {
  const node = await rig();
  const victim = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'killed1', DVDI_TASK_ID: 'victim' });
  await victim.waitReady();
  const keeper = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'kept1', DVDI_TASK_ID: 'keeper' });
  await keeper.waitReady();
  victim.child.kill('SIGKILL');
  await victim.child.finished;
  const killedAt = Date.now();
  const hostPath = join(node.root, 'killed1');
  t.true(await node.isMounted(hostPath), 'SIGKILL leaves the mount behind');
  // The sweep detaches the bind first, then calls driver Unmount, then marks the node absent.
  await waitFor('the orphan to be unmounted by the keeper\'s sweep', async () => !(await node.isMounted(hostPath)) && (await nodeState(node, 'killed1')) === 'absent', 20_000, 100);
  t.log(`orphan gone ${Date.now() - killedAt} ms after SIGKILL (TTL ${TTL} ms, sweep every 1 s)`);
  t.true(await node.isMounted(join(node.root, 'kept1')), 'the other volume stays');
  t.is(await nodeState(node, 'killed1'), 'absent');
  assertCountsBalanced(t, node.journal(), 'killed1');
  t.regex(keeper.child.output.stderr, /no live holder on this node: taking over the unmount/);
  const metrics = await (await fetch(`${keeper.url}/metrics`)).text();
  t.regex(metrics, /^dvdi_reconcile_runs_total\{outcome="ok"\} [1-9]/m);
  t.is((await keeper.stop()).code, 0);
});

test('without any other sidecar, dvdi reconcile cleans up a SIGKILLed holder', async (t) => {
  const node = await rig();
  const victim = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'killed2', DVDI_TASK_ID: 'victim2' });
  await victim.waitReady();
  victim.child.kill('SIGKILL');
  await victim.child.finished;
  await new Promise((r) => setTimeout(r, TTL + 200));
  const result = await node.reconcile(FAST);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.report?.unmounted.map((v) => v.name), ['killed2']);
  t.false(await node.isMounted(join(node.root, 'killed2')));
  assertCountsBalanced(t, node.journal(), 'killed2');
  t.is(await nodeState(node, 'killed2'), 'absent');
});

test('a live holder\'s volume is never touched by a sweep', async (t) => {
  const node = await rig();
  const live = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'alive1', DVDI_TASK_ID: 'alive' });
  await live.waitReady();
  await new Promise((r) => setTimeout(r, TTL * 2));
  const result = await node.reconcile(FAST);
  t.is(result.code, 0, result.stderr);
  t.is(live.child.exitCode, null, `the live holder exited: ${live.child.output.stderr.split('\n').slice(-5).join('\n')}`);
  t.deepEqual(result.report?.unmounted, []);
  t.deepEqual(result.report?.orphans, []);
  t.deepEqual(result.report?.ledgerUnmounts, []);
  t.true(await node.isMounted(join(node.root, 'alive1')));
  t.is((await live.stop()).code, 0);
});

test('a stray bind under the mount root that no store knows is unmounted after one TTL of grace', async (t) => {
  const node = await rig();
  const source = join(node.temp.dir, 'stray-source');
  const target = join(node.root, 'stray');
  await mkdir(source);
  await mkdir(target);
  execFileSync('mount', ['--bind', source, target]);
  const first = await node.reconcile(FAST);
  t.is(first.code, 0, first.stderr);
  t.deepEqual(first.report?.pendingOrphans, ['stray'], 'first seen: within its grace');
  t.true(await node.isMounted(target));
  await new Promise((r) => setTimeout(r, TTL + 100));
  const second = await node.reconcile(FAST);
  t.deepEqual(second.report?.orphans, ['stray']);
  t.false(await node.isMounted(target));
});

test('crash point: SIGKILL between the store commit and the driver call', async (t) => {
  const node = await rig({ faults: true });
  await node.setFaults({ Get: { delayMs: 4000 } });
  const victim = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'cp1', DVDI_TASK_ID: 'cp1' });
  await waitFor('the store to record the mount in progress', async () => (await nodeState(node, 'cp1')) === 'mounting', 10_000);
  victim.child.kill('SIGKILL');
  await victim.child.finished;
  await node.setFaults({});
  await new Promise((r) => setTimeout(r, TTL + 200));
  const result = await node.reconcile(FAST);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.report?.unmounted.map((v) => v.name), ['cp1']);
  t.is(await nodeState(node, 'cp1'), 'absent');
  t.deepEqual(node.journal().filter((l) => l.op === 'Mount'), [], 'the driver was never asked to Mount');
  // The node is usable again: a new task mounts the volume normally.
  const next = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'cp1', DVDI_TASK_ID: 'cp1-next' });
  await next.waitReady();
  t.is((await next.stop()).code, 0);
  assertCountsBalanced(t, node.journal(), 'cp1');
  t.deepEqual(await mountedUnder(node.root), []);
});

test('crash point: SIGKILL between the driver Mount and the bind', async (t) => {
  const node = await rig({ faults: true });
  await node.setFaults({ Mount: { delayMs: 2500 } });
  const victim = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'cp2', DVDI_TASK_ID: 'cp2' });
  await waitFor('the store to record the mount in progress', async () => (await nodeState(node, 'cp2')) === 'mounting', 10_000);
  await new Promise((r) => setTimeout(r, 300));
  victim.child.kill('SIGKILL');
  await victim.child.finished;
  // The plugin completes the Mount after the sidecar died: mounted, with nobody bound to it.
  await waitFor('the late Mount to complete in the plugin', () => node.journal().some((l) => l.op === 'Mount' && l.result === 'ok'), 10_000);
  await node.setFaults({});
  t.false(await node.isMounted(join(node.root, 'cp2')), 'no bind was made');
  await new Promise((r) => setTimeout(r, TTL + 200));
  const result = await node.reconcile(FAST);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.report?.unmounted.map((v) => v.name), ['cp2']);
  const journal = node.journal().filter((l) => l.volume === 'cp2');
  const mount = journal.find((l) => l.op === 'Mount' && l.result === 'ok')!;
  const unmounts = journal.filter((l) => l.op === 'Unmount' && l.result === 'ok');
  t.deepEqual(unmounts.map((l) => [l.id, l.changed]), [[mount.id, true]], 'one Unmount with the dead performer\'s Mount ID');
  t.is(await nodeState(node, 'cp2'), 'absent');
  t.deepEqual((await mountedUnder(node.temp.dir)).filter((mp) => mp !== node.root), [], 'the plugin\'s own mount is gone too');
});

test('crash point: SIGKILL during the unmount', async (t) => {
  const node = await rig({ faults: true });
  const victim = await node.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'cp3', DVDI_TASK_ID: 'cp3' });
  await victim.waitReady();
  await node.setFaults({ Unmount: { delayMs: 2500 } });
  victim.child.kill('SIGTERM');
  await waitFor('the store to record the unmount in progress', async () => (await nodeState(node, 'cp3')) === 'unmounting', 10_000);
  await new Promise((r) => setTimeout(r, 300));
  victim.child.kill('SIGKILL');
  await victim.child.finished;
  await waitFor('the late Unmount to complete in the plugin', () => node.journal().some((l) => l.op === 'Unmount' && l.result === 'ok'), 10_000);
  await node.setFaults({});
  await new Promise((r) => setTimeout(r, TTL + 200));
  const result = await node.reconcile(FAST);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.report?.unmounted.map((v) => v.name), ['cp3']);
  t.is(await nodeState(node, 'cp3'), 'absent');
  const journal = node.journal().filter((l) => l.volume === 'cp3' && l.result === 'ok');
  const mount = journal.find((l) => l.op === 'Mount')!;
  t.true(journal.filter((l) => l.op === 'Unmount').every((l) => l.id === mount.id), 'every Unmount carries the Mount ID');
  t.is(journal.filter((l) => l.op === 'Unmount' && l.changed === true).length, 1, 'the filesystem was unmounted once; the repeat was a no-op');
  t.false(await node.isMounted(join(node.root, 'cp3')));
  t.deepEqual((await mountedUnder(node.temp.dir)).filter((mp) => mp !== node.root), []);
});
