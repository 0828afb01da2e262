// The chaos checkers must be able to fail: each one is shown a hand-written history that breaks
// its invariant (and one that keeps it), so a green chaos run means "held", not "not looked at".
import test from 'ava';
import type { VolumeView } from '../../src/refcount/refcount-store.js';
import {
  attachIntervals,
  checkExclusiveAttachIntervals,
  checkHoldersMatchTasks,
  checkLeaseKeysExpire,
  checkNoOrphans,
  checkNoUnmountUnderLiveLease,
  type MountFact,
  type RecordedJournalLine,
  type StoreSnapshot,
} from './invariants.js';
import { planChaos } from './chaos-plan.js';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const line = (ms: number, node: string, op: 'Mount' | 'Unmount', volume = 'ex1', changed = true): RecordedJournalLine => ({
  time: at(ms),
  node,
  op,
  volume,
  id: 'id',
  result: 'ok',
  changed,
  plugin: 'pool plugin',
});

function view(name: string, holders: Array<{ node: string; task: string; expiresInMs: number; role?: 'holder' | 'unmounter'; token?: string }>): VolumeView {
  return {
    driver: 'd',
    name,
    mode: 'exclusive',
    epoch: 1,
    holders: holders.map((h) => ({ token: h.token ?? `tok-${h.task}`, node: h.node, task: h.task, role: h.role ?? 'holder', expiresInMs: h.expiresInMs })),
    nodes: [],
  };
}

test('single attach: back-to-back intervals pass, overlapping ones fail', (t) => {
  const handoff = [line(0, 'node-1', 'Mount'), line(100, 'node-1', 'Unmount'), line(150, 'node-2', 'Mount'), line(300, 'node-2', 'Unmount')];
  t.deepEqual(checkExclusiveAttachIntervals(handoff, ['ex1']), []);
  const overlap = [line(0, 'node-1', 'Mount'), line(150, 'node-2', 'Mount'), line(200, 'node-1', 'Unmount')];
  const found = checkExclusiveAttachIntervals(overlap, ['ex1']);
  t.is(found.length, 1);
  t.regex(found[0]!.message, /ex1 attached on node-1 .* and on node-2/);
  // A Mount that did not change anything (a second holder's count) is not an attach.
  t.deepEqual(checkExclusiveAttachIntervals([...handoff, line(120, 'node-3', 'Mount', 'ex1', false)], ['ex1']), []);
});

test('single attach: an Unmount with no journaled Mount starts at the fallback (the plugin crash)', (t) => {
  const journal = [line(0, 'node-1', 'Mount'), line(100, 'node-1', 'Unmount'), line(500, 'node-2', 'Unmount')];
  t.deepEqual(attachIntervals(journal, 'ex1', () => T0 + 200).map((i) => i.from - T0), [0, 200]);
  t.deepEqual(checkExclusiveAttachIntervals(journal, ['ex1'], () => T0 + 200), []);
  t.is(checkExclusiveAttachIntervals(journal, ['ex1'], () => T0 + 50).length, 1);
});

