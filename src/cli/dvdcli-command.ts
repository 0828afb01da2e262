// `dvdcli`: the drop-in for rexray/dvdcli that Mesos agents execute (mesos-module-dvdi and Mesos'
// docker/volume isolator). Owns the command flow of each subcommand: argv (dvdcli-args.ts) →
// settings → mount root → store → driver calls, and what goes where: the result alone on stdout
// (a mount point, or JSON), pino JSON logs plus one plain `dvdcli: error: …` line on stderr, exit
// 0 success, 1 failure, 2 usage error. `mount`/`unmount` go through the node-level claim
// (lifecycle/node-claim.ts), so they share the node's mount state with the sidecars. The clients
// come from the one wiring of node services (wiring/node-services.ts); the environment is the
// process context's (main.ts), read through config/ like every command's.
import type { Clock } from '../common/clock.js';
import { ErrorCode } from '../common/error-codes.js';
import { DvdiError, describeError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { VERSION } from '../common/version.js';
import { ConfigError, loadSidecarConfig, type Config, type Env } from '../config/index.js';
import { InvalidValue, OPTION_KEY_PATTERN, driverNameRule, volumeNameRule } from '../config/value-rules.js';
import type { VolumeDriverClient } from '../driver/volume-driver-client.js';
import { NodeClaims } from '../lifecycle/node-claim.js';
import type { MounterPort } from '../lifecycle/ports.js';
import type { RefcountStore } from '../refcount/refcount-store.js';
import { driverRegistry, openNodeServices, type NodeServices, type WiringOptions } from '../wiring/node-services.js';
import { parseDvdcliArgs, type DvdcliArgs } from './dvdcli-args.js';

/** Mesos kills `dvdcli mount` after 120 s: the whole mount, waits and undo included, stays below. */
export const MOUNT_BUDGET_MS = 110_000;
/** Mesos allows `unmount` 10 minutes; ours ends well before. */
export const UNMOUNT_BUDGET_MS = 300_000;
/** Budget of the plain driver calls (get, list, path, create, remove). */
export const CALL_BUDGET_MS = 110_000;
/**
 * Lease of a node's dvdcli claim. Nothing renews it between calls, so it is long; it is also the
 * longest the store accepts (refcount-model MAX_TTL_MS). Every `mount` renews it, and so does
 * `dvdcli renew` (run it from a timer on the agent): see docs/mesos.md.
 */
export const CLAIM_TTL_MS = 24 * 60 * 60 * 1000;

/** What the composition root supplies: the process context and, in tests, the wiring's seams. */
export interface DvdcliDeps {
  env: Env;
  hostname: string;
  clock: Clock;
  /** DVDI_MOUNT_ROOT was set: `mount` binds at ROOT/<name> and prints that path. */
  mountRootConfigured: boolean;
  stdout(text: string): Promise<void>;
  stderr(text: string): void;
  wiring?: Pick<WiringOptions, 'hostMounter' | 'runtime' | 'managedSocketDir'>;
}

class UsageError extends DvdiError {
  constructor(message: string) {
    super(ErrorCode.DvdcliUsage, message, { exitCode: 2 });
  }
}

/** A refused argument value (hostile name, bad driver, bad option key): exit 1, nothing attempted. */
class InvalidArgumentError extends DvdiError {
  constructor(flag: string, message: string) {
    super(ErrorCode.DvdcliInvalidArgument, message, { context: { flag } });
  }
}

const NEEDS_NAME = new Set(['mount', 'unmount', 'path', 'create', 'remove', 'get']);

function shown(value: string): string {
  const json = JSON.stringify(value);
  return json.length > 80 ? `${json.slice(0, 77)}..."` : json;
}

/** Values the callers hand us are checked before anything touches a socket path or the mount root. */
export function checkArgumentValues(args: DvdcliArgs): void {
  if (NEEDS_NAME.has(args.command) && args.name === '') throw new UsageError(`"${args.command}" needs --volumename=NAME`);
  if (args.command === 'version' || args.command === 'renew') return;
  try {
    driverNameRule.parse(args.driver);
  } catch (error) {
    if (!(error instanceof InvalidValue)) throw error;
    throw new InvalidArgumentError('volumedriver', `--volumedriver=${shown(args.driver)} is not allowed${error.detail ? ` (${error.detail})` : ''}: expected ${driverNameRule.accepted}`);
  }
  if (NEEDS_NAME.has(args.command)) {
    try {
      volumeNameRule.parse(args.name);
    } catch (error) {
      if (!(error instanceof InvalidValue)) throw error;
      throw new InvalidArgumentError('volumename', `--volumename=${shown(args.name)} is not allowed: expected ${volumeNameRule.accepted}`);
    }
  }
  for (const key of Object.keys(args.opts)) {
    if (!OPTION_KEY_PATTERN.test(key)) {
      throw new InvalidArgumentError('volumeopts', `--volumeopts key ${shown(key)} is not allowed: keys match ${String(OPTION_KEY_PATTERN)}`);
    }
  }
}

/** Runs one dvdcli invocation; resolves with the exit code (never throws). */
export async function runDvdcli(argv: readonly string[], deps: DvdcliDeps): Promise<number> {
  const parsed = parseDvdcliArgs(argv);
  if (parsed.kind === 'help') {
    await deps.stdout(`${parsed.text}\n`);
    return 0;
  }
  if (parsed.kind === 'usage-error') {
    deps.stderr(`dvdcli: usage error: ${parsed.message}\nRun 'dvdcli --help' for usage.\n`);
    return 2;
  }
  const args = parsed.args;
  if (args.command === 'version') {
    await deps.stdout(`${VERSION}\n`);
    return 0;
  }
  let config: Config;
  try {
    checkArgumentValues(args);
    config = loadSidecarConfig(deps.env, deps.hostname);
  } catch (error) {
    return fail(deps, error);
  }
  const logger = createLogger(config.logLevel, { node: config.nodeId, command: `dvdcli ${args.command}` });
  for (const warning of config.warnings) logger.warn(warning);
  try {
    const output = await execute(args, config, deps, logger);
    if (output !== undefined) await deps.stdout(output);
    return 0;
  } catch (error) {
    logger.error({ code: error instanceof DvdiError ? error.code : undefined, err: describeError(error) }, `dvdcli ${args.command} failed`);
    return fail(deps, error);
  }
}

function fail(deps: DvdcliDeps, error: unknown): number {
  const usage = error instanceof UsageError || error instanceof ConfigError;
  deps.stderr(`dvdcli: ${usage ? 'usage error' : 'error'}: ${describeError(error)}\n`);
  return usage ? 2 : 1;
}

/** The command's stdout text (with its newline), or undefined for none. */
async function execute(args: DvdcliArgs, config: Config, deps: DvdcliDeps, logger: Logger): Promise<string | undefined> {
  const drivers = driverRegistry(config, logger.child({ module: 'driver' }), deps.clock, deps.wiring);
  switch (args.command) {
    case 'get': {
      const volume = await drivers.driver(args.driver).get(args.name, { signal: AbortSignal.timeout(CALL_BUDGET_MS) });
      if (volume === undefined) throw new DvdiError(ErrorCode.VolumeMissing, `volume ${args.name} does not exist in driver ${args.driver}`, { context: { volume: args.name } });
      return `${JSON.stringify(volume)}\n`;
    }
    case 'list':
      return `${JSON.stringify(await drivers.driver(args.driver).list({ signal: AbortSignal.timeout(CALL_BUDGET_MS) }))}\n`;
    case 'create':
      await drivers.driver(args.driver).create(args.name, args.opts, { signal: AbortSignal.timeout(CALL_BUDGET_MS) });
      logger.info({ volume: args.name, optionKeys: Object.keys(args.opts) }, 'volume created');
      return undefined;
    default:
      break;
  }
  // renew touches only the store: no mount root preflight (a timer runs it, not Mesos). With
  // DVDI_MOUNT_ROOT set the root must pass preflight; unset, the default root is used when it
  // does (binds a sidecar made there are still cleaned up by the last unmount).
  const root = args.command === 'renew' ? 'state-only' : deps.mountRootConfigured ? 'required' : 'optional';
  const services = await openNodeServices(config, { logger, clock: deps.clock, root, ...deps.wiring });
  try {
    return await executeOnNode(args, services, deps.mountRootConfigured, logger);
  } finally {
    await services.close();
  }
}

async function executeOnNode(args: DvdcliArgs, services: NodeServices, bindMode: boolean, logger: Logger): Promise<string | undefined> {
  const { config, store, drivers } = services;
  const claims = new NodeClaims({
    node: config.nodeId,
    store,
    drivers,
    mounter: services.mounter,
    bindMode,
    acquireTtlMs: config.leaseTtlMs,
    claimTtlMs: CLAIM_TTL_MS,
    // Waiting for another node must leave room for the mount itself within Mesos' 120 s.
    acquireTimeoutMs: Math.min(config.acquireTimeoutMs, MOUNT_BUDGET_MS / 2),
    clock: services.clock,
    logger: logger.child({ module: 'node-claim' }),
    ledger: services.ledger,
  });
  switch (args.command) {
    case 'mount': {
      const result = await claims.mount({ driver: args.driver, name: args.name, opts: args.opts, explicitCreate: args.explicitCreate }, AbortSignal.timeout(MOUNT_BUDGET_MS));
      return `${result.path}\n`;
    }
    case 'unmount':
      await claims.unmount({ driver: args.driver, name: args.name }, AbortSignal.timeout(UNMOUNT_BUDGET_MS));
      return undefined;
    case 'renew': {
      const result = await claims.renewAll();
      if (result.lost.length > 0) logger.warn({ lost: result.lost }, 'some dvdcli claims were lost (expired or revoked); the next mount claims them again');
      return `${JSON.stringify(result)}\n`;
    }
    case 'path':
      return `${await mountPath(args, drivers, services.mounter, bindMode)}\n`;
    case 'remove':
      await removeVolume(args, drivers, store, logger);
      return undefined;
    default:
      throw new DvdiError(ErrorCode.Internal, `unhandled command ${args.command}`);
  }
}

async function mountPath(args: DvdcliArgs, drivers: { driver(name: string): VolumeDriverClient }, mounter: MounterPort | undefined, bindMode: boolean): Promise<string> {
  if (bindMode && mounter !== undefined) {
    const path = await mounter.volumePath(args.name);
    if (await mounter.isMounted(path)) return path;
  }
  const path = await drivers.driver(args.driver).path(args.name, { signal: AbortSignal.timeout(CALL_BUDGET_MS) });
  if (path === undefined || path === '') {
    throw new DvdiError(ErrorCode.NotMounted, `volume ${args.name} is not mounted on this node (driver ${args.driver} reports no mount point)`, { context: { volume: args.name } });
  }
  return path;
}

async function removeVolume(args: DvdcliArgs, drivers: { driver(name: string): VolumeDriverClient }, store: RefcountStore, logger: Logger): Promise<void> {
  const view = await store.inspect({ driver: args.driver, name: args.name });
  const live = view?.holders.filter((h) => h.expiresInMs > 0) ?? [];
  if (live.length > 0) {
    const nodes = [...new Set(live.map((h) => h.node))].sort();
    throw new DvdiError(ErrorCode.VolumeInUse, `volume ${args.name} (driver ${args.driver}) is in use on node ${nodes.join(', ')}: not removed`, {
      context: { volume: args.name, nodes: nodes.join(',') },
    });
  }
  const driver = drivers.driver(args.driver);
  const signal = AbortSignal.timeout(CALL_BUDGET_MS);
  if ((await driver.get(args.name, { signal })) === undefined) {
    throw new DvdiError(ErrorCode.VolumeMissing, `volume ${args.name} does not exist in driver ${args.driver}`, { context: { volume: args.name } });
  }
  await driver.remove(args.name, { signal });
  logger.info({ volume: args.name }, 'volume removed');
}
