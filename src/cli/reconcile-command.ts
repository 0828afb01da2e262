// `dvdi reconcile`: one reconcile sweep for this node (same settings as the sidecar), then exit.
import { runReconcileCommand } from '../main.js';

const HELP = `Usage: dvdi reconcile

Runs one reconcile sweep of this node (DVDI_NODE_ID) with the sidecar's settings: reaps this
node's expired holders, takes over the unmount of volumes nobody live holds here, and unmounts
binds under DVDI_MOUNT_ROOT that no store record explains (after one lease TTL of grace).
Prints the sweep report as JSON. Exit 0 clean, 2 invalid settings, 3 a step failed, 4 store
unavailable.
`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`dvdi reconcile: unexpected arguments: ${argv.join(' ')} (see --help)\n`);
    return 2;
  }
  return runReconcileCommand();
}
