// `dvdi reconcile`: one reconcile sweep for this node (same settings and the same services as the
// sidecar, managed plugins included), then exit.
import { ExitCode } from '../common/errors.js';
import { processContext } from '../main.js';
import { reconcileOnce, shownReport } from '../reconcile/reconcile-sweep.js';
import type { NodeCommand } from './node-command.js';
import { runNodeCommand } from './node-command.js';

const HELP = `Usage: dvdi reconcile [settings]

Runs one reconcile sweep of this node (DVDI_NODE_ID) with the sidecar's settings: reaps this
node's expired holders, takes over the unmount of volumes nobody live holds here, and unmounts
binds under DVDI_MOUNT_ROOT that no store record explains (after one lease TTL of grace).
Prints the sweep report as JSON. Exit 0 clean, 2 invalid settings, 3 a step failed, 4 store
unavailable.
`;

export const reconcileCommand: NodeCommand = {
  name: 'reconcile',
  help: HELP,
  flags: ['mount-root', 'node-id', 'plugin-dirs', 'redis-url'],
  root: 'required',
  async work(services, _switches, ctx) {
    const report = await reconcileOnce(services.sweep());
    // Volume names in it come from the store: printed cleaned (shownReport).
    await ctx.stdout(`${JSON.stringify(shownReport(report), null, 2)}\n`);
    if (report.skipped) ctx.stderr("dvdi reconcile: another sweep holds this node's lock; nothing done\n");
    return report.errors.length > 0 ? ExitCode.MountFailed : ExitCode.Ok;
  },
};

export function run(argv: string[]): Promise<number> {
  return runNodeCommand(reconcileCommand, argv, processContext());
}