test('single attach: the plugin\'s attach and detach stamps order the intervals, not the time a call finished (standalone preemption seed 4545)', (t) => {
  const stamped = (ms: number, node: string, op: 'Mount' | 'Unmount', stamps: Partial<Pick<RecordedJournalLine, 'attachedAt' | 'detachedAt' | 'preempted'>>, changed = true): RecordedJournalLine => ({ ...line(ms, node, op, 'ex1', changed), ...stamps });
  // Seed 4545 under load: node-2's Mount attached first (its mkfs and mount were slow), node-3's
  // preempting Mount replaced node-2's record and finished first; node-2's Mount finished 31 ms
  // after it, its sidecar (revoked) undid it. By finishing times node-2 attached after node-3.
  const seed4545 = [
    stamped(1000, 'node-3', 'Mount', { attachedAt: at(600), preempted: 'node-2' }),
    stamped(1031, 'node-2', 'Mount', { attachedAt: at(200) }),
    stamped(1526, 'node-2', 'Unmount', {}),
    stamped(1606, 'node-2', 'Unmount', {}, false),
    stamped(14000, 'node-3', 'Unmount', { detachedAt: at(13900) }),
  ];
  const preemptingSidecar = (node: string) => node === 'node-3';
  t.is(checkExclusiveAttachIntervals(seed4545.map(({ attachedAt: _a, preempted: _p, detachedAt: _d, ...rest }) => rest), ['ex1'], undefined, preemptingSidecar).length, 1, 'by finishing times it looks like an overlap');
  t.deepEqual(checkExclusiveAttachIntervals(seed4545, ['ex1'], undefined, preemptingSidecar), []);
  t.deepEqual(attachIntervals(seed4545, 'ex1').map((i) => [i.node, i.from - T0, i.to - T0]), [['node-2', 200, 600], ['node-3', 600, 13900]]);
  // A detach stamped before a slow Unmount finished ends the interval there: a hand-over.
  const handoff = [stamped(0, 'node-1', 'Mount', { attachedAt: at(0) }), stamped(300, 'node-1', 'Unmount', { detachedAt: at(100) }), stamped(200, 'node-2', 'Mount', { attachedAt: at(150) })];
  t.deepEqual(checkExclusiveAttachIntervals(handoff, ['ex1']), []);
  // A second attach that preempted nobody while the first is attached is an overlap, whatever
  // sidecar was running; a preemption ends only the interval of the node it names.
  t.is(checkExclusiveAttachIntervals([stamped(0, 'node-1', 'Mount', { attachedAt: at(0) }), stamped(200, 'node-2', 'Mount', { attachedAt: at(150) })], ['ex1'], undefined, () => true).length, 1);
  const wrongVictim = [stamped(0, 'node-1', 'Mount', { attachedAt: at(0) }), stamped(50, 'node-3', 'Mount', { attachedAt: at(40) }), stamped(200, 'node-2', 'Mount', { attachedAt: at(150), preempted: 'node-3' })];
  t.regex(checkExclusiveAttachIntervals(wrongVictim, ['ex1']).map((v) => v.message).join('\n'), /node-1 .* and on node-2/);
  // An Unmount that only dropped a stale attachment (nothing was mounted: changed=false) ends the
  // interval too, even a refused one (rclone habits).
  const stale = [stamped(0, 'node-1', 'Mount', { attachedAt: at(0) }), { ...stamped(500, 'node-1', 'Unmount', { detachedAt: at(490) }, false), result: 'error' as const }, stamped(600, 'node-2', 'Mount', { attachedAt: at(550) })];
  t.deepEqual(checkExclusiveAttachIntervals(stale, ['ex1']), []);
  t.is(checkExclusiveAttachIntervals(stale.filter((l) => l.op !== 'Unmount'), ['ex1']).length, 1);
});

test('no premature unmount: an Unmount under a ready holder\'s provably live lease fails; an expired, released or not-ready one passes', (t) => {
  const snap = (start: number, holders: Parameters<typeof view>[1]): StoreSnapshot => ({ start: T0 + start, end: T0 + start + 5, volumes: [view('ex1', holders)] });
  const unmount = [line(1000, 'node-1', 'Unmount')];
  const sidecar = { task: 'a', node: 'node-1', volume: 'ex1', driver: 'd', startedAt: T0, readyAt: T0 + 100 };
  const live = [snap(900, [{ node: 'node-1', task: 'a', expiresInMs: 1500 }]), snap(1100, [{ node: 'node-1', task: 'a', expiresInMs: 1400 }])];
  const found = checkNoUnmountUnderLiveLease(unmount, live, [sidecar], []);
  t.is(found.length, 1);
  t.regex(found[0]!.message, /unmounted ex1 .* while task a/);
  // The lease (as last seen before) ended before the Unmount: the holder had lost it.
  t.deepEqual(checkNoUnmountUnderLiveLease(unmount, [snap(900, [{ node: 'node-1', task: 'a', expiresInMs: 50 }]), live[1]!], [sidecar], []), []);
  // Gone from the store afterwards: released before the Unmount.
  t.deepEqual(checkNoUnmountUnderLiveLease(unmount, [live[0]!, snap(1100, [])], [sidecar], []), []);
  // Never ready (still waiting to mount): not a user of the volume.
  t.deepEqual(checkNoUnmountUnderLiveLease(unmount, live, [{ ...sidecar, readyAt: undefined }], []), []);
  // Another node's holder does not count; a data loss in the window voids the evidence.
  t.deepEqual(checkNoUnmountUnderLiveLease([line(1000, 'node-2', 'Unmount')], live, [sidecar], []), []);
  t.deepEqual(checkNoUnmountUnderLiveLease(unmount, live, [sidecar], [T0 + 1050]), []);
});

test('quiescence: holders equal live ready tasks, and held volumes are mounted', (t) => {
  const mounts: MountFact[] = [
    { node: 'node-1', volume: 'ex1', kind: 'bind', path: '/r/ex1' },
    { node: 'node-1', volume: 'ex1', kind: 'plugin', path: '/p/ex1' },
  ];
  const volumes = [view('ex1', [{ node: 'node-1', task: 'a', expiresInMs: 1000 }])];
  const task = { task: 'a', node: 'node-1', volume: 'ex1', ready: true };
  t.deepEqual(checkHoldersMatchTasks(volumes, [task], mounts), []);
  t.regex(checkHoldersMatchTasks(volumes, [], mounts)[0]!.message, /task a, which is not running/);
  t.regex(checkHoldersMatchTasks(volumes, [{ ...task, ready: false }], mounts)[0]!.message, /alive but not ready/);
  t.regex(checkHoldersMatchTasks([view('ex1', [])], [task], mounts)[0]!.message, /is ready but the store has \[\]/);
  t.regex(checkHoldersMatchTasks(volumes, [task], mounts.slice(0, 1))[0]!.message, /no plugin mount there/);
});

