// The Mounter on Linux: mount(8)/umount(8) through run() (argv, timeouts), /proc/self/mountinfo
// as the only truth about what is mounted, and the path rules that keep every bind directly
// below the real mount root. Owns nothing in the store; callers decide *whether* to mount.
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
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** lstat errors of a mount point whose filesystem is gone underneath. */
const DEAD_MOUNT_ERRORS = new Set(['ENOTCONN', 'ESTALE', 'EIO']);
/** Name prefix of the preflight's probe directories under the mount root. */
const PROBE_PREFIX = '.dvdi-probe-';

function errnoOf(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
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
  }

  async preflight(root: string): Promise<string> {
    const configured = posix.resolve(root);
    await this.checkCapability(configured);
    try {
      await mkdir(configured, { recursive: true, mode: 0o755 });
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
    const path = await this.checkedTarget(target);
    return this.serialized(path, () => this.bindChecked(source, path, options.readOnly === true));
  }

  async unmountLazy(target: string): Promise<UnmountResult> {
    const path = await this.checkedTarget(target);
    return this.serialized(path, () => this.unmountChecked(path));
  }

  private async bindChecked(source: string, path: string, readOnly: boolean): Promise<BindResult> {
    const sourcePath = await this.checkedSource(source, path);
    const entries = await this.mountInfo();
    const sourceMount = visibleMountOf(entries, sourcePath);
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
    await this.mountCommand(['--bind', '--', sourcePath, path], path, `bind ${sourcePath} at ${path}`);
    try {
      // `mount --bind -o ro` leaves the bind writable on older kernels; the remount is what sets it.
      if (readOnly) await this.mountCommand(['-o', 'remount,bind,ro', '--', path], path, `make the bind at ${path} read-only`);
      const made = topMountAt(await this.mountInfo(), path);
      if (made === undefined || made.device !== wanted.device || made.root !== wanted.root) {
        throw new MounterError(MounterErrorCode.MountFailed, path, `mount reported success but ${path} does not show ${sourcePath} (${wanted.device} ${wanted.root}) in mountinfo`);
      }
      if (isReadOnly(made) !== expectReadOnly) {
        throw new MounterError(MounterErrorCode.MountFailed, path, `the bind at ${path} has options ${made.options.join(',')}, expected ${expectReadOnly ? 'ro' : 'rw'}`);
      }
    } catch (error) {
      // Never leave a half-made (e.g. writable instead of read-only) bind behind.
      await this.unmountChecked(path).catch((undoError: unknown) => this.logger.error({ target: path, err: undoError }, 'undo of a failed bind failed'));
      throw error;
    }
    this.logger.info({ source: sourcePath, target: path, readOnly }, 'bound');
    return { target: path, created: true };
  }

  private async unmountChecked(path: string): Promise<UnmountResult> {
    let detached = 0;
    for (let round = 0; ; round++) {
      const stacked = mountsAt(await this.mountInfo(), path).length;
      if (stacked === 0) break;
      if (round >= this.maxUnmountRounds) {
        throw new MounterError(MounterErrorCode.UnmountFailed, path, `${stacked} mount(s) still at ${path} after ${round} rounds of umount --lazy`);
      }
      // One umount per stacked mount, then look again: rereading a table of thousands of stacked
      // mounts (rexray#1130) after each one would be quadratic.
      for (let i = 0; i < stacked; i++) {
        try {
          await run('umount', ['--lazy', '--', path], { timeoutMs: this.timeoutMs });
          detached++;
        } catch (error) {
          // "not mounted" is success; so is a mount that a peer's unmount took away meanwhile.
          if (mountsAt(await this.mountInfo(), path).length === 0) break;
          throw this.commandFailure(error, MounterErrorCode.UnmountFailed, path, `umount --lazy ${path}`);
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
   * Probe binds (`ROOT/.dvdi-probe-*`) still mounted: a preflight killed between its probe mount
   * and the undo leaves one behind. The reconciler removes those older than a lease TTL.
   */
  async listProbes(root: string): Promise<string[]> {
    const real = await this.preparedRoot(posix.resolve(root));
    const prefix = posix.join(real, PROBE_PREFIX);
    return [...new Set((await this.mountInfo()).map((m) => m.mountPoint).filter((mp) => mp.startsWith(prefix) && posix.dirname(mp) === real))];
  }

  /** Lazily unmount a leftover probe bind and remove its directory (probes only, under ROOT). */
  async removeProbe(root: string, path: string): Promise<void> {
    const real = await this.preparedRoot(posix.resolve(root));
    const target = posix.resolve(path);
    if (posix.dirname(target) !== real || !posix.basename(target).startsWith(PROBE_PREFIX)) {
      throw new MounterError(MounterErrorCode.PathUnsafe, target, `${target} is not a probe directory directly under ${real}`);
    }
    for (let round = 0; round < this.maxUnmountRounds && mountsAt(await this.mountInfo(), target).length > 0; round++) {
      try {
        await run('umount', ['--lazy', '--', target], { timeoutMs: this.timeoutMs });
      } catch (error) {
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

  private async checkedSource(source: string, target: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(source);
      if (!(await stat(real)).isDirectory()) {
        throw new MounterError(MounterErrorCode.SourceInvalid, source, `bind source ${source} is not a directory`, { context: { target } });
      }
    } catch (error) {
      if (error instanceof MounterError) throw error;
      throw new MounterError(MounterErrorCode.SourceInvalid, source, `bind source ${source} cannot be used: ${describeError(error)}`, { cause: error, context: { target } });
    }
    return real;
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
