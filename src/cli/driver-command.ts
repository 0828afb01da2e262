// `dvdi driver check --driver NAME`: probe a volume plugin end to end the way the sidecar will
// use it — discovery, Plugin.Activate, Capabilities, then Create, Get, Mount, Path, Unmount and
// Remove on a scratch volume — and print a pass/fail table, plus INFO rows for the habits the
// protocol leaves open (Get's Status while mounted, Path once unmounted, Unmount of an unknown
// ID), so an operator learns them before production. Exit 0 when every step passed, 3 when any
// failed, 2 on usage errors. The scratch volume is unmounted and removed even after a failure
// (but, as the protocol requires, no Unmount follows a refused Mount, and no Remove a refused
// Create).
import { randomBytes, randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { systemClock } from '../common/clock.js';
import { ExitCode, describeError } from '../common/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../common/logger.js';
import { readMountInfo } from '../common/mountinfo.js';
import { DriverError, DriverRefusedError, mountMayHaveHappened } from '../driver/driver-errors.js';
import { DEFAULT_PLUGIN_DIRS } from '../driver/plugin-discovery.js';
import { processContext } from '../main.js';
import { readSetting } from './command-settings.js';
import { endpointUrl } from '../driver/plugin-endpoint.js';
import { VolumeDriverClient } from '../driver/volume-driver-client.js';

export const DRIVER_USAGE = `Usage: dvdi driver check --driver NAME [options]

Probes a Docker volume plugin: discovery, Plugin.Activate, Capabilities, then Create, Get,
Mount, Path, Unmount and Remove on a scratch volume named dvdi-check-<random>. Prints one
line per step (step, result, ms, detail). INFO rows report habits the protocol leaves open
and dvdi tolerates: whether Mount's path is a mount point or a plain directory, whether Get
reports Status.Mounts, whether Path answers once unmounted, whether Unmount of an unknown ID
is refused. Exit 0 when all pass, 3 when any fails, 2 on usage errors. The scratch volume is
cleaned up even after a failure (no Remove after a refused Create).

Options:
  --driver NAME            plugin name (as in DVDI_VOLUME_DRIVER)
  --plugin-dirs A:B:…      discovery path (default: DVDI_PLUGIN_DIRS, else
                           ${DEFAULT_PLUGIN_DIRS.join(':')})
  --timeout-ms N           time limit of each plugin call (default: 120000 for Create and
                           Mount, 60000 for the others)
  --retry-budget-ms N      how long to wait for a plugin that is not there yet or refuses
                           connections (default 30000)
  --opt KEY=VALUE          option passed to Create; repeatable (values are never printed)
  --log-level LEVEL        stderr log level (default warn)
  -h, --help               this text`;

/** INFO: a habit of the plugin, reported but never a failure. */
type StepOutcome = 'PASS' | 'FAIL' | 'SKIP' | 'INFO';
interface StepRow {
  step: string;
  result: StepOutcome;
  ms: number | undefined;
  detail: string;
}

/** A check that failed on our side (the plugin answered, but not what a working plugin would). */
class CheckFailed extends Error {}

function usageError(message: string): number {
  process.stderr.write(`dvdi driver: ${message}\n\n${DRIVER_USAGE}\n`);
  return ExitCode.Config;
}

function positiveInt(name: string, value: string | undefined): number | undefined | Error {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) return new Error(`--${name} must be a positive integer (ms), got "${value}"`);
  return n;
}

function parseOpts(values: readonly string[]): Record<string, string> | Error {
  const opts: Record<string, string> = {};
  for (const item of values) {
    const at = item.indexOf('=');
    if (at <= 0) return new Error(`--opt takes KEY=VALUE (the value may contain '='), got an item without a key`);
    opts[item.slice(0, at)] = item.slice(at + 1);
  }
  return opts;
}

export function formatTable(rows: readonly StepRow[]): string {
  const header = { step: 'STEP', result: 'RESULT', ms: 'MS', detail: 'DETAIL' };
  const cells = rows.map((row) => ({ step: row.step, result: row.result, ms: row.ms === undefined ? '-' : String(row.ms), detail: row.detail }));
  const width = (key: 'step' | 'result' | 'ms'): number => Math.max(header[key].length, ...cells.map((c) => c[key].length));
  const [ws, wr, wm] = [width('step'), width('result'), width('ms')];
  const line = (c: typeof header): string => `${c.step.padEnd(ws)}  ${c.result.padEnd(wr)}  ${c.ms.padStart(wm)}  ${c.detail}`.trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}

