// The narrow faces of the outside world that the lifecycle, the dvdcli claim and the reconciler
// use, declared once: only the calls they make. wiring/node-services.ts adapts the real driver
// client, the mounter (bound to the node's real mount root) and the ledger files to these;
// unit tests use fakes.
import type { AccessMode } from '../refcount/refcount-store.js';

/** One volume a task asked for (config/ produces these, validated and frozen). */
export interface VolumeRequest {
  name: string;
  driver: string;
  /** Driver options for Create. Values are secrets: never logged, never reported. */
  opts: Readonly<Record<string, string>>;
  explicitCreate: boolean;
  containerPath?: string | undefined;
  access: AccessMode;
  preempt: boolean;
  readOnly: boolean;
}

/** What the lifecycle asks of a volume plugin (one per driver name). `signal` cuts a call short. */
export interface VolumeDriverPort {
  /** undefined when the plugin does not know the volume; anything else means it exists. */
  get(name: string, options?: { signal?: AbortSignal }): Promise<unknown>;
  create(name: string, opts: Readonly<Record<string, string>>, options?: { signal?: AbortSignal }): Promise<void>;
  /** Returns the plugin's mountpoint on this host. `preempt`: ask the driver to take the
   * volume from another node (the storage control plane is the hard fence). An aborted Mount is
   * as uncertain as a timed-out one: it may still complete in the plugin. */
  mount(name: string, id: string, options?: { preempt?: boolean; signal?: AbortSignal }): Promise<string>;
  /** Unknown IDs may succeed or be refused (rclone): VolumeLifecycle.driverUnmount judges a
   * refusal by facts (unmount-outcome.ts). */
  unmount(name: string, id: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** The plugin's mountpoint; some plugins (rclone) answer it while unmounted too, so it is
   * only ever a place to look in the mount table, never evidence of "mounted". */
  path(name: string, options?: { signal?: AbortSignal }): Promise<string | undefined>;
}

export interface DriverRegistryPort {
  driver(name: string): VolumeDriverPort;
}

/** The mounter bound to the node's real (preflighted) mount root: one object per process. */
export interface MounterPort {
  /** The real path of the mount root. */
  readonly root: string;
  /** ROOT/<name>, checked: stays under ROOT, no symlink. */
  volumePath(name: string): Promise<string>;
  /**
   * Bind the plugin's mountpoint at the volume path. Idempotent for the same source (a joiner
   * calls it to check or repair the node's bind); refuses a read-only/read-write mismatch.
   */
  bind(source: string, target: string, options: { readOnly: boolean; driver?: string }): Promise<unknown>;
  /** umount --lazy until nothing is mounted at target; not mounted = success. */
  unmountLazy(target: string): Promise<unknown>;
  isMounted(target: string): Promise<boolean>;
  /** Every bind directly at ROOT/<name>. */
  listBinds(): Promise<Array<{ name: string; path: string }>>;
  /** Leftover preflight probes (`ROOT/.dvdi-probe-*`) still mounted, and their removal. */
  listProbes(): Promise<string[]>;
  removeProbe(path: string): Promise<void>;
}

/** One driver Mount this node performed, by its ID (the performer's lease token). */
export interface LedgerEntry {
  driver: string;
  name: string;
  mountId: string;
}

/**
 * The node's own record of the driver Mounts it performed, kept outside the store: written
 * before the driver is called, forgotten once the Unmount of that ID is known to have taken
 * effect. It survives what the store may not (Redis losing its data) and what the store cannot
 * see (a Mount that completes in the plugin after the sidecar gave up on it), so the reconciler
 * can still send the Unmount that keeps the plugin's count right. Required everywhere a driver
 * Mount can be sent.
 */
export interface MountLedgerPort {
  record(entry: LedgerEntry): Promise<void>;
  forget(entry: LedgerEntry): Promise<void>;
  list(): Promise<Array<LedgerEntry & { recordedAt: number }>>;
}

/** A ready holder of this node, as it last said so itself (its token, the volume, when). */
export interface HolderBeat {
  driver: string;
  name: string;
  token: string;
  /** Wall-clock ms (the node's clock) of the holder's last beat. */
  beatAt: number;
}

/**
 * The node's own knowledge of its live holders, kept outside the store: every ready holder
 * (a sidecar's claim) beats here every third of a lease TTL for as long as its process keeps
 * the claim, whether the store answers or not, and forgets itself when it releases or fences.
 * A beat younger than one lease TTL means a process on this node still uses the volume and is
 * keeping (or re-registering) its lease; the node's sweep never takes such a volume away, and a
 * releasing holder does not unmount from under it. Optional: without it (dvdcli, unit fakes)
 * the store's record alone decides, as before.
 */
export interface HolderBeatPort {
  beat(beat: HolderBeat): Promise<void>;
  forget(token: string): Promise<void>;
  list(): Promise<HolderBeat[]>;
}
