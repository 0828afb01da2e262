// The reference plugin's semantics, independent of HTTP: Create/Remove/Mount/Path/Unmount/
// Get/List over a backend, with per-(volume, ID) mount counts that survive a restart, one
// operation at a time per volume, an optional mount journal, and (pool mode) attachment
// records that fence a volume to one node. mountinfo is the truth for "is it mounted";
// the state file only remembers who holds it. `habits: 'rclone'` answers the two questions the
// protocol leaves open the way rclone's plugin does — Unmount of an ID that holds nothing is
// refused (`volume is not mounted`, `volume is not mounted by this id`, `volume not found`),
// and Path/Get name the mountpoint whether mounted or not — so tests and chaos runs can drive
// the sidecar against both habits with one plugin.
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import type { Clock } from '../common/clock.js';
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { mountsAt, readMountInfo } from '../common/mountinfo.js';
import { VOLUME_NAME_PATTERN, type VolumeInfo } from '../driver/protocol-types.js';
import type { AttachmentRegistry, AttachOutcome } from './attachment-registry.js';
import { writeJsonAtomic } from '../common/atomic-file.js';
import { KeyedQueue } from './keyed-queue.js';
import { MountCounts, NO_ID } from './mount-counts.js';
import type { JournalEntry, MountJournal } from './mount-journal.js';
import { PluginError } from './plugin-errors.js';
import { isNotFound, validateVolumeName, type PluginLayout } from './plugin-layout.js';
import type { VolumeBackend, VolumeMeta } from './volume-backend.js';
import { parseVolumeOptions } from './volume-options.js';

export interface VolumeServiceDeps {
  layout: PluginLayout;
  backend: VolumeBackend;
  clock: Clock;
  logger: Logger;
  journal?: MountJournal;
  /** Pool mode only. */
  attachments?: AttachmentRegistry;
  /** How the open questions of the protocol are answered (default 'reference'; see above). */
  habits?: PluginHabits;
}

export const PLUGIN_HABITS = ['reference', 'rclone'] as const;
export type PluginHabits = (typeof PLUGIN_HABITS)[number];

const iso = (ms: number): string => new Date(ms).toISOString();

function noSuchVolume(name: string): PluginError {
  return new PluginError('DVDI_PLUGIN_NO_SUCH_VOLUME', `no such volume: ${name}`, { context: { volume: name } });
}

export class VolumeService {
  private counts = new MountCounts();
  private readonly queue = new KeyedQueue();
  private stateWrites: Promise<void> = Promise.resolve();

  constructor(private readonly deps: VolumeServiceDeps) {}

  /** Rebuild counts from the state file and mountinfo (after a restart, or a first start). */
  async start(): Promise<void> {
    const { layout, logger } = this.deps;
    let persisted: unknown;
    try {
      persisted = JSON.parse(await readFile(layout.stateFile, 'utf8'));
    } catch (error) {
      if (!isNotFound(error)) logger.error({ err: error, file: layout.stateFile }, 'state file unreadable: counts start empty, mounted volumes get an unknown holder');
    }
    this.counts = MountCounts.fromJSON(persisted, (name) => VOLUME_NAME_PATTERN.test(name));
    const mounted = await this.mountedVolumes();
    const { adopted, dropped } = this.counts.reconcile(mounted);
    if (adopted.length > 0) logger.warn({ volumes: adopted }, 'mounted volumes without a recorded holder: kept mounted under an unknown holder');
    if (dropped.length > 0) logger.warn({ volumes: dropped }, 'recorded holders of volumes that are not mounted: dropped');
    await this.persist();
    logger.info({ mounted: [...mounted], root: layout.root }, 'volume state rebuilt');
  }

