// The storage seam of the reference plugin: what a backend (dir, loop) must do, and the
// volume metadata the service stores at Create and hands back at Mount.
import { run } from '../common/exec.js';
import type { VolumeOptions } from './volume-options.js';

export const BACKEND_KINDS = ['dir', 'loop'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

export interface VolumeMeta {
  version: 1;
  name: string;
  backend: BackendKind;
  /** RFC 3339. */
  createdAt: string;
  options: VolumeOptions;
  /** Set after the first format (loop): `overwritefs` applies to the first mount only. */
  formattedAt?: string;
  fsType?: string;
}

export interface MountOutcome {
  /** A filesystem was made during this mount. */
  formatted: boolean;
  fsType?: string;
}

export interface VolumeBackend {
  readonly kind: BackendKind;
  /** Provision the volume's storage; storage that already exists is kept as it is. */
  create(meta: VolumeMeta): Promise<void>;
  /** Make the volume's filesystem appear at `mountpoint` (an existing, checked directory). */
  mount(meta: VolumeMeta, mountpoint: string): Promise<MountOutcome>;
  /** Unmount `mountpoint` and release what the mount used (loop device). */
  unmount(name: string, mountpoint: string): Promise<void>;
  /** Delete the storage; refuses while anything still uses it. Missing storage is success. */
  remove(name: string): Promise<void>;
  /** Extra `Status` fields for Get/List. */
  status(meta: VolumeMeta): Record<string, unknown>;
}

export const MOUNT_TIMEOUT_MS = 120_000;

/**
 * Options every volume mount of the plugin gets: a setuid binary or a device node written into
 * a volume (by root in some container) must not act as one for whoever reaches the mountpoint
 * on the host. util-linux applies them to a `--bind` too (bind, then remount of the new mount).
 */
export const VOLUME_MOUNT_OPTIONS = 'nosuid,nodev';
export const UNMOUNT_TIMEOUT_MS = 60_000;

/** Plain (not lazy) unmount: a busy filesystem must fail loudly, not detach underneath a writer. */
export async function unmountPath(mountpoint: string): Promise<void> {
  await run('umount', [mountpoint], { timeoutMs: UNMOUNT_TIMEOUT_MS });
}
