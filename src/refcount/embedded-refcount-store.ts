// The embedded RefcountStore: the refcount model kept in one state file under the mount root
// (e.g. ROOT/.dvdi/state.json), for a node without Redis. Several sidecar processes of the node
// share it: every operation is lock → read → pure transition (refcount-model.ts) → atomic write
// → unlock. Reads for views skip the lock: the file is only ever replaced whole, by rename.
import { access, constants, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import * as model from './refcount-model.js';
import type { Transition, VolumeRecord } from './refcount-model.js';
import { StoreClosedError, StoreIoError, StoreStateCorruptError } from './refcount-errors.js';
import type {
  AcquireRequest,
  AcquireResult,
  ClaimUnmountResult,
  HolderRef,
  MarkResult,
  RefcountStore,
  ReleaseResult,
  RenewResult,
  VolumeKey,
  VolumeView,
} from './refcount-store.js';
import { FileLock } from './state-file-lock.js';
import { readState, removeTempFiles, writeStateAtomic, type StoreState } from './state-file.js';

export interface EmbeddedRefcountStoreOptions {
  /** Directory of the state and lock files; created (0700) on first use. */
  dir: string;
  /** The store's time: lease expiries are wall-clock ms shared by every process of the node. */
  clock: Clock;
  logger: Logger;
  /** Bounded wait for the state lock (default 10 s). */
  lockTimeoutMs?: number;
  /** Age after which a lock held from another PID namespace is abandoned (default 30 s). */
  lockStaleMs?: number;
  /** Real time for the lock's waits; defaults to the system clock (not the model's clock). */
  lockClock?: Clock;
}

export class EmbeddedRefcountStore implements RefcountStore {
  readonly backend = 'embedded';
  readonly dir: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly lock: FileLock;
  /** Serialises this process's operations before they compete for the file lock. */
  private queue: Promise<unknown> = Promise.resolve();
  private dirReady = false;
  private closed = false;

  constructor(options: EmbeddedRefcountStoreOptions) {
    this.dir = options.dir;
    this.clock = options.clock;
    this.logger = options.logger;
    this.lock = new FileLock({
      path: join(options.dir, 'state.lock'),
      logger: options.logger,
      timeoutMs: options.lockTimeoutMs,
      staleMs: options.lockStaleMs,
      clock: options.lockClock,
    });
  }

  acquire(request: AcquireRequest): Promise<AcquireResult> {
    return this.onVolume(request, (v, now) => model.acquire(v, request, now));
  }

  markMounted(ref: HolderRef, mountpoint: string): Promise<MarkResult> {
    return this.onVolume(ref, (v, now) => model.markMounted(v, ref, mountpoint, now));
  }

  abortMount(ref: HolderRef): Promise<MarkResult> {
    return this.onVolume(ref, (v, now) => model.abortMount(v, ref, now));
  }

  renew(ref: HolderRef, ttlMs: number): Promise<RenewResult> {
    return this.onVolume(ref, (v, now) => model.renew(v, ref, ttlMs, now));
  }

  release(ref: HolderRef): Promise<ReleaseResult> {
    return this.onVolume(ref, (v, now) => model.release(v, ref, now));
  }

  markUnmounted(ref: HolderRef): Promise<MarkResult> {
    return this.onVolume(ref, (v, now) => model.markUnmounted(v, ref, now));
  }

  claimUnmount(ref: HolderRef, ttlMs: number): Promise<ClaimUnmountResult> {
    return this.onVolume(ref, (v, now) => model.claimUnmount(v, ref, ttlMs, now));
  }

  reap(node: string): Promise<VolumeKey[]> {
    return this.transact((state, now) => {
      const orphaned: VolumeKey[] = [];
      let changed = false;
      for (const [id, current] of Object.entries(state.volumes)) {
        const { volume, result } = model.reap(current, node, now);
        if (volume !== current && volume) {
          state.volumes[id] = volume;
          changed = true;
        }
        if (result.orphaned) orphaned.push({ driver: current.driver, name: current.name });
      }
      return { changed, result: orphaned };
    });
  }

  async inspect(volume: VolumeKey): Promise<VolumeView | undefined> {
    this.assertOpen();
    const state = await this.read();
    const record = Object.hasOwn(state.volumes, model.volumeId(volume)) ? state.volumes[model.volumeId(volume)] : undefined;
    return record && model.view(record, this.clock.now());
  }

  async list(): Promise<VolumeView[]> {
    this.assertOpen();
    const state = await this.read();
    const now = this.clock.now();
    return Object.values(state.volumes)
      .filter(model.isActive)
      .map((record) => model.view(record, now));
  }

  /** One node's volumes: a filter over the file (one node's records only, on one node). */
  async listNode(node: string): Promise<VolumeView[]> {
    this.assertOpen();
    const state = await this.read();
    const now = this.clock.now();
    return Object.values(state.volumes)
      .filter((record) => model.hasPresence(record, node))
      .map((record) => model.view(record, now));
  }

  /** The node's volumes among `volumes`: the file has no separate index to repair. */
  async reindexNode(node: string, volumes: readonly VolumeKey[]): Promise<VolumeView[]> {
    const wanted = new Set(volumes.map((v) => model.volumeId(v)));
    return (await this.listNode(node)).filter((v) => wanted.has(model.volumeId(v)));
  }

  /** False while the store cannot be used yet; a corrupt state file throws: waiting never fixes it. */
  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.ensureDir();
      await access(this.dir, constants.W_OK);
      readState(this.dir);
      return true;
    } catch (error) {
      if (error instanceof StoreStateCorruptError) throw error;
      this.logger.debug({ err: error }, 'embedded store ping failed');
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    // Let operations already queued finish (they hold or await the lock; dropping them would
    // leave callers hanging).
    await this.queue.catch(() => undefined);
  }

  // ------------------------------------------------------------ internals

  private onVolume<R>(key: VolumeKey, step: (current: VolumeRecord | undefined, now: number) => Transition<R>): Promise<R> {
    const id = model.volumeId(key);
    return this.transact((state, now) => {
      const current = Object.hasOwn(state.volumes, id) ? state.volumes[id] : undefined;
      const { volume, result } = step(current, now);
      if (volume === current || volume === undefined) return { changed: false, result };
      state.volumes[id] = volume;
      return { changed: true, result };
    });
  }

  /** lock → read → apply → write (when changed) → unlock, one at a time in this process. */
  private transact<R>(apply: (state: StoreState, now: number) => { changed: boolean; result: R }): Promise<R> {
    if (this.closed) return Promise.reject(new StoreClosedError(this.backend));
    const run = async (): Promise<R> => {
      await this.ensureDir();
      const held = await this.lock.acquire();
      try {
        if (held.brokeStale) {
          // Only now, holding the lock: nobody else can be writing a temp file of their own.
          const removed = removeTempFiles(this.dir);
          if (removed > 0) this.logger.warn({ dir: this.dir, removed }, 'removed temp state files of a dead writer');
        }
        const state = readState(this.dir);
        const { changed, result } = apply(state, this.clock.now());
        if (changed) {
          // Every operation reads and writes the whole file: idle records must not pile up.
          pruneIdle(state, this.clock.now());
          // A writer whose lock was broken as stale (paused past lockStaleMs) must not write.
          if (!(await held.stillHeld())) throw new StoreIoError('write state (lock was broken as stale)', this.dir, undefined);
          writeStateAtomic(this.dir, state);
        }
        return result;
      } finally {
        await held.release();
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async read(): Promise<StoreState> {
    await this.ensureDir();
    return readState(this.dir);
  }

  private async ensureDir(): Promise<void> {
    if (this.dirReady) return;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new StoreIoError('create state directory', this.dir, error);
    }
    this.dirReady = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError(this.backend);
  }
}

/**
 * How long an idle record (no holder, every node absent) is kept. Not at once: its epoch and
 * last grant are what keep the fencing token from going back, and a holder paused past its
 * lease must hear `lost` (record there, token gone), not `missing` (which re-registers). An hour
 * is far beyond any lease and any pause a holder survives.
 */
export const IDLE_RECORD_RETENTION_MS = 3_600_000;

/** Stamp newly idle records, forget the stamps of active ones, drop those idle past the retention. */
function pruneIdle(state: StoreState, now: number): void {
  const idleSince = (state.idleSince ??= {});
  for (const [id, record] of Object.entries(state.volumes)) {
    if (model.isActive(record)) {
      delete idleSince[id];
      continue;
    }
    const since = idleSince[id];
    if (since === undefined || since > now) idleSince[id] = now; // a stamp from the future is reset, never trusted
    else if (now - since > IDLE_RECORD_RETENTION_MS) {
      delete state.volumes[id];
      delete idleSince[id];
    }
  }
  for (const id of Object.keys(idleSince)) if (!Object.hasOwn(state.volumes, id)) delete idleSince[id];
}
