// The safety-critical sequences of a node's volume, written once and used by the sidecar's
// per-task policy (task-volumes.ts), the dvdcli node claim (node-claim.ts) and the reconciler
// (reconcile/reconcile-sweep.ts). Each caller keeps only its policy: which holder (token, TTL,
// mode), what it reports, when it gives up. The sequences:
//   acquire       poll the store until this claim may mount or join, or give up (timeouts)
//   performMount  stale ID Unmount → Get/Create? → ledger → Mount → bind → markMounted; every
//                 completed step has an undo, run newest first within a time budget, then abortMount
//   join          the node already has the volume: check (or make) the bind, no driver Mount
//   release       drop the claim; the node's last user unmounts (unmountNode)
//   takeOver      claim the unmount of a node state no live holder keeps, and perform it
//   unmountNode   lazy unmount of the bind → driver Unmount of the recorded ID → forget → markUnmounted
// The seams other rules plug into are single functions here: `joinSource` (where a join's bind
// source comes from) and `driverUnmount` (what a driver Unmount's outcome means: the
// refused-Unmount rule of unmount-outcome.ts, so undo, release, takeover, the sweep and dvdcli
// all judge a refusal by the same facts).
// Strings from store answers (other nodes' IDs, a performer's token, a stale or recorded mount
// ID and mountpoint; for the reconciler the volume's driver and name too, read from the node
// index) are written by whoever can write to the store: log fields and messages show them
// through common/external-text.ts, while calls and comparisons use them as they are.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../common/clock.js';
import { AbortedError, DvdiError, ExitCode, describeError } from '../common/errors.js';
import { ErrorCode } from '../common/error-codes.js';
import { cleanExternalList, cleanExternalText as clean, showExternal as x } from '../common/external-text.js';
import type { Logger } from '../common/logger.js';
import type { MountInfoEntry } from '../common/mountinfo.js';
import { mountMayHaveHappened } from '../driver/driver-errors.js';
import { StoreUnavailableError } from '../refcount/refcount-errors.js';
import type { AccessMode, AcquireResult, ClaimUnmountResult, HolderRef, RefcountStore, VolumeKey } from '../refcount/refcount-store.js';
import { AccessModeConflictError, LeaseLostError, VolumeHeldError, VolumeMissingError } from './lifecycle-errors.js';
import type { DriverRegistryPort, HolderBeatPort, MountLedgerPort, MounterPort } from './ports.js';
import { mountFacts, unmountTolerant, type UnmountFactsInput, type UnmountOutcome } from './unmount-outcome.js';

/** The store answers a claim may act on. */
export type Granted = Extract<AcquireResult, { kind: 'mount' }> | Extract<AcquireResult, { kind: 'join' }>;

/**
 * A holder's registration, shared between the core and its policy. `registered` is true while
 * the store has the token as holder or unmounter; the core clears it *before* it releases or
 * aborts, so a lease keeper running beside an attach never renews (and reports lost) a claim the
 * attach is undoing.
 */
export interface Claim {
  readonly ref: HolderRef;
  registered: boolean;
}

/** What the core needs; the policies' options extend it. */
export interface LifecycleDeps {
  store: RefcountStore;
  drivers: DriverRegistryPort;
  /** Absent when no mount root is usable (dvdcli without one): nothing is bound or unbound. */
  mounter?: MounterPort | undefined;
  ledger: MountLedgerPort;
  /** The node's holders' beats (ports.ts); absent where no sidecar holds anything (dvdcli). */
  holders?: HolderBeatPort | undefined;
  clock: Clock;
  logger: Logger;
  /** Budget of the whole undo of a failed mount (each step gets what is left of it). */
  undoTimeoutMs: number;
  /** The node's mount table for the refused-Unmount rule; /proc/self/mountinfo by default (unit tests inject one). */
  mountTable?: (() => Promise<readonly MountInfoEntry[]>) | undefined;
}

export interface AcquirePolicy {
  task: string;
  mode: AccessMode;
  preempt: boolean;
  ttlMs: number;
  /** Give up on a volume held elsewhere (or a store that does not answer) after this long. */
  timeoutMs: number;
  /** Extra patience for another holder of this node that is mounting or unmounting. */
  busyTimeoutMs: number;
  /** Poll interval: starts here and doubles up to pollMaxMs (defaults 100 and 250). */
  pollInitialMs?: number | undefined;
  pollMaxMs?: number | undefined;
  /** Each store answer, for the policy's own state (waiting, lease time, epoch). */
  onAnswer?: (result: AcquireResult) => void;
}

