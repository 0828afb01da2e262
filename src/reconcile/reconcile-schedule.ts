// The node-cron schedule around reconcileOnce: every DVDI_RECONCILE_CRON in every sidecar (the
// per-node lock makes all but one of them skip), never overlapping itself.
import cron from 'node-cron';
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { reconcileOnce, type SweepDeps } from './reconcile-sweep.js';

export interface RunningSchedule {
  stop(): Promise<void>;
}

export function scheduleReconciler(deps: SweepDeps, expression: string, logger: Logger): RunningSchedule {
  let running: Promise<unknown> = Promise.resolve();
  const task = cron.schedule(
    expression,
    (context) => {
      // Every sidecar of the node wakes for this instant; the first sweeps it, the rest skip.
      running = reconcileOnce(deps, { slot: context.date.getTime() }).catch((error: unknown) => {
        deps.metrics?.reconcileRuns.inc({ outcome: 'error' });
        logger.error({ err: describeError(error) }, 'reconcile sweep failed');
      });
      return running;
    },
    { name: 'dvdi-reconcile', noOverlap: true },
  );
  return {
    async stop() {
      await task.stop();
      await task.destroy?.();
      await running;
    },
  };
}
