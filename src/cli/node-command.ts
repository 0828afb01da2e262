// What `dvdi reconcile` and `dvdi status` share: argv with the setting flags (each overrides its
// DVDI_* variable), the sidecar's settings, a logger, and the node's services opened and closed
// around the command's own work. Exit 2 on usage or settings, else the work's code, or the
// code of the error it ended with.
import { parseArgs } from 'node:util';
import { describeError, exitCodeOf, ExitCode, type ExitCode as ExitCodeT } from '../common/errors.js';
import { createLogger, type LogLevel } from '../common/logger.js';
import { loadSidecarConfig, type Config } from '../config/index.js';
import type { ProcessContext } from '../main.js';
import { openNodeServices, type NodeServices, type RootNeed, type WiringOptions } from '../wiring/node-services.js';
import { envWithFlags, settingHelp, settingOptions, type SettingFlag } from './command-settings.js';

export interface NodeCommand {
  name: string;
  help: string;
  flags: readonly SettingFlag[];
  /** Boolean flags of the command itself. */
  switches?: readonly string[];
  root: RootNeed;
  /** The log level given the configured one (status is quieter). */
  logLevel?(configured: LogLevel): LogLevel;
  work(services: NodeServices, switches: ReadonlySet<string>, ctx: ProcessContext): Promise<ExitCodeT>;
  /** The exit code of an error that reached the top (default: its own). */
  failureCode?(error: unknown): ExitCodeT;
}

/** Parse argv; the settings and the switches, or the exit code of a usage error / help. */
function parse(command: NodeCommand, argv: readonly string[], ctx: ProcessContext): { config: Config; switches: Set<string> } | ExitCodeT {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: { ...settingOptions(command.flags), help: { type: 'boolean', short: 'h' }, ...Object.fromEntries((command.switches ?? []).map((s) => [s, { type: 'boolean' as const }])) },
    }));
  } catch (error) {
    ctx.stderr(`dvdi ${command.name}: ${(error as Error).message} (see --help)\n`);
    return ExitCode.Config;
  }
  if (values.help === true) {
    void ctx.stdout(`${command.help}\nSettings (flags override the environment):\n${settingHelp(command.flags)}\n`);
    return ExitCode.Ok;
  }
  const flagValues = Object.fromEntries(command.flags.map((flag) => [flag, typeof values[flag] === 'string' ? values[flag] : undefined]));
  try {
    const config = loadSidecarConfig(envWithFlags(ctx.env, flagValues), ctx.hostname);
    return { config, switches: new Set((command.switches ?? []).filter((s) => values[s] === true)) };
  } catch (error) {
    ctx.stderr(`dvdi ${command.name}: ${describeError(error)}\n`);
    return ExitCode.Config;
  }
}

export async function runNodeCommand(command: NodeCommand, argv: readonly string[], ctx: ProcessContext, wiring: Pick<WiringOptions, 'hostMounter' | 'runtime' | 'managedSocketDir'> = {}): Promise<ExitCodeT> {
  const parsed = parse(command, argv, ctx);
  if (typeof parsed === 'number') return parsed;
  const { config, switches } = parsed;
  const logger = createLogger(command.logLevel?.(config.logLevel) ?? config.logLevel, { node: config.nodeId, command: command.name });
  let services: NodeServices | undefined;
  try {
    services = await openNodeServices(config, { logger, clock: ctx.clock, root: command.root, ...wiring });
    return await command.work(services, switches, ctx);
  } catch (error) {
    ctx.stderr(`dvdi ${command.name}: ${describeError(error)}\n`);
    return command.failureCode?.(error) ?? exitCodeOf(error);
  } finally {
    await services?.close();
  }
}
