// `dvdi sidecar`: the per-task daemon. Configuration comes from the environment only
// (docs/contract.md "Task volume requests" and "Sidecar settings"); the flow is in sidecar-run.ts.
import { processContext } from '../main.js';
import { runSidecar } from './sidecar-run.js';

const HELP = `Usage: dvdi sidecar

Mounts the task's volumes (DVDI_VOLUME_NAME[0-9], DVDI_VOLUME_DRIVER[n], DVDI_VOLUME_OPTS[n], ...)
through their Docker volume plugins, binds each at DVDI_MOUNT_ROOT/<name>, reports ready on
GET /readyz, keeps its leases, and on SIGTERM/SIGINT releases them; the last user of a volume
on this node unmounts it lazily. Every setting is an environment variable: see the README.

Exit codes: 0 clean shutdown, 1 internal error, 2 invalid configuration, 3 driver/mount failure,
4 volume held by another node or store unavailable, 5 lease lost while running (fenced).
`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`dvdi sidecar: unexpected arguments: ${argv.join(' ')} (settings are environment variables; see --help)\n`);
    return 2;
  }
  const code = await runSidecar(processContext());
  // Open handles (a socket in a dead plugin's backoff, a Redis reconnect timer) must not keep
  // a finished sidecar alive: its exit is the orchestrator's signal.
  process.exit(code);
}
