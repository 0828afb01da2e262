// The reconciler's node-local files under ROOT/.dvdi: the sweep lock (one sweep per node at a
// time, whichever store backs the cluster, since every sidecar of a node shares the mount
// root) and the first-seen times of unexplained binds (so an orphan's grace survives the
// sidecar that first saw it).
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../common/atomic-file.js';
import type { Logger } from '../common/logger.js';
import { FileLock } from '../refcount/state-file-lock.js';
import type { OrphanMemoryPort, SweepLockPort } from './reconcile-sweep.js';

export function sweepLockFile(dir: string, logger: Logger): SweepLockPort {
  const lock = new FileLock({ path: join(dir, 'reconcile.lock'), logger, timeoutMs: 250 });
  return {
    async tryAcquire() {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        return await lock.acquire();
      } catch (error) {
        if (error instanceof Error && 'code' in error && error.code === 'DVDI_STORE_LOCK_TIMEOUT') return undefined;
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
