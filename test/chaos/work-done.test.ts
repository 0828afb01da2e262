// The chaos suite's "did it do anything" check: a run that did nothing must fail it.
import test from 'ava';
import { summarizeWork, workShortfalls } from './work-done.js';
import type { JournalEntry } from '../../src/plugin/mount-journal.js';

const line = (op: JournalEntry['op'], changed: boolean, result: JournalEntry['result'] = 'ok'): JournalEntry => ({ time: '2026-01-01T00:00:00.000Z', op, volume: 'v', id: 'x', result, changed });

test('a run with ready sidecars, faults, mounts and unmounts passes', (t) => {
  const work = summarizeWork({ sidecars: [{ readyAt: 1 }, {}, undefined], injected: { 'sidecar-kill': 2, proxy: 1 }, journal: [line('Mount', true), line('Mount', false), line('Unmount', true)] });
  t.deepEqual(work, { sidecarsStarted: 2, sidecarsReady: 1, faultsInjected: 3, mountsDone: 1, unmountsDone: 1, unmountsRefused: 0 });
  t.deepEqual(workShortfalls(work), []);
});

test('a run in which every sidecar failed fast and nothing happened fails on every count', (t) => {
  const work = summarizeWork({ sidecars: [{}, {}], injected: {}, journal: [line('Mount', false, 'error'), line('Unmount', false)] });
  t.deepEqual(workShortfalls(work), ['no sidecar became ready (2 started)', 'no fault was injected', 'no driver Mount mounted anything', 'no driver Unmount completed']);
});

test('unmounts that changed nothing or failed do not count as completed', (t) => {
  const work = summarizeWork({ sidecars: [{ readyAt: 1 }], injected: { proxy: 1 }, journal: [line('Mount', true), line('Unmount', false), line('Unmount', true, 'error')] });
  t.deepEqual(workShortfalls(work), ['no driver Unmount completed']);
});

test("rclone habits: only the plugin's not-mounted refusals of an Unmount count as refusals provoked", (t) => {
  const refused = (error: string): JournalEntry => ({ ...line('Unmount', false, 'error'), error });
  const work = summarizeWork({
    sidecars: [{ readyAt: 1 }],
    injected: { proxy: 1 },
    journal: [refused('volume is not mounted'), refused('volume is not mounted by this id'), refused('injected fault: Unmount'), { ...line('Mount', false, 'error'), error: 'volume is not mounted' }, line('Unmount', true)],
  });
  t.is(work.unmountsRefused, 2);
  t.is(summarizeWork({ sidecars: [], injected: {}, journal: [line('Unmount', true)] }).unmountsRefused, 0);
});
