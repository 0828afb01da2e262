// The Mounter on Linux: mount(8)/umount(8) through run() (argv, timeouts), /proc/self/mountinfo
// as the only truth about what is mounted, and the path rules that keep every bind directly
// below the real mount root. A bind source passes bind-source-policy.ts; source and target are
// opened without following symlinks and handed to mount(8) as descriptors, every bind is made
// nosuid,nodev (ro when asked), and a bind or unmount acts on the mount it identified by ID.
// Owns nothing in the store; callers decide *whether* to mount.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, realpath, rmdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { CommandError, run } from '../common/exec.js';
import { describeError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { mountsAt, propagationOf, readMountInfo, type MountInfoEntry } from '../common/mountinfo.js';
import {
  CAP_SYS_ADMIN,
  bindIdentityOf,
  bindsUnder,
  hasEffectiveCapability,
  isReadOnly,
  saysPermissionDenied,
  topMountAt,
  visibleMountOf,
} from './mount-table.js';
import type { BindMount, BindOptions, BindResult, Mounter, UnmountResult } from './mounter.js';
import { MounterError, MounterErrorCode, capabilityFix, sharedRootFix } from './mounter-error.js';
import { volumePathUnder } from './path-safety.js';
import { bindSourceRefusal, showPath, type BindSourceRule } from './bind-source-policy.js';
import { childFdPath, openDirectoryHandle, type DirectoryHandle } from './path-handle.js';
import { STATE_DIR_NAME, ensureStateDir } from './mount-root-owner.js';

export interface LinuxMounterOptions {
  /** Limit for each mount/umount command. Default 30 s. */
  timeoutMs?: number;
  logger?: Logger;
  /** Default /proc/self/mountinfo. */
  mountInfoPath?: string;
  /** Where CapEff is read. Default /proc/self/status. */
  procStatusPath?: string;
  /** Give up on a target that still has mounts after this many umount rounds. Default 10. */
  maxUnmountRounds?: number;
  /** DVDI_PLUGIN_MOUNT_DIRS: when non-empty, no bind source outside these (or the plugin's own dirs). */
  pluginMountDirs?: readonly string[];
  /** A plugin's own host directories (a managed plugin's PropagatedMount), by driver name. */
  pluginDirsOf?: (driver: string) => readonly string[];
  /** Tests only: runs after the target was checked and opened, right before mount(8). */
  beforeBindMount?: (target: string) => Promise<void>;
}

/** Mode of a mount root the sidecar creates: only root may traverse it (apps see ROOT/<vol> only). */
export const MOUNT_ROOT_MODE = 0o700;

const DEFAULT_TIMEOUT_MS = 30_000;
/** lstat errors of a mount point whose filesystem is gone underneath. */
const DEAD_MOUNT_ERRORS = new Set(['ENOTCONN', 'ESTALE', 'EIO']);
/** Name prefix of the preflight's probe directories under the mount root. */
const PROBE_PREFIX = '.dvdi-probe-';
/** Name prefix of the per-bind staging directories under ROOT/.dvdi. */
const STAGE_PREFIX = 'stage-';

function errnoOf(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** Mount IDs are reused as soon as they are freed: a mount is "the same" only at the same place. */
function placeOf(entry: MountInfoEntry): string {
  return `${entry.id} ${entry.parentId} ${entry.mountPoint}`;
}

/** ROOT/.dvdi-probe-* or ROOT/.dvdi/stage-*: the mounter's own short-lived mounts. */
function isScratchMount(realRoot: string, path: string): boolean {
  const parent = posix.dirname(path);
  const name = posix.basename(path);
  return (parent === realRoot && name.startsWith(PROBE_PREFIX)) || (parent === posix.join(realRoot, STATE_DIR_NAME) && name.startsWith(STAGE_PREFIX));
}

/** Whether a bind carries the options every volume bind must have. */
function hardened(entry: MountInfoEntry): boolean {
  return entry.options.includes('nosuid') && entry.options.includes('nodev');
}

function stderrOf(error: unknown): string {
  return error instanceof CommandError ? error.stderr.trim() : '';
}

export class LinuxMounter implements Mounter {
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  private readonly mountInfoPath: string;
  private readonly procStatusPath: string;
  private readonly maxUnmountRounds: number;
  private readonly pluginMountDirs: readonly string[];
  private readonly pluginDirsOf: (driver: string) => readonly string[];
  private readonly beforeBindMount: ((target: string) => Promise<void>) | undefined;
  /** Configured root (resolved) → real path recorded at preflight. */
  private readonly roots = new Map<string, string>();
  /** Tail of the queue of operations per target: two binds racing in one process must not stack. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(options: LinuxMounterOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.logger = (options.logger ?? silentLogger()).child({ module: 'mounter' });
    this.mountInfoPath = options.mountInfoPath ?? '/proc/self/mountinfo';
    this.procStatusPath = options.procStatusPath ?? '/proc/self/status';
    this.maxUnmountRounds = options.maxUnmountRounds ?? 10;
    this.pluginMountDirs = options.pluginMountDirs ?? [];
    this.pluginDirsOf = options.pluginDirsOf ?? (() => []);
    this.beforeBindMount = options.beforeBindMount;
  }

  async preflight(root: string): Promise<string> {
    const configured = posix.resolve(root);
    await this.checkCapability(configured);
    try {
      const created = await mkdir(configured, { recursive: true, mode: MOUNT_ROOT_MODE });
      if (created !== undefined) this.logger.info({ root: configured, mode: MOUNT_ROOT_MODE.toString(8) }, 'created the mount root');
    } catch (error) {
      throw new MounterError(MounterErrorCode.MountFailed, configured, `cannot create mount root ${configured}: ${describeError(error)}`, { cause: error });
    }
    const real = await realpath(configured);
    if (!(await stat(real)).isDirectory()) {
      throw new MounterError(MounterErrorCode.PathUnsafe, configured, `mount root ${configured} is not a directory`);
    }
    const top = topMountAt(await this.mountInfo(), real);
    if (top === undefined) {
      throw new MounterError(
        MounterErrorCode.RootNotShared,
        configured,
        `mount root ${configured}${real === configured ? '' : ` (${real})`} is not a mount point, so binds made there cannot propagate to the application container; ${sharedRootFix(configured)}`,
      );
    }
    if (!propagationOf(top).shared) {
      const fields = top.optionalFields.join(' ') || 'private';
      throw new MounterError(
        MounterErrorCode.RootNotShared,
        configured,
        `mount root ${configured}${real === configured ? '' : ` (${real})`} is a mount with propagation "${fields}", not shared, so binds made there would not reach the application container; ${sharedRootFix(configured)}`,
        { context: { propagation: fields } },
      );
    }
    const mode = (await stat(real)).mode & 0o777;
    if ((mode & 0o001) !== 0) {
      // Not refused (an operator may have reasons), but every volume is then reachable by every host user.
      this.logger.warn({ root: configured, mode: mode.toString(8) }, `the mount root is traversable by every host user (mode ${mode.toString(8)}); chmod 0700 ${configured} unless they must reach the volumes`);
    }
    await this.probe(real);
    this.roots.set(configured, real);
    this.logger.debug({ root: configured, realRoot: real, mountId: top.id }, 'mount root ready');
    return real;
  }

  async volumePath(root: string, name: string): Promise<string> {
    const real = await this.preparedRoot(posix.resolve(root));
    const path = volumePathUnder(real, name);
    await this.refuseNonDirectory(path);
    return path;
  }

  async bind(source: string, target: string, options: BindOptions = {}): Promise<BindResult> {
    return this.serialized(this.queueKey(target), async () => {
      const path = await this.checkedTarget(target);
      return this.bindChecked(source, path, options.readOnly === true, options.driver);
    });
  }

  async unmountLazy(target: string): Promise<UnmountResult> {
    return this.serialized(this.queueKey(target), async () => this.unmountChecked(await this.checkedTarget(target)));
  }

  /**
   * The queue a target's operations wait in, known before anything is awaited, so that binds and
   * unmounts of one target run in the order they were asked (checking the target first let a
   * later call overtake an earlier one). The configured and the real root share one queue.
   */
  private queueKey(target: string): string {
    const absolute = posix.resolve(target);
    const parent = posix.dirname(absolute);
    return posix.join(this.roots.get(parent) ?? parent, posix.basename(absolute));
  }

  private async bindChecked(source: string, path: string, readOnly: boolean, driver: string | undefined): Promise<BindResult> {
    const sourceHandle = await this.openSource(source, path, driver);
    try {
      const sourcePath = sourceHandle.kernelPath;
      const entries = await this.mountInfo();
      const sourceMount = entries.find((entry) => entry.id === sourceHandle.mountId) ?? visibleMountOf(entries, sourcePath);
      if (sourceMount === undefined) {
        throw new MounterError(MounterErrorCode.SourceInvalid, sourcePath, `bind source ${sourcePath} is on no mount in ${this.mountInfoPath}`);
      }
      const wanted = bindIdentityOf(sourceMount, sourcePath);
      // A bind inherits the source mount's ro flag: rw asked of a read-only plugin mount gives ro.
      const expectReadOnly = readOnly || isReadOnly(sourceMount);

      const existing = topMountAt(entries, path);
      if (existing !== undefined) {
        if (existing.device === wanted.device && existing.root === wanted.root) {
          if (isReadOnly(existing) !== expectReadOnly) {
            throw new MounterError(
              MounterErrorCode.OptionsConflict,
              path,
              `${sourcePath} is already bound at ${path} ${isReadOnly(existing) ? 'read-only' : 'read-write'}, but ${expectReadOnly ? 'read-only' : 'read-write'} was asked`,
              { context: { source: sourcePath } },
            );
          }
          // A bind made before binds were hardened: harden it in place rather than leave it.
          if (!hardened(existing)) await this.remountHardened(existing.id, path, expectReadOnly);
          this.logger.debug({ source: sourcePath, target: path }, 'already bound');
          return { target: path, created: false };
        }
        throw new MounterError(
          MounterErrorCode.TargetBusy,
          path,
          `cannot bind ${sourcePath} at ${path}: ${existing.source} (${existing.fsType} ${existing.device}, root ${existing.root}) is already mounted there`,
          { context: { source: sourcePath, mountedSource: existing.source, mountedRoot: existing.root } },
        );
      }

      await this.ensureDirectory(path);
      const made = await this.bindOnto(sourceHandle, path, wanted, expectReadOnly);
      if (!hardened(made) || isReadOnly(made) !== expectReadOnly) {
        // Never leave a half-made (e.g. writable or suid-capable) bind behind.
        await this.unmountMount(made.id, path).catch((undoError: unknown) => this.logger.error({ target: path, err: undoError }, 'undo of a failed bind failed'));
        throw new MounterError(MounterErrorCode.MountFailed, path, `the bind at ${path} has options ${made.options.join(',')}, expected nosuid,nodev,${expectReadOnly ? 'ro' : 'rw'}`);
      }
      this.logger.info({ source: sourcePath, target: path, readOnly: expectReadOnly }, 'bound');
      return { target: path, created: true };
    } finally {
      await sourceHandle.close();
    }
  }

  /**
   * The bind itself, made where nothing propagates and moved into place with its options: the
   * kernel copies a new mount to the root's peers (the host, the app containers) as it is at that
   * moment, so a bind made at ROOT/<name> and hardened afterwards would stay suid-capable in every
   * copy. So: a private staging mount under ROOT/.dvdi, the bind onto it (from the source handle),
   * the nosuid,nodev[,ro] remount there, then `mount --move` onto a handle of ROOT/<name>, opened
   * without following links and checked to be ROOT/<name> on the root's mount. The moved mount
   * keeps its ID: if it did not land exactly at `path` (the directory was swapped meanwhile), it is
   * undone by that ID wherever it is. The staging mount is always taken away again (its copies in
   * the peers go with it: umount propagates through the root's peer group).
   */
  private async bindOnto(sourceHandle: DirectoryHandle, path: string, wanted: { device: string; root: string }, readOnly: boolean): Promise<MountInfoEntry> {
    const realRoot = posix.dirname(path);
    const stage = posix.join(await ensureStateDir(realRoot), `${STAGE_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(stage, { mode: 0o700 });
    let stageId: number | undefined;
    let volumeId: number | undefined;
    try {
      stageId = (await this.mountByHandles(['--bind'], [stage, stage], stage, () => true)).id;
      await this.onMount(stageId, stage, ['--make-private'], `make the staging mount ${stage} private`);
      const staged = await this.mountOntoMount(sourceHandle, stageId, stage, wanted);
      volumeId = staged.id;
      await this.onMount(volumeId, stage, ['-o', `remount,bind,nosuid,nodev,${readOnly ? 'ro' : 'rw'}`], `make the bind of ${sourceHandle.kernelPath} nosuid,nodev${readOnly ? ',ro' : ''}`);

      const target = await this.openTarget(path);
      try {
        await this.beforeBindMount?.(path);
        const moving = await this.openMount(volumeId, stage);
        try {
          await run('mount', ['--no-canonicalize', '--move', '--', childFdPath(0), childFdPath(1)], { timeoutMs: this.timeoutMs, fds: [moving.fd, target.fd] });
        } catch (error) {
          throw this.commandFailure(error, MounterErrorCode.MountFailed, path, `move the bind of ${sourceHandle.kernelPath} to ${path}`);
        } finally {
          await moving.close();
        }
      } finally {
        await target.close();
      }
      const moved = (await this.mountInfo()).find((entry) => entry.id === volumeId);
      if (moved?.mountPoint === path) {
        volumeId = undefined; // in place: nothing to undo
        return moved;
      }
      if (moved !== undefined) {
        const misplaced = moved.mountPoint;
        await this.unmountMount(moved.id, misplaced);
        volumeId = undefined;
        throw new MounterError(MounterErrorCode.MountFailed, path, `mount reported success but ${path} does not show ${sourceHandle.kernelPath} (${wanted.device} ${wanted.root}) in mountinfo (it appeared at ${misplaced} and was undone)`);
      }
      throw new MounterError(MounterErrorCode.MountFailed, path, `the bind of ${sourceHandle.kernelPath} is no longer in mountinfo after moving it to ${path}`);
    } finally {
      if (volumeId !== undefined) {
        const left = (await this.mountInfo()).find((entry) => entry.id === volumeId);
        if (left !== undefined) await this.unmountMount(left.id, left.mountPoint).catch((error: unknown) => this.logger.error({ mountId: left.id, at: left.mountPoint, err: describeError(error) }, 'undo of a staged bind failed'));
      }
      if (stageId !== undefined) await this.unmountMount(stageId, stage).catch((error: unknown) => this.logger.error({ stage, err: describeError(error) }, 'could not take the staging mount away'));
      await rmdir(stage).catch((error: unknown) => this.logger.warn({ stage, err: describeError(error) }, 'staging directory left behind'));
    }
  }

  /** ROOT/<name> opened without following links; it must be itself on the mount root's mount. */
  private async openTarget(path: string): Promise<DirectoryHandle> {
    let target: DirectoryHandle;
    try {
      target = await openDirectoryHandle(path);
    } catch (error) {
      throw new MounterError(MounterErrorCode.PathUnsafe, path, `cannot open ${path} as a plain directory (not following symlinks): ${describeError(error)}`, { cause: error });
    }
    const rootMount = visibleMountOf(await this.mountInfo(), posix.dirname(path));
    if (target.kernelPath !== path || rootMount === undefined || target.mountId !== rootMount.id) {
      await target.close();
      throw new MounterError(MounterErrorCode.PathUnsafe, path, `${path} resolved to ${showPath(target.kernelPath)} on mount ${target.mountId}, not to itself on the mount root's mount; refusing to mount there`);
    }
    return target;
  }

  /**
   * `mount ARGS /proc/self/fd/3 /proc/self/fd/4` with handles on `paths` (plain directories, no
   * symlink followed, each its own kernel path); answers the one new mount at `at` that `accept`s.
   */
  private async mountByHandles(args: readonly string[], paths: readonly [string, string], at: string, accept: (entry: MountInfoEntry) => boolean): Promise<MountInfoEntry> {
    const handles: DirectoryHandle[] = [];
    try {
      for (const p of paths) {
        const handle = await openDirectoryHandle(p);
        handles.push(handle);
        if (handle.kernelPath !== p) throw new MounterError(MounterErrorCode.PathUnsafe, p, `${p} resolved to ${showPath(handle.kernelPath)}; refusing to mount there`);
      }
      const before = new Set((await this.mountInfo()).map(placeOf));
      try {
        await run('mount', ['--no-canonicalize', ...args, '--', childFdPath(0), childFdPath(1)], { timeoutMs: this.timeoutMs, fds: handles.map((h) => h.fd) });
      } catch (error) {
        throw this.commandFailure(error, MounterErrorCode.MountFailed, at, `mount ${args.join(' ')} at ${at}`);
      }
      const made = (await this.mountInfo()).find((entry) => !before.has(placeOf(entry)) && entry.mountPoint === at && accept(entry));
      if (made === undefined) throw new MounterError(MounterErrorCode.MountFailed, at, `mount ${args.join(' ')} reported success but nothing new is mounted at ${at}`);
      return made;
    } finally {
      for (const handle of handles) await handle.close();
    }
  }

  /** The source bound onto the root of mount `parentId` (the staging mount at `at`). */
  private async mountOntoMount(sourceHandle: DirectoryHandle, parentId: number, at: string, wanted: { device: string; root: string }): Promise<MountInfoEntry> {
    const parent = await this.openMount(parentId, at);
    try {
      const before = new Set((await this.mountInfo()).map(placeOf));
      try {
        await run('mount', ['--no-canonicalize', '--bind', '--', childFdPath(0), childFdPath(1)], { timeoutMs: this.timeoutMs, fds: [sourceHandle.fd, parent.fd] });
      } catch (error) {
        throw this.commandFailure(error, MounterErrorCode.MountFailed, at, `bind ${sourceHandle.kernelPath} (staging)`);
      }
      const made = (await this.mountInfo()).find((entry) => !before.has(placeOf(entry)) && entry.parentId === parentId && entry.device === wanted.device && entry.root === wanted.root);
      if (made === undefined) throw new MounterError(MounterErrorCode.MountFailed, at, `mount reported success but ${at} does not show ${sourceHandle.kernelPath} (${wanted.device} ${wanted.root})`);
      return made;
    } finally {
      await parent.close();
    }
  }

  /** `mount ARGS /proc/self/fd/3` on a handle of mount `mountId`, the one visible at `path`. */
  private async onMount(mountId: number, path: string, args: readonly string[], what: string): Promise<void> {
    const handle = await this.openMount(mountId, path);
    try {
      await run('mount', ['--no-canonicalize', ...args, '--', childFdPath(0)], { timeoutMs: this.timeoutMs, fds: [handle.fd] });
    } catch (error) {
      throw this.commandFailure(error, MounterErrorCode.MountFailed, path, what);
    } finally {
      await handle.close();
    }
  }

  /**
   * remount,bind with nosuid,nodev (and ro) on the mount `mountId` at `path`, in this mount
   * namespace (copies in the peers keep what they had; only binds made by bindOnto have the
   * options everywhere).
   */
  private async remountHardened(mountId: number, path: string, readOnly: boolean): Promise<void> {
    await this.onMount(mountId, path, ['-o', `remount,bind,nosuid,nodev,${readOnly ? 'ro' : 'rw'}`], `make the bind at ${path} nosuid,nodev${readOnly ? ',ro' : ''}`);
  }

  /** A handle on the root of mount `mountId`, which must be the mount visible at `path` (under the root). */
  private async openMount(mountId: number, path: string): Promise<DirectoryHandle> {
    let handle: DirectoryHandle;
    try {
      handle = await openDirectoryHandle(path);
    } catch (error) {
      throw new MounterError(MounterErrorCode.PathUnsafe, path, `cannot open ${path} as a plain directory (not following symlinks): ${describeError(error)}`, { cause: error });
    }
    if (handle.mountId !== mountId || handle.kernelPath !== path) {
      await handle.close();
      throw new MounterError(MounterErrorCode.PathUnsafe, path, `${path} leads to mount ${handle.mountId} at ${showPath(handle.kernelPath)}, not to mount ${mountId}; refusing to act on it`);
    }
    return handle;
  }

  /** umount --lazy of exactly the mount `mountId` visible at `path` (through its handle, never the path). */
  private async unmountMount(mountId: number, path: string): Promise<void> {
    const handle = await this.openMount(mountId, path);
    try {
      await run('umount', ['--no-canonicalize', '--lazy', '--', childFdPath(0)], { timeoutMs: this.timeoutMs, fds: [handle.fd] });
    } finally {
      await handle.close();
    }
  }

  private async unmountChecked(path: string): Promise<UnmountResult> {
    let detached = 0;
    for (let round = 0; ; round++) {
      const here = mountsAt(await this.mountInfo(), path);
      if (here.length === 0) break;
      if (round >= this.maxUnmountRounds) {
        throw new MounterError(MounterErrorCode.UnmountFailed, path, `${here.length} mount(s) still at ${path} after ${round} rounds of umount --lazy`);
      }
      // One umount per stacked mount, then look again: rereading a table of thousands of stacked
      // mounts (rexray#1130) after each one would be quadratic. Each umount goes through a handle
      // on the mount now visible at `path`, which must be one of those listed there.
      const ids = new Set(here.map((entry) => entry.id));
      for (let i = 0; i < here.length; i++) {
        let handle: DirectoryHandle | undefined;
        try {
          handle = await openDirectoryHandle(path);
          if (!ids.has(handle.mountId) || handle.kernelPath !== path) {
            throw new MounterError(MounterErrorCode.PathUnsafe, path, `${path} leads to mount ${handle.mountId} at ${showPath(handle.kernelPath)}, which is not mounted at ${path}; refusing to unmount it`);
          }
          await run('umount', ['--no-canonicalize', '--lazy', '--', childFdPath(0)], { timeoutMs: this.timeoutMs, fds: [handle.fd] });
          detached++;
        } catch (error) {
          // "not mounted" is success; so is a mount that a peer's unmount took away meanwhile.
          if (mountsAt(await this.mountInfo(), path).length === 0) break;
          if (error instanceof MounterError) throw error;
          throw this.commandFailure(error, MounterErrorCode.UnmountFailed, path, `umount --lazy ${path}`);
        } finally {
          await handle?.close();
        }
      }
    }
    const removedDir = await this.removeEmptyDirectory(path);
    if (detached > 0) this.logger.info({ target: path, detached, removedDir }, 'unmounted lazily');
    return { detached, removedDir };
  }

  async listBinds(root: string): Promise<BindMount[]> {
    const configured = posix.resolve(root);
    let real = this.roots.get(configured);
    if (real === undefined) {
      try {
        real = await realpath(configured);
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') return []; // no root, nothing bound below it
        throw error;
      }
    }
    return bindsUnder(await this.mountInfo(), real);
  }

  /**
   * Scratch mounts still mounted: probe binds (`ROOT/.dvdi-probe-*`; a preflight killed between
   * its probe mount and the undo leaves one behind) and bind staging mounts
   * (`ROOT/.dvdi/stage-*`; a bind killed before it took its staging mount away). The reconciler
   * removes those older than a lease TTL.
   */
  async listProbes(root: string): Promise<string[]> {
    const real = await this.preparedRoot(posix.resolve(root));
    return [...new Set((await this.mountInfo()).map((m) => m.mountPoint).filter((mp) => isScratchMount(real, mp)))];
  }

  /** Lazily unmount a leftover probe or staging mount (all stacked there) and remove its directory. */
  async removeProbe(root: string, path: string): Promise<void> {
    const real = await this.preparedRoot(posix.resolve(root));
    const target = posix.resolve(path);
    if (!isScratchMount(real, target)) {
      throw new MounterError(MounterErrorCode.PathUnsafe, target, `${target} is neither a probe directory directly under ${real} nor a staging directory in ${posix.join(real, STATE_DIR_NAME)}`);
    }
    for (let round = 0; round < this.maxUnmountRounds; round++) {
      const top = topMountAt(await this.mountInfo(), target);
      if (top === undefined) break;
      try {
        // By handle on the mount listed there, as for volumes: a probe path swapped for a symlink is not followed.
        await this.unmountMount(top.id, target);
      } catch (error) {
        if (error instanceof MounterError) throw error;
        throw this.commandFailure(error, MounterErrorCode.UnmountFailed, target, `unmount the leftover probe ${target}`);
      }
    }
    await rmdir(target).catch(() => undefined);
  }

  async isMounted(target: string): Promise<boolean> {
    const absolute = posix.resolve(target);
    let parent: string;
    try {
      parent = await realpath(posix.dirname(absolute));
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return false;
      throw error;
    }
    return mountsAt(await this.mountInfo(), posix.join(parent, posix.basename(absolute))).length > 0;
  }

  private async serialized<T>(path: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(path) ?? Promise.resolve();
    const current = previous.then(operation, operation);
    const tail = current.catch(() => undefined);
    this.queues.set(path, tail);
    try {
      return await current;
    } finally {
      if (this.queues.get(path) === tail) this.queues.delete(path);
    }
  }

  private async mountInfo(): Promise<MountInfoEntry[]> {
    return readMountInfo(this.mountInfoPath);
  }

  private async checkCapability(root: string): Promise<void> {
    let status: string;
    try {
      status = await readFile(this.procStatusPath, 'utf8');
    } catch (error) {
      this.logger.warn({ path: this.procStatusPath, err: error }, 'cannot read capabilities; relying on the probe mount');
      return;
    }
    if (!hasEffectiveCapability(status, CAP_SYS_ADMIN)) {
      throw new MounterError(MounterErrorCode.NotPermitted, root, `cannot mount under ${root}: this process lacks CAP_SYS_ADMIN in its effective capabilities; ${capabilityFix()}`, {
        context: { capability: 'CAP_SYS_ADMIN' },
      });
    }
  }

  /** A bind of an empty directory onto itself under the root, undone at once: can we mount here? */
  private async probe(realRoot: string): Promise<void> {
    const probe = posix.join(realRoot, `${PROBE_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(probe, { mode: 0o700 });
    try {
      await this.mountCommand(['--bind', '--', probe, probe], probe, `probe-mount under ${realRoot}`);
      try {
        await run('umount', ['--lazy', '--', probe], { timeoutMs: this.timeoutMs });
      } catch (error) {
        throw this.commandFailure(error, MounterErrorCode.UnmountFailed, probe, `undo the probe mount ${probe}`);
      }
    } finally {
      await rmdir(probe).catch((error: unknown) => this.logger.warn({ path: probe, err: error }, 'probe directory left behind'));
    }
  }

  /** The real root a configured (or real) root was prepared as, re-checked against the filesystem. */
  private async preparedRoot(root: string): Promise<string> {
    const real = this.roots.get(root) ?? [...this.roots.values()].find((value) => value === root);
    if (real === undefined) {
      throw new MounterError(MounterErrorCode.RootNotPrepared, root, `${root} is not a mount root checked by preflight in this process`);
    }
    for (const path of new Set([root, real])) {
      let now: string;
      try {
        now = await realpath(path);
      } catch (error) {
        throw new MounterError(MounterErrorCode.PathUnsafe, root, `mount root ${path} is gone since preflight: ${describeError(error)}`, { cause: error });
      }
      if (now !== real) {
        throw new MounterError(
          MounterErrorCode.PathUnsafe,
          root,
          `mount root ${path} now resolves to ${now}, not ${real} as at preflight: a component was replaced by a symlink; refusing to mount there`,
          { context: { realRoot: real, resolvesTo: now } },
        );
      }
    }
    return real;
  }

  /** A target must be ROOT/<valid name> below a prepared root; returns it under the real root. */
  private async checkedTarget(target: string): Promise<string> {
    const absolute = posix.resolve(target);
    const parent = posix.dirname(absolute);
    const known = this.roots.has(parent) || [...this.roots.values()].includes(parent);
    if (!known && this.roots.size > 0) {
      throw new MounterError(
        MounterErrorCode.PathUnsafe,
        absolute,
        `${absolute} is not directly below a mount root (${[...new Set(this.roots.values())].join(', ')}); refusing to mount or unmount there`,
      );
    }
    const real = await this.preparedRoot(parent);
    return volumePathUnder(real, posix.basename(absolute));
  }

  /**
   * The bind source, checked by bind-source-policy.ts and opened without following links; the
   * kernel's name for the opened directory must be the reported path itself, so no component of
   * it is a symlink and the rules held for what is bound.
   */
  private async openSource(source: string, target: string, driver: string | undefined): Promise<DirectoryHandle> {
    const realRoot = posix.dirname(target);
    const policy = { realRoot, allowedDirs: this.pluginMountDirs, pluginDirs: driver === undefined ? [] : this.pluginDirsOf(driver) };
    const refusal = bindSourceRefusal(source, policy);
    if (refusal !== undefined) throw this.refusedSource(source, target, driver, refusal.rule, refusal.detail);
    let info;
    try {
      info = await lstat(source);
    } catch (error) {
      throw new MounterError(MounterErrorCode.SourceInvalid, source, `bind source ${showPath(source)} cannot be used: ${describeError(error)}`, { cause: error, context: { target } });
    }
    if (info.isSymbolicLink()) throw this.refusedSource(source, target, driver, 'not-symlink', 'the path is a symlink; the plugin must answer the directory itself');
    if (!info.isDirectory()) {
      throw new MounterError(MounterErrorCode.SourceInvalid, source, `bind source ${showPath(source)} is not a directory`, { context: { target, rule: 'directory' } });
    }
    let handle: DirectoryHandle;
    try {
      handle = await openDirectoryHandle(source);
    } catch (error) {
      // Swapped for a symlink or a file since the lstat: the same refusal as above.
      throw this.refusedSource(source, target, driver, 'not-symlink', `the path could not be opened as a directory without following symlinks (${describeError(error)})`);
    }
    if (handle.kernelPath !== source) {
      await handle.close();
      throw this.refusedSource(source, target, driver, 'not-symlink', `a component of the path is a symlink: it leads to ${showPath(handle.kernelPath)}`);
    }
    const realRefusal = bindSourceRefusal(handle.kernelPath, policy);
    if (realRefusal !== undefined) {
      await handle.close();
      throw this.refusedSource(source, target, driver, realRefusal.rule, realRefusal.detail);
    }
    return handle;
  }

  private refusedSource(source: string, target: string, driver: string | undefined, rule: BindSourceRule, detail: string): MounterError {
    const volume = posix.basename(target);
    return new MounterError(
      MounterErrorCode.SourceRefused,
      source,
      `refusing to bind ${showPath(source)}, the mount point plugin ${driver === undefined ? '(unknown)' : JSON.stringify(driver)} reported for volume ${JSON.stringify(volume)}, at ${target}: ${detail} (rule ${rule}); nothing was bound. `
        + 'A bind source must be the real directory the plugin mounted for this volume: absolute, normalised, no symlink, not "/", not the mount root nor inside or above it, not a host system tree, and under DVDI_PLUGIN_MOUNT_DIRS when that is set',
      { context: { volume, driver, rule, target } },
    );
  }

  /** Refuses a symlink or a non-directory at `path`; a missing path is fine. */
  private async refuseNonDirectory(path: string): Promise<boolean> {
    let info;
    try {
      info = await lstat(path);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return false;
      // A dead mount (a FUSE plugin that restarted: ENOTCONN; NFS: ESTALE; broken storage: EIO)
      // cannot be looked at, but mountinfo shows it is a mount point, which is never a symlink:
      // it must stay reachable, or nobody could unmount it.
      if (DEAD_MOUNT_ERRORS.has(errnoOf(error) ?? '') && topMountAt(await this.mountInfo(), path) !== undefined) return true;
      throw error;
    }
    if (info.isSymbolicLink()) {
      throw new MounterError(MounterErrorCode.PathUnsafe, path, `${path} is a symlink; a volume path must be a plain directory below the mount root`);
    }
    if (!info.isDirectory()) {
      throw new MounterError(MounterErrorCode.PathUnsafe, path, `${path} exists and is not a directory`);
    }
    return true;
  }

  private async ensureDirectory(path: string): Promise<void> {
    if (await this.refuseNonDirectory(path)) return;
    try {
      // Not recursive: the parent is the real root, and mkdir never follows a symlink it would create over.
      await mkdir(path, { mode: 0o755 });
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') {
        throw new MounterError(MounterErrorCode.MountFailed, path, `cannot create ${path}: ${describeError(error)}`, { cause: error });
      }
      await this.refuseNonDirectory(path); // created by someone else meanwhile: same rules
    }
  }

  private async removeEmptyDirectory(path: string): Promise<boolean> {
    try {
      const info = await lstat(path);
      if (!info.isDirectory()) return false;
      await rmdir(path);
      return true;
    } catch (error) {
      const errno = errnoOf(error);
      if (errno !== 'ENOENT') this.logger.warn({ path, errno }, 'left the volume directory in place');
      return false;
    }
  }

  private async mountCommand(args: readonly string[], path: string, what: string): Promise<void> {
    try {
      await run('mount', args, { timeoutMs: this.timeoutMs });
    } catch (error) {
      throw this.commandFailure(error, MounterErrorCode.MountFailed, path, what);
    }
  }

  private commandFailure(error: unknown, code: MounterErrorCode, path: string, what: string): MounterError {
    const stderr = stderrOf(error);
    if (saysPermissionDenied(stderr)) {
      return new MounterError(MounterErrorCode.NotPermitted, path, `cannot ${what}: mount(2) was refused (${stderr.split('\n')[0] ?? ''}); ${capabilityFix()}`, {
        cause: error,
        context: { capability: 'CAP_SYS_ADMIN', stderr },
      });
    }
    return new MounterError(code, path, `cannot ${what}: ${describeError(error)}`, { cause: error, context: { stderr } });
  }
}