export interface MountSpec extends VolumeKey {
  opts: Readonly<Record<string, string>>;
  explicitCreate: boolean;
  /** What asked for explicit create, for the error message. */
  explicitCreateReason: string;
  preempt: boolean;
  readOnly: boolean;
}

/** How the poll interval grows: one store round trip, so short enough to pick up a release fast. */
const POLL_INITIAL_MS = 100;
/** Store errors an acquire gives up on at once: retrying cannot change their answer. */
const NOT_RETRIED: ReadonlySet<string> = new Set([ErrorCode.StoreMisuse, ErrorCode.StoreRecordInvalid, ErrorCode.StoreStateCorrupt]);
const POLL_MAX_MS = 250;
const PROGRESS_LOG_MS = 5000;

export class VolumeLifecycle {
  constructor(private readonly deps: LifecycleDeps) {}

  /** ROOT/<name> when a mount root is usable on this node, else undefined (nothing to bind). */
  async target(name: string): Promise<string | undefined> {
    return this.deps.mounter === undefined ? undefined : this.deps.mounter.volumePath(name);
  }

  /**
   * Acquire until this claim may mount or join. A store that does not answer gets the same
   * patience as a volume held elsewhere (it may be failing over); a claim that a `wait`
   * registered is released when this gives up, so it pins nothing.
   */
  async acquire(claim: Claim, policy: AcquirePolicy, signal: AbortSignal, log: Logger): Promise<Granted> {
    const { clock } = this.deps;
    const started = clock.monotonic();
    let delay = policy.pollInitialMs ?? POLL_INITIAL_MS;
    let lastProgressLog = started;
    try {
      for (;;) {
        if (signal.aborted) throw new AbortedError(`acquire of volume ${claim.ref.name}`);
        const result = await this.tryAcquire(claim, policy, started, log);
        const waited = clock.monotonic() - started;
        if (result !== undefined) {
          policy.onAnswer?.(result);
          if (result.kind === 'mount' || result.kind === 'join') {
            claim.registered = true;
            return result;
          }
          if (result.kind === 'wait') claim.registered = true;
          this.refuseOrKeepWaiting(claim.ref, policy, result, waited);
          if (clock.monotonic() - lastProgressLog >= PROGRESS_LOG_MS) {
            lastProgressLog = clock.monotonic();
            log.info({ waitedMs: Math.round(waited), reason: result.kind, ...(result.kind === 'held' ? { nodes: cleanExternalList(result.nodes) } : {}) }, 'still waiting for volume');
          }
        }
        const limit = (result?.kind === 'wait' ? policy.timeoutMs + policy.busyTimeoutMs : policy.timeoutMs) - waited;
        const pause = result?.kind === 'quarantine' ? result.retryInMs : delay;
        await clock.sleep(Math.max(10, Math.min(pause, limit)), signal);
        delay = Math.min(delay * 2, policy.pollMaxMs ?? POLL_MAX_MS);
      }
    } catch (error) {
      if (claim.registered) {
        claim.registered = false;
        await this.deps.store.release(claim.ref).catch((releaseError: unknown) => log.error({ err: describeError(releaseError) }, 'could not drop the claim after giving up'));
      }
      throw error;
    }
  }