function describeFailure(error: unknown): string {
  if (error instanceof DriverError) return `${error.code}: ${error.message}`;
  if (error instanceof CheckFailed) return error.message;
  return describeError(error);
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        driver: { type: 'string' },
        'plugin-dirs': { type: 'string' },
        'timeout-ms': { type: 'string' },
        'retry-budget-ms': { type: 'string' },
        opt: { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(`${DRIVER_USAGE}\n`);
    return ExitCode.Ok;
  }
  if (positionals.length !== 1 || positionals[0] !== 'check') return usageError(positionals.length === 0 ? 'missing subcommand (check)' : `unknown subcommand '${positionals.join(' ')}'`);
  if (values.driver === undefined || values.driver === '') return usageError('--driver NAME is required');
  const timeoutMs = positiveInt('timeout-ms', values['timeout-ms']);
  if (timeoutMs instanceof Error) return usageError(timeoutMs.message);
  const budgetMs = positiveInt('retry-budget-ms', values['retry-budget-ms']);
  if (budgetMs instanceof Error) return usageError(budgetMs.message);
  const opts = parseOpts(values.opt ?? []);
  if (opts instanceof Error) return usageError(opts.message);
  const logLevel = values['log-level'] ?? 'warn';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) return usageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  // The sidecar's DVDI_PLUGIN_DIRS unless --plugin-dirs overrides it (run in the sidecar's container, it looks where the sidecar does).
  let pluginDirs: readonly string[];
  try {
    pluginDirs = readSetting(processContext().env, 'DVDI_PLUGIN_DIRS', { name: 'plugin-dirs', value: values['plugin-dirs'] }) ?? DEFAULT_PLUGIN_DIRS;
  } catch (error) {
    return usageError(describeError(error));
  }
  if (pluginDirs.length === 0) return usageError('--plugin-dirs names no directory');

  const rows = await check({ driver: values.driver, pluginDirs, timeoutMs, budgetMs: budgetMs ?? 30_000, opts, logLevel: logLevel as LogLevel });
  process.stdout.write(`${formatTable(rows)}\n`);
  const failed = rows.filter((row) => row.result === 'FAIL').length;
  const passed = rows.filter((row) => row.result === 'PASS').length;
  process.stdout.write(`driver check of "${values.driver}": ${failed === 0 ? 'PASS' : 'FAIL'} (${passed} passed, ${failed} failed)\n`);
  return failed === 0 ? ExitCode.Ok : ExitCode.MountFailed;
}

interface CheckSettings {
  driver: string;
  pluginDirs: readonly string[];
  timeoutMs: number | undefined;
  budgetMs: number;
  opts: Record<string, string>;
  logLevel: LogLevel;
}

/** The rows of a check: each step runs unless an earlier one failed (or `always`). */
class StepTable {
  readonly rows: StepRow[] = [];
  failedAlready = false;

  constructor(private readonly clock: typeof systemClock) {}

  /** Run a step unless an earlier one failed; returns the error it threw, if any. */
  async step(name: string, work: () => Promise<string>, always = false): Promise<{ ok: boolean; error?: unknown }> {
    if (this.failedAlready && !always) {
      this.skip(name, 'an earlier step failed');
      return { ok: false };
    }
    const started = this.clock.monotonic();
    try {
      const detail = await work();
      this.rows.push({ step: name, result: 'PASS', ms: Math.round(this.clock.monotonic() - started), detail });
      return { ok: true };
    } catch (error) {
      this.rows.push({ step: name, result: 'FAIL', ms: Math.round(this.clock.monotonic() - started), detail: describeFailure(error) });
      this.failedAlready = true;
      return { ok: false, error };
    }
  }

