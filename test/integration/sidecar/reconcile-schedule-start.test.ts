// When the reconciler's schedule starts: the sweep before the attach runs first as always; the
// node-cron schedule (whose first date computation loads ICU data) waits until the sidecar is
// ready, or until the attach has taken SCHEDULE_WHILE_ATTACHING_MS, whichever comes first, so a
// slow attach is never left without the reconciler. Real sidecar, plugin and mounts; a schedule
// of every second makes the scheduled sweeps countable.
import test from 'ava';
import { join } from 'node:path';
import { SCHEDULE_WHILE_ATTACHING_MS } from '../../../src/cli/sidecar-session.js';
import { rigsFor } from '../../helpers/node-rig.js';
import { waitFor } from '../../helpers/cli.js';

const rig = rigsFor(test);
const SWEEP_DONE = '"msg":"reconcile sweep done"';
const READY = '"msg":"ready"';

interface Seen {
  /** Finish times (ms) of the sweeps logged before the ready line, the first sweep first. */
  beforeReady: number[];
  readyAt: number;
  total: number;
}

function sweeps(stderr: string): Seen {
  const lines = stderr.split('\n');
  const time = (line: string): number => Date.parse((JSON.parse(line) as { time: string }).time);
  const ready = lines.findIndex((line) => line.includes(READY));
  const done = lines.flatMap((line, i) => (line.includes(SWEEP_DONE) ? [i] : []));
  return { beforeReady: done.filter((i) => ready === -1 || i < ready).map((i) => time(lines[i]!)), readyAt: ready === -1 ? NaN : time(lines[ready]!), total: done.length };
}

test('an attach of a second or so: no scheduled sweep before ready, the schedule runs after it', async (t) => {
  const node = await rig({ faults: true });
  // With a tick every second, a schedule started at once would sweep during this attach.
  await node.setFaults({ Mount: { delayMs: 1_100 } });
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'quickvol', DVDI_TASK_ID: 'quick-task', DVDI_RECONCILE_CRON: '* * * * * *' });
  await waitFor('the ready line', () => sidecar.child.output.stderr.includes(READY), 60_000, 20);
  await waitFor('two scheduled sweeps after ready', () => sweeps(sidecar.child.output.stderr).total >= 3, 15_000, 50);
  const seen = sweeps(sidecar.child.output.stderr);
  const [first, ...scheduled] = seen.beforeReady;
  t.true(first !== undefined && seen.readyAt - first >= 1_100, 'the attach took longer than a tick');
  // Under load the attach may outlast SCHEDULE_WHILE_ATTACHING_MS; a sweep before that, never.
  t.deepEqual(scheduled.filter((at) => at - first! < SCHEDULE_WHILE_ATTACHING_MS), [], 'no scheduled sweep while the attach was young');
  t.true(seen.total >= 3, `the schedule ran after ready (${seen.total} sweeps)`);
  t.true(await node.isMounted(join(node.root, 'quickvol')));
  sidecar.child.kill('SIGTERM');
  t.is((await sidecar.child.finished).code, 0);
});

test('a slow attach: the schedule starts while still attaching', async (t) => {
  const node = await rig({ faults: true });
  // Long enough for the schedule's own start and at least one second-tick after it.
  await node.setFaults({ Mount: { delayMs: SCHEDULE_WHILE_ATTACHING_MS + 4_000 } });
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'slowvol', DVDI_TASK_ID: 'slow-task', DVDI_RECONCILE_CRON: '* * * * * *' });
  await waitFor('the ready line', () => sidecar.child.output.stderr.includes(READY), 60_000, 20);
  const seen = sweeps(sidecar.child.output.stderr);
  t.true(seen.beforeReady.length >= 2, `scheduled sweeps ran during the attach (${seen.beforeReady.length} sweeps before ready)`);
  sidecar.child.kill('SIGTERM');
  t.is((await sidecar.child.finished).code, 0);
});