  /**
   * This claim is the node's performer: Unmount a dead performer's ID, Create if needed, record
   * in the ledger, Mount (ID = our token), bind at `target`, markMounted. On any failure every
   * completed step is undone, newest first, and the store's mount state is reset.
   */
  async performMount(claim: Claim, spec: MountSpec, staleMountId: string | undefined, target: string | undefined, signal: AbortSignal, log: Logger): Promise<string> {
    const { ref } = claim;
    const driver = this.deps.drivers.driver(spec.driver);
    const undo: Array<{ what: string; run: (signal: AbortSignal) => Promise<unknown> }> = [];
    try {
      if (staleMountId !== undefined) {
        // A performer died mid-mount: its driver Mount may have happened. Unmount that ID first
        // so the plugin's per-ID count stays one Unmount per Mount; a refusal (the Mount never
        // reached the plugin) is fine when nothing is mounted with it (unmount-outcome.ts). The
        // dead performer's ledger entry stays: its Mount may still be on its way to the plugin,
        // and the reconciler sends that Unmount again once nobody here uses the volume.
        log.warn({ staleMountId: clean(staleMountId) }, 'taking over from a dead performer; releasing its mount ID first');
        await this.driverUnmount(spec, staleMountId, signal, { what: 'takeover from a dead performer' });
      }
      // Get and Create can be cut short: nothing is mounted yet, nothing to undo.
      if ((await driver.get(spec.name, { signal })) === undefined) {
        if (spec.explicitCreate) throw new VolumeMissingError(spec.name, spec.driver, spec.explicitCreateReason);
        log.info({ optionKeys: Object.keys(spec.opts) }, 'creating volume');
        await driver.create(spec.name, spec.opts, { signal });
      }
      if (signal.aborted) throw new AbortedError(`mount of volume ${spec.name}`);
      const entry = { driver: spec.driver, name: spec.name, mountId: ref.token };
      await this.deps.ledger.record(entry);
      let mountpoint: string;
      try {
        mountpoint = await driver.mount(spec.name, ref.token, { signal, ...(spec.preempt ? { preempt: true } : {}) });
      } catch (error) {
        if (!mountMayHaveHappened(error)) {
          await this.deps.ledger.forget(entry); // a refused Mount gets no Unmount, nothing to remember
          throw error;
        }
        // It may still complete in the plugin, even after this Unmount: the ledger entry stays,
        // so the reconciler sends the Unmount again until the facts show nothing mounted with
        // that ID (unmount-outcome.ts).
        undo.push({ what: 'driver Unmount after an unfinished Mount', run: (s) => this.driverUnmount(spec, ref.token, s, { what: 'undo of an unfinished Mount' }) });
        throw error;
      }
      undo.push({ what: 'driver Unmount', run: (s) => this.unmountAndForget(spec, { mountId: ref.token, mountpoint }, s, 'undo of a Mount') });
      if (mountpoint === '') throw new DvdiError(ErrorCode.NoMountpoint, `driver ${spec.driver} mounted ${spec.name} but answered no mount point`, { exitCode: ExitCode.MountFailed });
      if (target !== undefined) {
        if (signal.aborted) throw new AbortedError(`mount of volume ${spec.name}`);
        await this.bind(mountpoint, target, spec.readOnly, spec.driver);
        undo.push({ what: 'lazy unmount of the bind', run: () => this.unbind(target) });
      }
      if (signal.aborted) throw new AbortedError(`mount of volume ${spec.name}`);
      const marked = await this.storeCall('markMounted', spec.name, () => this.deps.store.markMounted(ref, mountpoint));
      if (marked.kind !== 'ok') throw new LeaseLostError(spec.name, spec.driver, 'while mounting');
      return mountpoint;
    } catch (error) {
      claim.registered = false;
      await this.undo(undo, log);
      await this.deps.store.abortMount(ref).catch((abortError: unknown) =>
        log.error({ err: describeError(abortError) }, 'could not reset the mount state; the reconciler will once the lease expires'),
      );
      throw error;
    }
  }

  /**
   * The volume is already mounted on this node: check (or repair) the bind at `target`; no
   * driver Mount. Returns the bind source and the node's mount ID (for re-registration).
   */
  async join(granted: Extract<Granted, { kind: 'join' }>, key: VolumeKey, node: string, target: string | undefined, readOnly: boolean): Promise<{ mountpoint: string; mountId?: string }> {
    const source = await this.joinSource(granted, key);
    if (target !== undefined) await this.bind(source, target, readOnly, key.driver);
    const view = await this.storeCall('inspect', key.name, () => this.deps.store.inspect(key));
    const mountId = view?.nodes.find((n) => n.node === node)?.mountId;
    return mountId === undefined ? { mountpoint: source } : { mountpoint: source, mountId };
  }

  /**
   * Drop a claim. When the store names it the node's last user, unmount the node (bind at
   * `target`, driver Unmount, mark). `unknown`: the token was not registered (nothing done).
   */
  async release(claim: Claim, target: string | undefined, signal: AbortSignal): Promise<'unmounted' | 'released' | 'unknown'> {
    const result = await this.storeCall('release', claim.ref.name, () => this.deps.store.release(claim.ref));
    claim.registered = false;
    if (result.kind !== 'unmount') return result.kind;
    await this.unmountNode(claim.ref, result, target, signal, 'release');
    return 'unmounted';
  }

