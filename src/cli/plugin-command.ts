// `dvdi plugin --name NAME --backend dir|loop [--root DIR] [--socket PATH] [--socket-group G] [--journal FILE]
// [--node NAME] [--pool DIR] [--habits reference|rclone] [--log-level LEVEL]`: run the reference Docker volume plugin until
// SIGTERM/SIGINT. Exit 0 after a clean stop, 2 on usage errors.
import { parseArgs } from 'node:util';
import { ErrorCode } from '../common/error-codes.js';
import { systemClock } from '../common/clock.js';
import { DvdiError, describeError } from '../common/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../common/logger.js';
import { defaultRoot, defaultSocket, startPlugin } from '../plugin/plugin-daemon.js';
import { BACKEND_KINDS, type BackendKind } from '../plugin/volume-backend.js';
import { PLUGIN_HABITS, type PluginHabits } from '../plugin/volume-service.js';

export const PLUGIN_USAGE = `Usage: dvdi plugin --name NAME --backend dir|loop [options]

Serves the Docker Volume Plugin protocol on a unix socket.

Options:
  --name NAME          plugin name (Docker finds it as NAME)
  --backend dir|loop   dir: a directory per volume, bind-mounted; loop: a sparse image per
                       volume on a loop device (opts size=GiB, newfstype=ext4|xfs, overwritefs)
  --root DIR           state, volumes and mountpoints (default ${defaultRoot('NAME')})
  --socket PATH        unix socket (default ${defaultSocket('NAME')}), mode 0600 whatever the umask
  --socket-group GROUP group (name or gid) that may use the socket too: mode 0660
  --journal FILE       append one JSON line per Mount/Unmount
  --node NAME          node name written to the journal and pool attachment records
  --pool DIR           shared image pool (loop only, needs --node): one node attached at a time
  --faults FILE        tests only: JSON {"Mount":{"delayMs":N,"error":"..","hang":true},...}, re-read per request
  --habits H           reference (default): Unmount of an unknown ID succeeds, Path answers only
                       while mounted; rclone: both as rclone's plugin does (Unmount of an unknown
                       ID refused with "volume is not mounted", Path and Get always name the path)
  --log-level LEVEL    ${LOG_LEVELS.join('|')} (default info)
  -h, --help           this text`;

function fail(message: string): number {
  process.stderr.write(`dvdi plugin: ${message}\n\n${PLUGIN_USAGE}\n`);
  return 2;
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        name: { type: 'string' },
        backend: { type: 'string' },
        root: { type: 'string' },
        socket: { type: 'string' },
        'socket-group': { type: 'string' },
        journal: { type: 'string' },
        node: { type: 'string' },
        pool: { type: 'string' },
        faults: { type: 'string' },
        habits: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return fail(describeError(error));
  }
  if (values.help === true) {
    process.stdout.write(`${PLUGIN_USAGE}\n`);
    return 0;
  }
  if (values.name === undefined) return fail('--name is required');
  if (values.backend === undefined || !(BACKEND_KINDS as readonly string[]).includes(values.backend)) {
    return fail(`--backend must be one of ${BACKEND_KINDS.join('|')}, got ${JSON.stringify(values.backend ?? '')}`);
  }
  if (values.habits !== undefined && !(PLUGIN_HABITS as readonly string[]).includes(values.habits)) {
    return fail(`--habits must be one of ${PLUGIN_HABITS.join('|')}, got ${JSON.stringify(values.habits)}`);
  }
  const level = values['log-level'] ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) return fail(`--log-level must be one of ${LOG_LEVELS.join('|')}, got ${JSON.stringify(level)}`);
  const logger = createLogger(level as LogLevel, { component: 'plugin' });

  let plugin;
  try {
    plugin = await startPlugin({
      name: values.name,
      backend: values.backend as BackendKind,
      clock: systemClock,
      logger,
      ...(values.root === undefined ? {} : { root: values.root }),
      ...(values.socket === undefined ? {} : { socket: values.socket }),
      ...(values['socket-group'] === undefined ? {} : { socketGroup: values['socket-group'] }),
      ...(values.journal === undefined ? {} : { journal: values.journal }),
      ...(values.node === undefined ? {} : { node: values.node }),
      ...(values.pool === undefined ? {} : { pool: values.pool }),
      ...(values.faults === undefined ? {} : { faults: values.faults }),
      ...(values.habits === undefined ? {} : { habits: values.habits as PluginHabits }),
    });
  } catch (error) {
    if (error instanceof DvdiError && error.code === ErrorCode.PluginUsage) return fail(error.message);
    throw error;
  }

  const signal = await new Promise<NodeJS.Signals>((resolvePromise) => {
    process.once('SIGTERM', resolvePromise);
    process.once('SIGINT', resolvePromise);
  });
  logger.info({ signal }, 'stopping');
  await plugin.close();
  return 0;
}
