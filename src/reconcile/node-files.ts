// The reconciler's node-local files under ROOT/.dvdi: the sweep lock (one sweep per node at a
// time, whichever store backs the cluster, since every sidecar of a node shares the mount
// root) and the first-seen times of unexplained binds (so an orphan's grace survives the
// sidecar that first saw it).
import { readFile, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../common/atomic-file.js';
import { ErrorCode } from '../common/error-codes.js';
import { DvdiError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { FileLock } from '../refcount/state-file-lock.js';
import type { LedgerEntry, MountLedgerPort } from '../lifecycle/ports.js';
import type { OrphanMemoryPort, SweepLockPort } from './reconcile-sweep.js';

export function sweepLockFile(dir: string, logger: Logger): SweepLockPort {
  const lock = new FileLock({ path: join(dir, 'reconcile.lock'), logger, timeoutMs: 250 });
  return {
    async tryAcquire() {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        return await lock.acquire();
      } catch (error) {
        if (error instanceof DvdiError && error.code === ErrorCode.StoreLockTimeout) return undefined;
        throw error;
      }
    },
  };
}

export function orphanMemoryFile(dir: string): OrphanMemoryPort {
  const path = join(dir, 'orphan-candidates.json');
  return {
    async load() {
      try {
        const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
        return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
      } catch {
        return {}; // missing or unreadable: every unexplained bind starts its grace now
      }
    },
    async save(firstSeen) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeJsonAtomic(path, firstSeen);
    },
  };
}

/**
 * The mount ledger as one small file per driver Mount under DIR/mounts: several sidecar
 * processes of a node write it without a lock (create and unlink are atomic), and a killed
 * writer leaves at worst a temp file, never a torn entry.
 */
export function mountLedgerFiles(dir: string, clock: { now(): number }): MountLedgerPort {
  const folder = join(dir, 'mounts');
  const fileOf = (e: LedgerEntry): string => join(folder, `${encodeURIComponent(e.driver)}~${encodeURIComponent(e.name)}~${encodeURIComponent(e.mountId)}.json`);
  return {
    async record(entry) {
      await mkdir(folder, { recursive: true, mode: 0o700 });
      await writeJsonAtomic(fileOf(entry), { driver: entry.driver, name: entry.name, mountId: entry.mountId, recordedAt: clock.now() });
    },
    async forget(entry) {
      await rm(fileOf(entry), { force: true });
    },
    async list() {
      let names: string[];
      try {
        names = await readdir(folder);
      } catch {
        return [];
      }
      const entries: Array<LedgerEntry & { recordedAt: number }> = [];
      for (const name of names.filter((n) => n.endsWith('.json') && !n.includes('.tmp-'))) {
        try {
          const parsed = JSON.parse(await readFile(join(folder, name), 'utf8')) as Partial<LedgerEntry & { recordedAt: number }>;
          if (typeof parsed.driver === 'string' && typeof parsed.name === 'string' && typeof parsed.mountId === 'string' && typeof parsed.recordedAt === 'number') {
            entries.push({ driver: parsed.driver, name: parsed.name, mountId: parsed.mountId, recordedAt: parsed.recordedAt });
          }
        } catch {
          // forgotten meanwhile, or a leftover being written: the next sweep sees it whole
        }
      }
      return entries;
    },
  };
}