  /**
   * Take over the unmount of a node state that no live holder keeps (a fenced holder, a reaped
   * one, a dvdcli unmount without a claim): claimUnmount under `ref` (a fresh token unless the
   * caller has its own), then unmountNode. Answers the store's verdict.
   */
  async takeOver(key: VolumeKey, node: string, ttlMs: number, target: string | undefined, signal: AbortSignal, ref: HolderRef = { ...key, node, token: randomUUID() }): Promise<ClaimUnmountResult> {
    const claim = await this.storeCall('claimUnmount', key.name, () => this.deps.store.claimUnmount(ref, ttlMs));
    if (claim.kind === 'unmount') {
      this.deps.logger.warn(
        { volume: clean(key.name), driver: clean(key.driver), state: claim.state, mountId: claim.mountId === undefined ? undefined : clean(claim.mountId) },
        'no live holder on this node: taking over the unmount',
      );
      await this.unmountNode(ref, claim, target, signal, 'takeover of an orphaned unmount');
    }
    return claim;
  }

  /**
   * The one place a driver Unmount's outcome is decided (unmount-outcome.ts): a success means
   * the ID's mount is gone; a refusal counts as done only when the facts (Get's Status.Mounts,
   * else the mount table at the bind, `mountpoint` and what the plugin names) show nothing
   * mounted with that ID; any other error is a failure (the caller keeps the state for a retry).
   */
  async driverUnmount(key: VolumeKey, mountId: string, signal?: AbortSignal, context: { what?: string; mountpoint?: string | undefined } = {}): Promise<UnmountOutcome> {
    return unmountTolerant({ ...(await this.factsInput(key, mountId, context.mountpoint, signal)), logger: this.deps.logger, what: context.what ?? 'driver Unmount' });
  }

