// What the lifecycle and the reconciler need from mount(8): check the mount root, name a
// volume's place under it, bind a plugin mountpoint there, take it away lazily, and list what
// is bound. LinuxMounter is the real one; lifecycle unit tests use a fake of this interface.

export interface BindOptions {
  /** Make the bind read-only (the plugin mountpoint itself stays as it is). */
  readOnly?: boolean;
  /** The plugin that reported the source: named in a refusal, and its own directories are allowed. */
  driver?: string;
}

export interface BindResult {
  /** The target, as mounted (a path under the real mount root). */
  target: string;
  /** false: the same source was already bound there (idempotent retry); nothing was mounted. */
  created: boolean;
}

export interface UnmountResult {
  /** How many stacked mounts were detached (0: nothing was mounted, which is success). */
  detached: number;
  /** Whether the empty target directory was removed. */
  removedDir: boolean;
}

/** One volume bind found directly at ROOT/<name> in mountinfo. */
export interface BindMount {
  name: string;
  /** ROOT/<name> under the real mount root. */
  path: string;
  /** "major:minor" of the filesystem the bind shows. */
  device: string;
  /** Path inside that filesystem which the bind shows (the plugin mountpoint's part of it). */
  rootInFs: string;
  fsType: string;
  /** mountinfo's source field (e.g. /dev/loop3, tmpfs). */
  source: string;
  readOnly: boolean;
  /** More than 1 means stacked mounts (rexray#1130); unmountLazy removes them all. */
  mountCount: number;
}

export interface Mounter {
  /**
   * Checks that `root` can take volume binds: CAP_SYS_ADMIN, the directory (created 0700 when
   * missing) is a mount point tagged `shared:`, and a probe bind under it works. Resolves to the
   * real path of `root`; later calls with `root` use that real path and refuse if it changes.
   */
  preflight(root: string): Promise<string>;
  /** ROOT/<name> under the real root; refuses bad names, symlinks and escapes. */
  volumePath(root: string, name: string): Promise<string>;
  /**
   * Bind `source` at `target` (a volumePath), nosuid,nodev (and ro when asked); idempotent for
   * the same source. A source that bind-source-policy.ts refuses is never bound.
   */
  bind(source: string, target: string, options?: BindOptions): Promise<BindResult>;
  /** Detach every mount at `target` lazily, then remove the empty directory. */
  unmountLazy(target: string): Promise<UnmountResult>;
  /** Every bind directly at ROOT/<name>, one entry per name. */
  listBinds(root: string): Promise<BindMount[]>;
  isMounted(target: string): Promise<boolean>;
  /** Leftover preflight probe binds (`ROOT/.dvdi-probe-*`) still mounted. */
  listProbes(root: string): Promise<string[]>;
  /** Unmount and remove one leftover probe (refuses anything that is not a probe under ROOT). */
  removeProbe(root: string, path: string): Promise<void>;
}
