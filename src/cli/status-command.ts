// `dvdi status [--json]`: volumes, access modes, epochs, nodes, holders with their remaining
// leases and mount states, read from the store the sidecar settings name.
import { ExitCode, exitCodeOf } from '../common/errors.js';
import { processContext } from '../main.js';
import type { NodeCommand } from './node-command.js';
import { runNodeCommand } from './node-command.js';
import { renderStatus } from './status-render.js';

const HELP = `Usage: dvdi status [--json] [settings]

Shows every volume in use as the refcount store sees it (DVDI_REDIS_URL, or the embedded store
under DVDI_MOUNT_ROOT): access mode, epoch, and per node the mount state and the holders with
their remaining leases. --json prints the raw views. Exit 0, 2 invalid settings, 4 store
unavailable.
`;

export const statusCommand: NodeCommand = {
  name: 'status',
  help: HELP,
  flags: ['mount-root', 'redis-url'],
  switches: ['json'],
  // The embedded store lives under the real mount root; no preflight needed just to read it.
  root: 'state-only',
  logLevel: (configured) => (configured === 'info' ? 'warn' : configured),
  async work(services, switches, ctx) {
    const volumes = await services.store.list();
    const backend = services.store.backend;
    await ctx.stdout(switches.has('json') ? `${JSON.stringify({ backend, volumes }, null, 2)}\n` : renderStatus(backend, volumes));
    return ExitCode.Ok;
  },
  failureCode: (error) => (exitCodeOf(error) === ExitCode.Internal ? ExitCode.Unavailable : exitCodeOf(error)),
};

export function run(argv: string[]): Promise<number> {
  return runNodeCommand(statusCommand, argv, processContext());
}
