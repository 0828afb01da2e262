// `dvdi status [--json]`: volumes, access modes, epochs, nodes, holders with their remaining
// leases and mount states, read from the store the sidecar settings name.
import { runStatusCommand } from '../main.js';

const HELP = `Usage: dvdi status [--json]

Shows every volume in use as the refcount store sees it (DVDI_REDIS_URL, or the embedded store
under DVDI_MOUNT_ROOT): access mode, epoch, and per node the mount state and the holders with
their remaining leases. --json prints the raw views. Exit 0, 2 invalid settings, 4 store
unavailable.
`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const unknown = argv.filter((a) => a !== '--json');
  if (unknown.length > 0) {
    process.stderr.write(`dvdi status: unexpected arguments: ${unknown.join(' ')} (see --help)\n`);
    return 2;
  }
  return runStatusCommand(argv.includes('--json'));
}