  /** Resolves when every operation accepted so far has finished (for shutdown). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  create(rawName: unknown, opts: Record<string, string> | null | undefined): Promise<void> {
    const name = validateVolumeName(rawName);
    const options = parseVolumeOptions(opts);
    return this.queue.run(name, async () => {
      const existing = await this.readMeta(name);
      if (existing !== undefined) {
        // Idempotent, and the first Create's options stay (dvdcli and Docker send options
        // only to Create; a later Create must not resize or reformat under a user).
        await this.deps.backend.create(existing);
        return;
      }
      const meta: VolumeMeta = {
        version: 1,
        name,
        backend: this.deps.backend.kind,
        createdAt: new Date(this.deps.clock.now()).toISOString(),
        options,
      };
      // Storage first, meta last: a volume is listed only once it can be mounted.
      await this.deps.backend.create(meta);
      await writeJsonAtomic(this.deps.layout.metaPath(name), meta);
      this.deps.logger.info({ volume: name, optionKeys: Object.keys(opts ?? {}) }, 'volume created');
    });
  }

  remove(rawName: unknown): Promise<void> {
    const name = validateVolumeName(rawName);
    return this.queue.run(name, async () => {
      const meta = await this.readMeta(name);
      if (meta === undefined) throw noSuchVolume(name);
      const mountpoint = this.deps.layout.mountPath(name);
      const holders = this.counts.total(name);
      if (holders > 0 || (await this.isMounted(mountpoint))) {
        throw new PluginError('DVDI_PLUGIN_VOLUME_IN_USE', `volume ${name} is in use: mounted at ${mountpoint} with ${holders} holder(s)`, {
          context: { volume: name, holders },
        });
      }
      const attachment = await this.deps.attachments?.read(name);
      if (attachment !== undefined) {
        throw new PluginError('DVDI_PLUGIN_VOLUME_IN_USE', `volume ${name} is in use: attached to node ${attachment.node}`, {
          context: { volume: name, node: attachment.node },
        });
      }
      await this.deps.backend.remove(name);
      try {
        await rmdir(mountpoint);
      } catch {
        // absent, or not empty (a stray file of a past bug): leaving a directory is harmless
      }
      await rm(this.deps.layout.metaPath(name), { force: true });
      this.deps.logger.info({ volume: name }, 'volume removed');
    });
  }

  mount(rawName: unknown, id: string | undefined, preemptOverride?: boolean): Promise<string> {
    return this.journaled('Mount', rawName, id, async (name) => {
      const meta = await this.readMeta(name);
      if (meta === undefined) throw noSuchVolume(name);
      const mountpoint = this.deps.layout.mountPath(name);
      const mounted = await this.isMounted(mountpoint);
      let attached: AttachOutcome | undefined;
      // Count before mounting: a crash after the mount then still finds a holder; a crash
      // before it finds a count without a mount, which start() drops.
      this.counts.add(name, id);
      try {
        await this.persist();
        if (!mounted) {
          await this.deps.layout.ensureDir(mountpoint);
          attached = await this.deps.attachments?.attach(name, preemptOverride ?? meta.options.preempt);
          try {
            const outcome = await this.deps.backend.mount(meta, mountpoint);
            if (outcome.formatted) {
              const updated: VolumeMeta = { ...meta, formattedAt: new Date(this.deps.clock.now()).toISOString(), ...(outcome.fsType ? { fsType: outcome.fsType } : {}) };
              await writeJsonAtomic(this.deps.layout.metaPath(name), updated);
            }
          } catch (error) {
            await this.deps.attachments?.detach(name);
            throw error;
          }
          this.deps.logger.info({ volume: name, mountpoint }, 'volume mounted');
        }
      } catch (error) {
        this.counts.release(name, id);
        await this.persist().catch(() => undefined);
        throw error;
      }
      const journal = attached === undefined ? {} : { attachedAt: iso(attached.at), ...(attached.preempted === undefined ? {} : { preempted: attached.preempted }) };
      return { result: mountpoint, mountpoint, changed: !mounted, journal };
    });
  }

  unmount(rawName: unknown, id: string | undefined): Promise<void> {
    return this.journaled('Unmount', rawName, id, async (name) => {
      const mountpoint = this.deps.layout.mountPath(name);
      if (this.deps.habits === 'rclone') await this.refuseUnknownId(name, id, mountpoint);
      const { released, total } = this.counts.release(name, id);
      if (released) await this.persist();
      else this.deps.logger.info({ volume: name, id: id ?? null }, 'unmount of an ID that holds nothing: ignored');
      let changed = false;
      let detachedAt: number | undefined;
      // total 0 also retries an unmount that failed earlier (EBUSY), whoever asks.
      if (total === 0 && (await this.isMounted(mountpoint))) {
        await this.deps.backend.unmount(name, mountpoint);
        detachedAt = await this.deps.attachments?.detach(name);
        changed = true;
        this.deps.logger.info({ volume: name, mountpoint }, 'volume unmounted');
      } else if (total === 0) {
        detachedAt = await this.dropStaleAttachment(name);
      }
      return { result: undefined, changed, ...(total > 0 ? { mountpoint } : {}), journal: detachedAt === undefined ? {} : { detachedAt: iso(detachedAt) } };
    });
  }

  /**
   * Pool mode: nothing is mounted here and nobody holds the volume, yet the attachment record may
   * still name this node — a plugin killed between attach and mount, or between unmount and
   * detach, left it. Nobody would ever drop it (no later Unmount finds anything to unmount), and
   * every other node's attach is refused for good. Drop it; the journal says when.
   */
  private async dropStaleAttachment(name: string): Promise<number | undefined> {
    const at = await this.deps.attachments?.detach(name);
    if (at !== undefined) this.deps.logger.warn({ volume: name }, 'dropped the attachment of a volume that is neither mounted nor held here (left by an interrupted Mount or Unmount)');
    return at;
  }

  /** rclone habits: an Unmount whose ID holds nothing is refused, with rclone's messages. */
  private async refuseUnknownId(name: string, id: string | undefined, mountpoint: string): Promise<void> {
    if ((this.counts.holders(name)[id ?? NO_ID] ?? 0) > 0) return;
    if ((await this.readMeta(name)) === undefined) throw new PluginError('DVDI_PLUGIN_NO_SUCH_VOLUME', 'volume not found', { context: { volume: name } });
    const unheld = this.counts.total(name) === 0;
    // Refused or not, a stale attachment of an unheld, unmounted volume goes (see dropStaleAttachment).
    const detachedAt = unheld && !(await this.isMounted(mountpoint)) ? await this.dropStaleAttachment(name) : undefined;
    const message = unheld ? 'volume is not mounted' : 'volume is not mounted by this id';
    throw new PluginError('DVDI_PLUGIN_NOT_MOUNTED', message, { context: { volume: name, ...(detachedAt === undefined ? {} : { detachedAt: iso(detachedAt) }) } });
  }

