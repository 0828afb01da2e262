// The node-cron schedule around reconcileOnce: every DVDI_RECONCILE_CRON in every sidecar (the
// per-node lock makes all but one of them skip), never overlapping itself.
import cron, { type Logger as CronLogger } from 'node-cron';
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { reconcileOnce, type SweepDeps } from './reconcile-sweep.js';

export interface RunningSchedule {
  stop(): Promise<void>;
}

/**
 * node-cron's own messages — a run still going at the next instant (skipped: noOverlap), an
 * instant missed behind a blocked event loop — as the sidecar's JSON log lines; by default
 * node-cron writes them to the console in colour, between the JSON lines.
 */
export function cronLogger(logger: Logger): CronLogger {
  const log = logger.child({ module: 'node-cron' });
  const withError = (level: 'error' | 'debug', message: string | Error, err?: Error): void => {
    const error = err ?? (message instanceof Error ? message : undefined);
    log[level](error === undefined ? {} : { err: describeError(error) }, message instanceof Error ? message.message : message);
  };
  return {
    info: (message) => log.info(message),
    warn: (message) => log.warn(message),
    error: (message, err) => withError('error', message, err),
    debug: (message, err) => withError('debug', message, err),
  };
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
    { name: 'dvdi-reconcile', noOverlap: true, logger: cronLogger(logger) },
  );
  return {
    async stop() {
      await task.stop();
      await task.destroy?.();
      await running;
    },
  };
}
