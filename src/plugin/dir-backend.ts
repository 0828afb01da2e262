// Backend `dir`: a directory per volume (ROOT/volumes/<name>), mounted by bind so that the
// mountpoint handed to Docker is a real mount, as it would be with a block device.
import { rm } from 'node:fs/promises';
import { run } from '../common/exec.js';
import { readMountInfo } from '../common/mountinfo.js';
import type { PluginLayout } from './plugin-layout.js';
import { PluginError } from './plugin-errors.js';
import { MOUNT_TIMEOUT_MS, VOLUME_MOUNT_OPTIONS, unmountPath, type MountOutcome, type VolumeBackend, type VolumeMeta } from './volume-backend.js';

export class DirBackend implements VolumeBackend {
  readonly kind = 'dir' as const;

  constructor(private readonly layout: PluginLayout) {}

  async create(meta: VolumeMeta): Promise<void> {
    await this.layout.ensureDir(this.layout.dataPath(meta.name));
  }

  async mount(meta: VolumeMeta, mountpoint: string): Promise<MountOutcome> {
    const data = this.layout.dataPath(meta.name);
    if (!(await this.layout.check(data, 'dir'))) {
      throw new PluginError('DVDI_PLUGIN_BACKEND_FAILED', `volume ${meta.name}: its data directory ${data} is missing`, { context: { volume: meta.name } });
    }
    await run('mount', ['--bind', '-o', VOLUME_MOUNT_OPTIONS, '--', data, mountpoint], { timeoutMs: MOUNT_TIMEOUT_MS });
    return { formatted: false };
  }

  async unmount(_name: string, mountpoint: string): Promise<void> {
    await unmountPath(mountpoint);
  }

  async remove(name: string): Promise<void> {
    const data = this.layout.dataPath(name);
    if (!(await this.layout.check(data, 'dir'))) return;
    // rm -r through a mount below the data directory would delete someone else's files.
    const below = (await readMountInfo()).find((entry) => entry.mountPoint === data || entry.mountPoint.startsWith(`${data}/`));
    if (below !== undefined) {
      throw new PluginError('DVDI_PLUGIN_VOLUME_IN_USE', `volume ${name} is in use: ${below.mountPoint} is mounted`, { context: { volume: name } });
    }
    await rm(data, { recursive: true, force: true });
  }

  status(): Record<string, unknown> {
    return { backend: this.kind };
  }
}
