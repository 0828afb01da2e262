// The one rule for a driver Unmount that the plugin refuses. Docker's protocol does not say
// what Unmount of an ID the plugin does not hold answers: the reference plugin succeeds, rclone
// answers 500 `volume is not mounted` / `volume is not mounted by this id` / `volume not found`
// (and Docker itself only logs that and goes on). A refusal is therefore not a failure when the
// facts show the volume is not mounted with that ID:
//   1. Get's `Status.Mounts`, where the plugin reports it (a list of mount IDs, as rclone does):
//      the ID is not in it;
//   2. otherwise the node's mount table: neither the bind under the mount root nor any
//      mountpoint the plugin names (Get's Mountpoint, Path's answer, the one recorded at Mount)
//      is mounted.
// Path is only ever a place to look in the mount table, never evidence of "mounted" (rclone
// answers it whether mounted or not). Any other failure (timeout, unreachable, garbage) says
// nothing about the volume and is still thrown. The same facts answer the reconciler's "is that
// ID still mounted?" after an Unmount, so a ledger entry goes once nothing is left.
// The mount ID and the recorded mountpoint (and, for the reconciler, the volume name) come from
// store records: the evidence and the log fields show them cleaned (common/external-text.ts).
import { describeError, DvdiError } from '../common/errors.js';
import { cleanExternalText as clean, showExternal as x } from '../common/external-text.js';
import type { Logger } from '../common/logger.js';
import { readMountInfo, type MountInfoEntry } from '../common/mountinfo.js';

/** What the rule needs of a volume plugin (VolumeDriverClient and the lifecycle ports fit). */
export interface UnmountOutcomeDriver {
  unmount(name: string, id: string, options?: { signal?: AbortSignal }): Promise<void>;
  get(name: string, options?: { signal?: AbortSignal }): Promise<unknown>;
  path?(name: string, options?: { signal?: AbortSignal }): Promise<string | undefined>;
}

export interface UnmountFactsInput {
  driver: UnmountOutcomeDriver;
  name: string;
  mountId: string;
  /** ROOT/<name> on this node, when the caller has one. */
  bindPath?: string | undefined;
  /** The mountpoint the plugin answered at Mount (the store records it), when known. */
  mountpoint?: string | undefined;
  /** The node's mount table; /proc/self/mountinfo by default (tests inject one). */
  mountTable?: () => Promise<readonly MountInfoEntry[]>;
  signal?: AbortSignal;
}

export interface MountFacts {
  /** True when the facts show the volume is not mounted with this ID on this node. */
  notMounted: boolean;
  /** What the decision rests on, for logs and reports. */
  evidence: string;
}

export type UnmountOutcome =
  /** The plugin accepted the Unmount. */
  | { kind: 'unmounted' }
  /** The plugin refused, and the facts show nothing is mounted with that ID: done all the same. */
  | { kind: 'not-mounted'; refusal: string; evidence: string };

const MAX_IDS = 10_000;

/** Get's Status.Mounts as a list of IDs, or undefined when the plugin does not report one. */
function reportedMountIds(info: unknown): string[] | undefined {
  if (typeof info !== 'object' || info === null) return undefined;
  const status = (info as { Status?: unknown }).Status;
  if (typeof status !== 'object' || status === null) return undefined;
  const mounts = (status as { Mounts?: unknown }).Mounts;
  // Input from the plugin: only a bounded list of strings counts as a report.
  if (!Array.isArray(mounts) || mounts.length > MAX_IDS || !mounts.every((m) => typeof m === 'string')) return undefined;
  return mounts;
}

function reportedMountpoint(info: unknown): string | undefined {
  if (typeof info !== 'object' || info === null) return undefined;
  const mountpoint = (info as { Mountpoint?: unknown }).Mountpoint;
  return typeof mountpoint === 'string' && mountpoint.startsWith('/') ? mountpoint : undefined;
}

/** Decide from facts whether the volume is mounted with `mountId` on this node. Never throws for a plugin refusal. */
export async function mountFacts(input: UnmountFactsInput): Promise<MountFacts> {
  const options = input.signal === undefined ? {} : { signal: input.signal };
  let info: unknown;
  let getFailed: string | undefined;
  try {
    info = await input.driver.get(input.name, options);
  } catch (error) {
    getFailed = describeError(error);
  }
  const ids = reportedMountIds(info);
  if (ids !== undefined) {
    return ids.includes(input.mountId)
      ? { notMounted: false, evidence: `Get's Status.Mounts lists mount ID ${x(input.mountId)}` }
      : { notMounted: true, evidence: `Get's Status.Mounts does not list mount ID ${x(input.mountId)} (${ids.length} other ID(s))` };
  }
  if (getFailed !== undefined) return { notMounted: false, evidence: `Get failed (${getFailed}): nothing known` };
  let pathAnswer: string | undefined;
  if (input.driver.path !== undefined) {
    // A place to look, never evidence: a refusal here (no such volume) leaves nothing to look at.
    pathAnswer = await input.driver.path(input.name, options).catch(() => undefined);
  }
  const places = [...new Set([input.bindPath, input.mountpoint, reportedMountpoint(info), pathAnswer].filter((p): p is string => p !== undefined && p !== ''))];
  const table = await (input.mountTable ?? readMountInfo)();
  const mounted = places.filter((place) => table.some((entry) => entry.mountPoint === place));
  if (mounted.length > 0) return { notMounted: false, evidence: `still in the mount table: ${mounted.map((p) => x(p)).join(', ')}` };
  return {
    notMounted: true,
    evidence: `${info === undefined ? 'the plugin reports no such volume' : 'no Status.Mounts reported'}; none of ${places.length === 0 ? '(no known path)' : places.map((p) => x(p)).join(', ')} is in the mount table`,
  };
}

/**
 * Send Unmount; a refusal counts as done when `mountFacts` shows the volume is not mounted with
 * that ID (logged once, as a warning). Anything else is thrown as the driver threw it.
 */
export async function unmountTolerant(input: UnmountFactsInput & { logger: Logger; what: string }): Promise<UnmountOutcome> {
  try {
    await input.driver.unmount(input.name, input.mountId, input.signal === undefined ? {} : { signal: input.signal });
    return { kind: 'unmounted' };
  } catch (error) {
    if (!(error instanceof DvdiError) || error.code !== 'DVDI_DRIVER_REFUSED') throw error;
    const facts = await mountFacts(input).catch((factsError: unknown) => ({ notMounted: false, evidence: `facts unavailable: ${describeError(factsError)}` }));
    if (!facts.notMounted) {
      input.logger.warn({ volume: clean(input.name), mountId: clean(input.mountId), evidence: facts.evidence }, `${input.what}: Unmount refused and the volume may still be mounted with that ID`);
      throw error;
    }
    input.logger.warn(
      { volume: clean(input.name), mountId: clean(input.mountId), refusal: error.message, evidence: facts.evidence },
      `${input.what}: the plugin refused Unmount, but nothing is mounted with that ID; treated as done`,
    );
    return { kind: 'not-mounted', refusal: error.message, evidence: facts.evidence };
  }
}