  /** After an Unmount: do the facts (never Path) still show the volume mounted with `mountId`? */
  async stillMounted(key: VolumeKey, mountId: string, outcome: UnmountOutcome): Promise<boolean> {
    if (outcome.kind === 'not-mounted') return false;
    return !(await mountFacts(await this.factsInput(key, mountId))).notMounted;
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * The one place a join's bind source is chosen: what the driver reports (Path), never the store
   * record — whoever can write the store must not choose what is bound. The record is only
   * compared with it.
   */
  private async joinSource(granted: Extract<Granted, { kind: 'join' }>, key: VolumeKey): Promise<string> {
    const reported = await this.deps.drivers.driver(key.driver).path(key.name);
    if (reported === undefined || reported === '') {
      throw new DvdiError(ErrorCode.NoMountpoint, `volume ${key.name} is recorded as mounted on this node, but driver ${key.driver} reports no mount point for it (Path)`, {
        context: { volume: key.name, driver: key.driver },
        exitCode: ExitCode.MountFailed,
      });
    }
    if (reported !== granted.mountpoint) {
      this.deps.logger.warn({ volume: key.name, recorded: clean(granted.mountpoint), reported }, "the store record names another mount point than the driver reports; using the driver's");
    }
    return reported;
  }

  /** What the refused-Unmount rule looks at; a bind path that cannot be had is simply not a fact. */
  private async factsInput(key: VolumeKey, mountId: string, mountpoint?: string, signal?: AbortSignal): Promise<UnmountFactsInput> {
    const bindPath = await this.target(key.name).catch(() => undefined);
    const { mountTable } = this.deps;
    return { driver: this.deps.drivers.driver(key.driver), name: key.name, mountId, bindPath, mountpoint, ...(signal === undefined ? {} : { signal }), ...(mountTable === undefined ? {} : { mountTable }) };
  }

  /** This holder is the node's unmounter: detach the bind, Unmount the recorded ID, mark. */
  private async unmountNode(ref: HolderRef, recorded: { mountId?: string | undefined; mountpoint?: string | undefined }, target: string | undefined, signal: AbortSignal, what: string): Promise<void> {
    if (target !== undefined) await this.unbind(target);
    if (recorded.mountId !== undefined) await this.unmountAndForget(ref, { mountId: recorded.mountId, mountpoint: recorded.mountpoint }, signal, what);
    const marked = await this.storeCall('markUnmounted', ref.name, () => this.deps.store.markUnmounted(ref));
    if (marked.kind !== 'ok') this.deps.logger.warn({ volume: clean(ref.name), driver: clean(ref.driver), answer: marked.kind }, 'unmounted, but the store did not take markUnmounted');
  }

  private async unmountAndForget(key: VolumeKey, { mountId, mountpoint }: { mountId: string; mountpoint?: string | undefined }, signal: AbortSignal, what: string): Promise<void> {
    await this.driverUnmount(key, mountId, signal, { what, mountpoint });
    await this.deps.ledger.forget({ driver: key.driver, name: key.name, mountId });
  }

  private async bind(source: string, target: string, readOnly: boolean, driver: string): Promise<void> {
    if (this.deps.mounter === undefined) return;
    await this.deps.mounter.bind(source, target, { readOnly, driver });
  }

  private async unbind(target: string): Promise<void> {
    await this.deps.mounter?.unmountLazy(target);
  }

  /** Run undo steps newest first, all within one time budget; a failed step is logged, the rest still run. */
  private async undo(steps: ReadonlyArray<{ what: string; run: (signal: AbortSignal) => Promise<unknown> }>, log: Logger): Promise<void> {
    const budget = AbortSignal.timeout(this.deps.undoTimeoutMs);
    for (const step of [...steps].reverse()) {
      try {
        await step.run(budget);
      } catch (undoError) {
        log.error({ step: step.what, err: describeError(undoError) }, 'undo step failed');
      }
    }
  }

  /** One acquire call; undefined when the store did not answer (within the timeout: retried). */
  private async tryAcquire(claim: Claim, policy: AcquirePolicy, started: number, log: Logger): Promise<AcquireResult | undefined> {
    const { store, clock } = this.deps;
    try {
      return await store.acquire({ ...claim.ref, task: policy.task, mode: policy.mode, preempt: policy.preempt, ttlMs: policy.ttlMs });
    } catch (error) {
      // Waiting fixes an unreachable store, never a misuse or a record (or state file) that is not ours.
      if (error instanceof DvdiError && NOT_RETRIED.has(error.code)) throw error;
      if (clock.monotonic() - started >= policy.timeoutMs) throw new StoreUnavailableError(store.backend, 'acquire', error, { volume: claim.ref.name });
      log.warn({ err: describeError(error) }, 'store unavailable while acquiring; retrying until the acquire timeout');
      return undefined;
    }
  }

  /** Throws when a non-granting answer is final (mode conflict) or has lasted past its timeout. */
  private refuseOrKeepWaiting(ref: HolderRef, policy: AcquirePolicy, result: Exclude<AcquireResult, Granted>, waited: number): void {
    switch (result.kind) {
      case 'mode-conflict':
        throw new AccessModeConflictError(ref.name, ref.driver, policy.mode, result.mode);
      case 'wait':
        if (waited >= policy.timeoutMs + policy.busyTimeoutMs) {
          throw new DvdiError(ErrorCode.VolumeBusy, `volume ${x(ref.name)} stayed ${result.state} by another holder on this node (${x(result.performer)}) for ${Math.round(waited)} ms`, {
            context: { volume: ref.name, state: result.state },
            exitCode: ExitCode.Unavailable,
          });
        }
        return;
      case 'held':
      case 'quarantine':
        if (waited >= policy.timeoutMs) {
          throw new VolumeHeldError(ref.name, ref.driver, result.kind === 'held' ? result.nodes : 'quarantine', Math.round(waited));
        }
        return;
    }
  }

  private storeCall<T>(operation: string, volume: string, work: () => Promise<T>): Promise<T> {
    return storeCall(this.deps.store, operation, volume, work);
  }
}

/** A store call of a sequence: the store's own (typed) errors pass, anything else means it failed. */
export async function storeCall<T>(store: RefcountStore, operation: string, volume: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DvdiError) throw error;
    throw new StoreUnavailableError(store.backend, operation, error, { volume });
  }
}

/** Run `tick` every `intervalMs` until `stop` aborts (a lease keeper's loop). */
export async function everyInterval(clock: Clock, intervalMs: number, stop: AbortSignal, tick: () => Promise<boolean | void>): Promise<void> {
  while (!stop.aborted) {
    try {
      await clock.sleep(intervalMs, stop);
    } catch {
      return;
    }
    if ((await tick()) === false) return;
  }
}