  /** An INFO row: what the plugin does; an unreachable plugin or a timeout is still a failure. */
  async probe(name: string, work: () => Promise<string>): Promise<void> {
    if (this.failedAlready) return;
    const started = this.clock.monotonic();
    try {
      const detail = await work();
      this.rows.push({ step: name, result: 'INFO', ms: Math.round(this.clock.monotonic() - started), detail });
    } catch (error) {
      this.rows.push({ step: name, result: 'FAIL', ms: Math.round(this.clock.monotonic() - started), detail: describeFailure(error) });
      this.failedAlready = true;
    }
  }

  skip(name: string, detail: string): void {
    this.rows.push({ step: name, result: 'SKIP', ms: undefined, detail });
  }
}

async function check(settings: CheckSettings): Promise<StepRow[]> {
  const clock = systemClock;
  const client = new VolumeDriverClient({
    driver: settings.driver,
    pluginDirs: settings.pluginDirs,
    clock,
    logger: createLogger(settings.logLevel, { command: 'driver check' }),
    backoff: { initialMs: Math.min(1000, Math.max(50, Math.floor(settings.budgetMs / 8))), maxDelayMs: 16_000, budgetMs: settings.budgetMs },
    ...(settings.timeoutMs === undefined ? {} : { mountTimeoutMs: settings.timeoutMs, unmountTimeoutMs: settings.timeoutMs, callTimeoutMs: settings.timeoutMs }),
  });
  const table = new StepTable(clock);
  await checkPlugin(client, table);
  const volume = `dvdi-check-${randomBytes(4).toString('hex')}`;
  const mountId = `dvdi-check-${randomUUID()}`;
  const createAttempted = !table.failedAlready;
  const volumeMayExist = await checkVolume(client, table, volume, settings.opts);
  const mountAttempted = !table.failedAlready;
  const mountMayExist = await checkMount(client, table, volume, mountId);
  await table.probe('Get Status (mounted)', () => describeGetStatus(client, volume, mountId));
  if (!table.failedAlready) {
    await table.step('Unmount', async () => {
      await client.unmount(volume, mountId);
      return `${volume} (ID ${mountId})`;
    });
    await probeUnmountedHabits(client, table, volume);
    await table.step('Remove', async () => {
      await client.remove(volume);
      return volume;
    });
    return table.rows;
  }
  await cleanUp(client, table, { volume, mountId, mountMayExist, mountAttempted, createAttempted, volumeMayExist });
  return table.rows;
}

/** INFO rows once unmounted: Path's answer and the answer to Unmount of an ID never mounted. */
async function probeUnmountedHabits(client: VolumeDriverClient, table: StepTable, volume: string): Promise<void> {
  await table.probe('Path (unmounted)', async () => {
    const path = await client.path(volume);
    return path === undefined ? 'answers no mount point' : `still answers ${path} (tolerated: dvdi never reads "mounted" from Path)`;
  });
  await table.probe('Unmount (unknown ID)', async () => {
    try {
      await client.unmount(volume, `dvdi-check-unknown-${randomUUID()}`);
      return 'succeeds';
    } catch (error) {
      if (!(error instanceof DriverRefusedError)) throw error;
      return `refused: ${error.pluginMessage} (tolerated: dvdi then checks the mount table and Get's Status.Mounts)`;
    }
  });
}

/** Whether Get reports the mount IDs it holds (Status.Mounts, as rclone does) while mounted. */
async function describeGetStatus(client: VolumeDriverClient, volume: string, mountId: string): Promise<string> {
  const info = await client.get(volume);
  if (info === undefined) throw new CheckFailed(`Get reports no volume ${volume} while it is mounted`);
  const mounts = info.Status?.Mounts;
  if (Array.isArray(mounts)) {
    return mounts.includes(mountId)
      ? 'Status.Mounts lists the mount ID (dvdi reads it to tell whether an ID is still mounted)'
      : `Status.Mounts is reported but does not list the mount ID (${mounts.length} entries)`;
  }
  // Keys are the plugin's text: only plain ones are shown.
  const keys = Object.keys(info.Status ?? {}).filter((key) => /^[\w.-]{1,64}$/.test(key));
  return `no Status.Mounts${keys.length > 0 ? ` (Status keys: ${keys.slice(0, 8).join(', ')})` : ''}; dvdi falls back to the mount table`;
}

