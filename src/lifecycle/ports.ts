// The narrow faces of the outside world that the lifecycle uses: only the calls it makes.
// main.ts adapts the real driver client, mounter and store to these; unit tests use fakes.
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

/** What the lifecycle asks of a volume plugin (one per driver name). */
export interface VolumeDriverPort {
  /** undefined when the plugin does not know the volume; anything else means it exists. */
  get(name: string): Promise<unknown>;
  create(name: string, opts: Readonly<Record<string, string>>): Promise<void>;
  /** Returns the plugin's mountpoint on this host. `preempt`: ask the driver to take the
   * volume from another node (the storage control plane is the hard fence). */
  mount(name: string, id: string, options?: { preempt?: boolean }): Promise<string>;
  /** Unknown IDs succeed. */
  unmount(name: string, id: string): Promise<void>;
}

export interface DriverRegistryPort {
  driver(name: string): VolumeDriverPort;
}

export interface MounterPort {
  /** ROOT/<name>, checked: stays under ROOT, no symlink. */
  volumePath(name: string): Promise<string>;
  /**
   * Bind the plugin's mountpoint at the volume path. Idempotent for the same source (a joiner
   * calls it to check or repair the node's bind); refuses a read-only/read-write mismatch.
   */
  bind(source: string, target: string, options: { readOnly: boolean }): Promise<unknown>;
  /** umount --lazy until nothing is mounted at target; not mounted = success. */
  unmountLazy(target: string): Promise<unknown>;
}