test('orphans: a mount or pool attachment without a live holder on its node fails', (t) => {
  const volumes = [view('ex1', [{ node: 'node-1', task: 'a', expiresInMs: 1000 }])];
  const held: MountFact = { node: 'node-1', volume: 'ex1', kind: 'bind', path: '/r1/ex1' };
  t.deepEqual(checkNoOrphans(volumes, [held], [{ volume: 'ex1', node: 'node-1' }]), []);
  const elsewhere: MountFact = { node: 'node-2', volume: 'ex1', kind: 'plugin', path: '/p2/ex1' };
  t.regex(checkNoOrphans(volumes, [held, elsewhere], [])[0]!.message, /orphan plugin mount of ex1 on node-2/);
  t.regex(checkNoOrphans([], [], [{ volume: 'ex2', node: 'node-3' }])[0]!.message, /orphan pool attachment of ex2 to node-3/);
  // An expired holder keeps nothing.
  t.is(checkNoOrphans([view('ex1', [{ node: 'node-1', task: 'a', expiresInMs: -5 }])], [held], []).length, 1);
});

test('keys: every key expires except the volume index and the alive marker', (t) => {
  const keys = [
    { key: 'p:volumes', pttl: -1 },
    { key: 'p:alive', pttl: -1 },
    { key: 'p:{d/ex1}:vol', pttl: 60_000 },
  ];
  t.deepEqual(checkLeaseKeysExpire(keys, 'p'), []);
  const found = checkLeaseKeysExpire([...keys, { key: 'p:{d/ex2}:vol', pttl: -1 }], 'p');
  t.deepEqual(found.map((v) => v.message), ['key p:{d/ex2}:vol has PTTL -1']);
});

test('the plan is a pure function of the seed, and respects its bounds', (t) => {
  const a = planChaos({ seed: 42, ops: 200, leaseTtlMs: 1500 });
  t.deepEqual(planChaos({ seed: 42, ops: 200, leaseTtlMs: 1500 }), a);
  t.notDeepEqual(planChaos({ seed: 43, ops: 200, leaseTtlMs: 1500 }), a);
  t.is(a.length, 200);
  for (const op of a) if (op.op === 'pause') t.true(op.ms > 1500, 'every pause outlives the lease');
  let live = 0;
  for (const op of a) {
    if (op.op === 'start') live++;
    if (op.op === 'stop' || op.op === 'kill9') live--;
    t.true(live <= 8);
  }
});

test('single attach with preemption: a preempting attach ends the others\' attachment; a plain one does not', (t) => {
  // A attached; B attaches with preempt at 200; A's sidecar unmounts its local mount at 300.
  const journal = [line(0, 'node-1', 'Mount'), line(200, 'node-2', 'Mount'), line(300, 'node-1', 'Unmount'), line(500, 'node-2', 'Unmount')];
  t.is(checkExclusiveAttachIntervals(journal, ['ex1']).length, 1, 'without preemption the overlap 200..300 is a violation');
  const preemptingB = (node: string, volume: string, time: number): boolean => node === 'node-2' && volume === 'ex1' && time - T0 >= 100 && time - T0 <= 600;
  t.deepEqual(checkExclusiveAttachIntervals(journal, ['ex1'], undefined, preemptingB), []);
  t.deepEqual(
    attachIntervals(journal, 'ex1', undefined, preemptingB).map((i) => [i.node, i.from - T0, i.to - T0]),
    [
      ['node-1', 0, 200],
      ['node-2', 200, 500],
    ],
  );
  // A third node attaching without preempt while B holds it is still caught.
  const third = [...journal.slice(0, 2), line(250, 'node-3', 'Mount'), line(260, 'node-3', 'Unmount'), ...journal.slice(2)];
  t.is(checkExclusiveAttachIntervals(third, ['ex1'], undefined, preemptingB).length, 1);
});

test('lease keys: a Cluster slot marker <prefix>:{tag}:alive is exempt like the single marker', (t) => {
  t.deepEqual(checkLeaseKeysExpire([{ key: 'p:{123}:alive', pttl: -1 }, { key: 'p:alive', pttl: -1 }], 'p'), []);
  t.is(checkLeaseKeysExpire([{ key: 'p:{d/v}:vol', pttl: -1 }], 'p').length, 1);
});