  path(rawName: unknown): Promise<string> {
    const name = validateVolumeName(rawName);
    return this.queue.run(name, async () => {
      const mountpoint = this.deps.layout.mountPath(name);
      if (await this.isMounted(mountpoint)) return mountpoint;
      if (this.deps.habits === 'rclone' && (await this.readMeta(name)) !== undefined) return mountpoint;
      if ((await this.readMeta(name)) === undefined) throw noSuchVolume(name);
      return '';
    });
  }

  get(rawName: unknown): Promise<VolumeInfo> {
    const name = validateVolumeName(rawName);
    return this.queue.run(name, async () => {
      const meta = await this.readMeta(name);
      if (meta === undefined) throw noSuchVolume(name);
      return this.describe(meta, await this.mountedVolumes());
    });
  }

  async list(): Promise<VolumeInfo[]> {
    const { layout } = this.deps;
    const mounted = await this.mountedVolumes();
    const volumes: VolumeInfo[] = [];
    for (const file of (await readdir(layout.metaDir)).sort()) {
      if (!file.endsWith('.json')) continue; // temp files of an atomic write in progress
      const name = file.slice(0, -'.json'.length);
      let meta: VolumeMeta | undefined;
      try {
        meta = await this.readMeta(validateVolumeName(name));
      } catch (error) {
        this.deps.logger.warn({ file, err: error }, 'skipping unreadable volume metadata');
      }
      if (meta !== undefined) volumes.push(this.describe(meta, mounted));
    }
    return volumes;
  }

  private describe(meta: VolumeMeta, mounted: ReadonlySet<string>): VolumeInfo {
    const info: VolumeInfo = {
      Name: meta.name,
      CreatedAt: meta.createdAt,
      Status: { ...this.deps.backend.status(meta), holders: this.counts.total(meta.name) },
    };
    if (mounted.has(meta.name) || this.deps.habits === 'rclone') info.Mountpoint = this.deps.layout.mountPath(meta.name);
    return info;
  }

  /** Run a Mount/Unmount under the volume's queue and write its journal line either way. */
  private async journaled<T>(
    op: 'Mount' | 'Unmount',
    rawName: unknown,
    id: string | undefined,
    body: (name: string) => Promise<{ result: T; changed: boolean; mountpoint?: string; journal?: Pick<JournalEntry, 'attachedAt' | 'preempted' | 'detachedAt'> }>,
  ): Promise<T> {
    const journal = this.deps.journal;
    const volume = typeof rawName === 'string' ? rawName : String(rawName);
    try {
      const name = validateVolumeName(rawName);
      const outcome = await this.queue.run(name, async () => {
        const done = await body(name);
        // Written inside the queue so that the journal's order is the volume's real order.
        await journal?.append({ op, volume: name, id: id ?? null, result: 'ok', changed: done.changed, ...(done.mountpoint ? { mountpoint: done.mountpoint } : {}), ...done.journal });
        return done;
      });
      return outcome.result;
    } catch (error) {
      // A refusal can still have dropped a stale attachment (rclone habits): the journal says so.
      const detachedAt = error instanceof PluginError ? error.context.detachedAt : undefined;
      await journal?.append({ op, volume, id: id ?? null, result: 'error', error: describeError(error), ...(typeof detachedAt === 'string' ? { detachedAt } : {}) });
      throw error;
    }
  }

  private async readMeta(name: string): Promise<VolumeMeta | undefined> {
    const path = this.deps.layout.metaPath(name);
    if (!(await this.deps.layout.check(path, 'file'))) return undefined;
    try {
      return JSON.parse(await readFile(path, 'utf8')) as VolumeMeta;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw new PluginError('DVDI_PLUGIN_BACKEND_FAILED', `volume ${name}: metadata ${path} is unreadable`, { context: { volume: name }, cause: error });
    }
  }

  private async isMounted(mountpoint: string): Promise<boolean> {
    return mountsAt(await readMountInfo(), mountpoint).length > 0;
  }

  private async mountedVolumes(): Promise<Set<string>> {
    const names = new Set<string>();
    for (const entry of await readMountInfo()) {
      const name = this.deps.layout.volumeOfMountPoint(entry.mountPoint);
      if (name !== undefined) names.add(name);
    }
    return names;
  }

  /** Write the counts; writes are chained so the file always ends with the newest snapshot. */
  private persist(): Promise<void> {
    const write = this.stateWrites.then(() => writeJsonAtomic(this.deps.layout.stateFile, this.counts.toJSON()));
    this.stateWrites = write.catch(() => undefined);
    return write;
  }
}