async function checkPlugin(client: VolumeDriverClient, table: StepTable): Promise<void> {
  await table.step('Discovery', async () => {
    const endpoint = await client.discover();
    return `${endpointUrl(endpoint)} (from ${endpoint.source})`;
  });
  await table.step('Plugin.Activate', async () => {
    await client.activate();
    return 'implements VolumeDriver';
  });
  await table.step('Capabilities', async () => {
    const caps = await client.capabilities();
    return caps.fallback === undefined ? `scope ${caps.scope}` : `scope ${caps.scope} (fallback: ${caps.fallback})`;
  });
}

/** Create and Get; true when the volume may exist afterwards (a refused Create made nothing). */
async function checkVolume(client: VolumeDriverClient, table: StepTable, volume: string, opts: Record<string, string>): Promise<boolean> {
  const keys = Object.keys(opts);
  const attempted = !table.failedAlready;
  const created = await table.step('Create', async () => {
    await client.create(volume, keys.length === 0 ? undefined : opts);
    return `${volume}${keys.length === 0 ? '' : ` with options ${keys.join(', ')}`}`;
  });
  await table.step('Get', async () => {
    const info = await client.get(volume);
    if (info === undefined) throw new CheckFailed(`the plugin reports no volume ${volume} right after creating it`);
    if (info.Name !== volume) throw new CheckFailed(`Get returned a volume named "${info.Name}"`);
    return `found ${info.Name}${info.CreatedAt ? `, created ${info.CreatedAt}` : ''}`;
  });
  // A refused Create made nothing to remove; one that timed out or answered garbage may have.
  return attempted && !(created.error instanceof DriverRefusedError);
}

/** Mount and Path; true when a mount may exist afterwards (it must then be undone). */
async function checkMount(client: VolumeDriverClient, table: StepTable, volume: string, mountId: string): Promise<boolean> {
  let mountpoint: string | undefined;
  let mountMayExist = false;
  const mounted = await table.step('Mount', async () => {
    mountpoint = await client.mount(volume, mountId);
    mountMayExist = true;
    const info = await stat(mountpoint).catch(() => undefined);
    if (!info?.isDirectory()) throw new CheckFailed(`mount point ${mountpoint} is not a directory on this host (the sidecar could not bind it)`);
    // Both occur in real plugins (rclone mounts FUSE there; a plugin may hand out a directory).
    const isMountPoint = (await readMountInfo()).some((m) => m.mountPoint === mountpoint);
    return `${mountpoint} (${isMountPoint ? 'a mount point' : 'a plain directory, not a mount point'})`;
  });
  // A refused Mount gets no Unmount (moby PR #27116); one that timed out or answered garbage may
  // have mounted, so it is undone.
  if (mountMayHaveHappened(mounted.error)) mountMayExist = true;
  await table.step('Path', async () => {
    const path = await client.path(volume);
    if (path !== mountpoint) throw new CheckFailed(`Path returned ${path ?? 'no mount point'}, Mount returned ${mountpoint ?? 'none'}`);
    return path ?? '';
  });
  return mountMayExist;
}

/** Something failed: skip the rest of the sequence, but leave nothing behind. */
async function cleanUp(
  client: VolumeDriverClient,
  table: StepTable,
  state: { volume: string; mountId: string; mountMayExist: boolean; mountAttempted: boolean; createAttempted: boolean; volumeMayExist: boolean },
): Promise<void> {
  const { volume, mountId } = state;
  for (const name of ['Unmount', 'Remove']) {
    if (!table.rows.some((row) => row.step === name)) table.skip(name, 'an earlier step failed');
  }
  if (state.mountMayExist) {
    await table.step('Unmount (cleanup)', async () => {
      await client.unmount(volume, mountId);
      return `${volume} (ID ${mountId})`;
    }, true);
  } else if (state.mountAttempted) {
    table.skip('Unmount (cleanup)', 'Mount did not succeed; no Unmount follows a failed Mount');
  }
  if (state.volumeMayExist) {
    await table.step('Remove (cleanup)', async () => {
      await client.remove(volume);
      return volume;
    }, true);
  } else if (state.createAttempted) {
    table.skip('Remove (cleanup)', 'Create was refused; nothing to remove');
  }
}
