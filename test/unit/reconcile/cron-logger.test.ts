// node-cron's own messages go through the sidecar's logger as JSON lines, never to the console:
// a real node-cron schedule whose run outlasts its period (noOverlap, as the reconciler's)
// makes node-cron report the blocked instant — through cronLogger alone, and through the
// reconciler's own schedule (a sweep slowed by its stamp read).
import { Writable } from 'node:stream';
import test from 'ava';
import cron from 'node-cron';
import { pino } from 'pino';
import { systemClock } from '../../../src/common/clock.js';
import { cronLogger, scheduleReconciler } from '../../../src/reconcile/reconcile-schedule.js';
import type { SweepDeps } from '../../../src/reconcile/reconcile-sweep.js';

type Line = { level: number; module?: string; msg: string };

/** A pino logger into `lines`, and every console line of the test into `consoleLines` until teardown. */
function capture(t: { teardown: (fn: () => void) => void }): { lines: Line[]; consoleLines: string[]; sink: Writable; restore: () => void } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Line);
      done();
    },
  });
  const consoleLines: string[] = [];
  const originals = { warn: console.warn, info: console.info, error: console.error, debug: console.debug };
  for (const level of ['warn', 'info', 'error', 'debug'] as const) console[level] = (...args: unknown[]) => void consoleLines.push(args.map(String).join(' '));
  const restore = () => Object.assign(console, originals);
  t.teardown(restore);
  return { lines, consoleLines, sink, restore };
}

test("a run still going at the next instant: node-cron's warning is one JSON line of ours, the console gets nothing", async (t) => {
  const { lines, consoleLines, sink, restore } = capture(t);
  let runs = 0;
  const task = cron.schedule(
    '* * * * * *',
    async () => {
      runs += 1;
      await new Promise((r) => setTimeout(r, 2500));
    },
    { name: 'cron-logger-test', noOverlap: true, logger: cronLogger(pino(sink)) },
  );
  await new Promise((r) => setTimeout(r, 3500));
  await task.stop();
  await task.destroy?.();
  restore();

  t.true(runs >= 1, `the task ran (${runs})`);
  const blocked = lines.filter((l) => l.msg.includes('overlap prevention'));
  t.true(blocked.length >= 1, JSON.stringify(lines));
  t.like(blocked[0], { level: 40, module: 'node-cron' });
  t.deepEqual(consoleLines, []);
});

test("the reconciler's schedule: a sweep still going at the next instant is reported as our JSON line", async (t) => {
  const { lines, consoleLines, sink, restore } = capture(t);
  const logger = pino(sink);
  let looks = 0;
  // reconcileOnce first asks the stamp whether the node was swept since this instant: slowed
  // here past the period, then answering "yes" so that nothing else of the sweep is needed.
  const deps = {
    clock: systemClock,
    logger,
    stamp: {
      async lastStarted() {
        looks += 1;
        await new Promise((r) => setTimeout(r, 2500));
        return Date.now();
      },
      async record() {},
    },
  } as unknown as SweepDeps;
  const schedule = scheduleReconciler(deps, '* * * * * *', logger);
  await new Promise((r) => setTimeout(r, 3500));
  await schedule.stop();
  restore();
  t.true(looks >= 1, `a sweep began (${looks})`);
  t.like(lines.find((l) => l.msg.includes('overlap prevention')), { level: 40, module: 'node-cron' }, JSON.stringify(lines));
  t.deepEqual(consoleLines, []);
});
