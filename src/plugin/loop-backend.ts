// Backend `loop`: a sparse image per volume (STORE/images/<name>.img) attached to a loop
// device, formatted on first mount when it holds no filesystem (or when `overwritefs` asks),
// and mounted. The loop device is detached right after mount: on a busy device the kernel
// turns LOOP_CLR_FD into "autoclear", so it goes away by itself when the filesystem is
// unmounted, and a crash of the plugin never leaks a device.
import { open, rm } from 'node:fs/promises';
import type { Clock } from '../common/clock.js';
import { CommandError, run } from '../common/exec.js';
import type { Logger } from '../common/logger.js';
import { mountsAt, readMountInfo } from '../common/mountinfo.js';
import type { PluginLayout } from './plugin-layout.js';
import { PluginError } from './plugin-errors.js';
import { imageSizeBytes } from './volume-options.js';
import { MOUNT_TIMEOUT_MS, VOLUME_MOUNT_OPTIONS, unmountPath, type MountOutcome, type VolumeBackend, type VolumeMeta } from './volume-backend.js';

const MKFS_TIMEOUT_MS = 300_000;
/** How long Unmount waits for autoclear to release the loop device before it only warns. */
const RELEASE_WAIT_MS = 10_000;

export class LoopBackend implements VolumeBackend {
  readonly kind = 'loop' as const;

  constructor(
    private readonly layout: PluginLayout,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async create(meta: VolumeMeta): Promise<void> {
    const image = this.layout.imagePath(meta.name);
    if (await this.layout.check(image, 'file')) return; // kept: Create is idempotent (and pool peers share it)
    let handle;
    try {
      handle = await open(image, 'wx', 0o600);
    } catch (error) {
      if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'EEXIST') return;
      throw error;
    }
    try {
      await handle.truncate(imageSizeBytes(meta.options.sizeGiB)); // sparse: no blocks written
    } catch (error) {
      await handle.close();
      await rm(image, { force: true });
      throw error;
    }
    await handle.close();
  }

  async mount(meta: VolumeMeta, mountpoint: string): Promise<MountOutcome> {
    const image = this.layout.imagePath(meta.name);
    if (!(await this.layout.check(image, 'file'))) {
      throw new PluginError('DVDI_PLUGIN_BACKEND_FAILED', `volume ${meta.name}: its image ${image} is missing`, { context: { volume: meta.name } });
    }
    const device = (await run('losetup', ['--find', '--show', image], { timeoutMs: MOUNT_TIMEOUT_MS })).stdout.trim();
    try {
      const existing = await this.probeFsType(device);
      const firstMount = meta.formattedAt === undefined;
      let fsType = existing;
      let formatted = false;
      if (existing === undefined || (firstMount && meta.options.overwriteFs)) {
        fsType = meta.options.fsType;
        await this.format(device, fsType);
        formatted = true;
        this.logger.info({ volume: meta.name, device, fsType, replaced: existing }, 'formatted volume image');
      }
      await run('mount', ['-t', fsType ?? meta.options.fsType, '-o', VOLUME_MOUNT_OPTIONS, '--', device, mountpoint], { timeoutMs: MOUNT_TIMEOUT_MS });
      return { formatted, ...(fsType === undefined ? {} : { fsType }) };
    } finally {
      // Mounted: this only sets autoclear. Not mounted (failure): this detaches the device now.
      await run('losetup', ['-d', device]).catch((error: unknown) => {
        this.logger.warn({ volume: meta.name, device, err: error }, 'losetup -d failed');
      });
    }
  }

  async unmount(name: string, mountpoint: string): Promise<void> {
    const device = mountsAt(await readMountInfo(), mountpoint).at(-1)?.source;
    await unmountPath(mountpoint);
    // Autoclear runs when the last reference closes; wait for it so that "Unmount done" means
    // "image detached" (a pool peer may attach it next). Only our device counts: a peer that
    // preempted the volume has its own device on the same image.
    const image = this.layout.imagePath(name);
    const deadline = this.clock.monotonic() + RELEASE_WAIT_MS;
    for (;;) {
      const devices = await this.devicesOf(image);
      if (device === undefined || !devices.includes(device)) return;
      if (this.clock.monotonic() >= deadline) {
        this.logger.warn({ volume: name, device }, 'loop device still attached after unmount');
        return;
      }
      await this.clock.sleep(50);
    }
  }

  async remove(name: string): Promise<void> {
    const image = this.layout.imagePath(name);
    if (!(await this.layout.check(image, 'file'))) return;
    const devices = await this.devicesOf(image);
    if (devices.length > 0) {
      throw new PluginError('DVDI_PLUGIN_VOLUME_IN_USE', `volume ${name} is in use: its image is attached to ${devices.join(', ')}`, {
        context: { volume: name },
      });
    }
    await rm(image, { force: true });
  }

  status(meta: VolumeMeta): Record<string, unknown> {
    return { backend: this.kind, sizeGiB: meta.options.sizeGiB, fsType: meta.fsType ?? meta.options.fsType };
  }

  /** Loop devices backed by `image` (`losetup -j` prints "/dev/loopN: []: (path)" lines). */
  async devicesOf(image: string): Promise<string[]> {
    const { stdout } = await run('losetup', ['-j', image]);
    return stdout
      .split('\n')
      .map((line) => line.split(':')[0]?.trim() ?? '')
      .filter((device) => device.startsWith('/dev/'));
  }

  /** The filesystem type on `device`, or undefined when blkid finds none (its exit status 2). */
  private async probeFsType(device: string): Promise<string | undefined> {
    try {
      const type = (await run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', device])).stdout.trim();
      return type === '' ? undefined : type;
    } catch (error) {
      if (error instanceof CommandError && error.exitStatus === 2) return undefined;
      throw error;
    }
  }

  private async format(device: string, fsType: string): Promise<void> {
    const args = fsType === 'xfs' ? ['-q', '-f', device] : ['-q', '-F', device];
    await run(`mkfs.${fsType}`, args, { timeoutMs: MKFS_TIMEOUT_MS });
  }
}
