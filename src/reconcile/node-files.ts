// The reconciler's node-local files under ROOT/.dvdi: the sweep lock (one sweep per node at a
// time, whichever store backs the cluster, since every sidecar of a node shares the mount
// root), the stamp of the last sweep (so the node's other sidecars, woken for the same cron
// instant, skip it), the first-seen times of unexplained binds (so an orphan's grace survives the
// sidecar that first saw it), the mount ledger and the holders' beats.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { readFile, lstat, mkdir, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../common/atomic-file.js';
import { readRegularFileSync } from '../common/regular-file.js';
import { ErrorCode } from '../common/error-codes.js';
import { DvdiError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { FileLock } from '../refcount/state-file-lock.js';
import type { HolderBeatPort, LedgerEntry, MountLedgerPort } from '../lifecycle/ports.js';
import type { OrphanMemoryPort, SweepLockPort, SweepStampPort } from './reconcile-sweep.js';

/** The largest node file read: an entry is a few hundred bytes; anything bigger is not ours. */
const NODE_FILE_MAX_BYTES = 64 * 1024;

/**
 * Every finished `*.json` file in `folder` (temp files being written are skipped), parsed and
 * handed to `pick`, which answers the entry, or undefined for a file of another shape. A file
 * that vanished meanwhile, a symlink, anything but a regular file (a FIFO planted as `x.json`
 * blocked a plain open until someone wrote to it, and the sweep with it, under the node's lock),
 * one that is not JSON or is larger than NODE_FILE_MAX_BYTES is skipped (readRegularFileSync):
 * an entry is read from the file's content, never from its name.
 */
async function readEntries<T>(folder: string, pick: (parsed: Record<string, unknown>) => T | undefined): Promise<T[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return [];
  }
  const entries: T[] = [];
  for (const name of names.filter((n) => n.endsWith('.json') && !n.includes('.tmp-'))) {
    try {
      const got = readRegularFileSync(join(folder, name), NODE_FILE_MAX_BYTES);
      const parsed: unknown = got.kind === 'file' ? JSON.parse(got.text) : undefined;
      const entry = typeof parsed === 'object' && parsed !== null ? pick(parsed as Record<string, unknown>) : undefined;
      if (entry !== undefined) entries.push(entry);
    } catch {
      // forgotten meanwhile, or not an entry at all: the next sweep reads it again
    }
  }
  return entries;
}

export function sweepLockFile(dir: string, logger: Logger): SweepLockPort {
  const path = join(dir, 'reconcile.lock');
  const waiting = new FileLock({ path, logger, timeoutMs: 250 });
  const once = new FileLock({ path, logger, timeoutMs: 0 });
  return {
    async tryAcquire(options) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        return await (options?.wait === false ? once : waiting).acquire();
      } catch (error) {
        if (error instanceof DvdiError && error.code === ErrorCode.StoreLockTimeout) return undefined;
        throw error;
      }
    },
  };
}

/**
 * The sweep stamp: the modification time of `dir/last-sweep`, an empty file, set to when the
 * node's last sweep without errors began. Time only, no content to parse; a symlink or anything
 * but a regular file there is never opened or followed (no stamp: a sidecar that wakes for an
 * instant after its sweep ended sweeps it again), and a stamp later than now is ignored by the sweep.
 */
export function sweepStampFile(dir: string): SweepStampPort {
  const path = join(dir, 'last-sweep');
  return {
    async lastStarted() {
      try {
        const stats = await lstat(path);
        return stats.isFile() ? Math.round(stats.mtimeMs) : undefined;
      } catch {
        return undefined;
      }
    },
    async record(startedAt) {
      const existing = await lstat(path).catch(() => undefined);
      if (existing !== undefined && !existing.isFile()) throw new DvdiError(ErrorCode.Internal, `${path} is not a regular file; the sweep stamp is not kept`);
      // O_NONBLOCK: a FIFO swapped in after the lstat does not hold the open (fstat refuses it).
      const handle = await open(path, constants.O_RDONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
      try {
        if (!(await handle.stat()).isFile()) throw new DvdiError(ErrorCode.Internal, `${path} is not a regular file; the sweep stamp is not kept`);
        const at = new Date(startedAt);
        await handle.utimes(at, at);
      } finally {
        await handle.close();
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
 * Longest ledger file name kept readable, in bytes: NAME_MAX (255) less room for the
 * `.tmp-<pid>-<n>` suffix of writeFileAtomic's temp file, which must fit a name too.
 */
export const LEDGER_READABLE_MAX = 200;
/** An encoded part kept readable: encodeURIComponent's output without `~` (the separator) and `!'()*`. */
const READABLE_PART = /^[A-Za-z0-9._%-]*$/;
const NAME_MAX = 255;

/** driver, volume and mount ID URI-encoded; undefined for a lone surrogate (encodeURIComponent throws). */
function encodedParts(entry: LedgerEntry): string[] | undefined {
  try {
    return [entry.driver, entry.name, entry.mountId].map(encodeURIComponent);
  } catch {
    return undefined;
  }
}

/** How ledger files were named before names were bounded (`driver~volume~mountId.json`); undefined when that is no file name, so no such file exists. */
function legacyLedgerFileName(entry: LedgerEntry): string | undefined {
  const parts = encodedParts(entry);
  const name = parts === undefined ? undefined : `${parts.join('~')}.json`;
  return name !== undefined && name.length <= NAME_MAX ? name : undefined; // URI-encoded: ASCII, one byte a character
}

/**
 * The ledger file name of an entry, bounded and safe whatever its strings (a forged store
 * record's mount ID may be 4 KB of anything; one longer than a file name failed every forget
 * with ENAMETOOLONG, so its takeover never finished). Short entries of plain characters keep the
 * readable `driver~volume~mountId.json` (URI-encoded, as they always were, so existing files keep
 * their names); anything else is `sha256-<hex of the JSON [driver, volume, mountId]>.json`, 76
 * bytes. The two forms never meet (a readable name has two `~`, a hashed one none), neither holds
 * `/`, NUL or `..`, and distinct entries get distinct names: readable parts hold no `~`, so a
 * readable name splits back into its parts.
 */
export function ledgerFileName(entry: LedgerEntry): string {
  const parts = encodedParts(entry);
  if (parts !== undefined && parts.every((part) => READABLE_PART.test(part))) {
    const name = `${parts.join('~')}.json`;
    // `.tmp-` marks writeFileAtomic's temp files, which list() skips.
    if (name.length <= LEDGER_READABLE_MAX && !name.includes('..') && !name.includes('.tmp-')) return name;
  }
  return `sha256-${createHash('sha256').update(JSON.stringify([entry.driver, entry.name, entry.mountId])).digest('hex')}.json`;
}

/**
 * The mount ledger as one small file per driver Mount under DIR/mounts (named by
 * ledgerFileName): several sidecar processes of a node write it without a lock (create and
 * unlink are atomic), and a killed writer leaves at worst a temp file, never a torn entry. An
 * entry is read from the file's content, never from its name.
 */
export function mountLedgerFiles(dir: string, clock: { now(): number }): MountLedgerPort {
  const folder = join(dir, 'mounts');
  const fileOf = (e: LedgerEntry): string => join(folder, ledgerFileName(e));
  /** An entry written under its old name by an earlier version (now hashed: long, or odd characters) goes too, if the file there is that entry. */
  const forgetLegacy = async (e: LedgerEntry): Promise<void> => {
    const legacy = legacyLedgerFileName(e);
    if (legacy === undefined || legacy === ledgerFileName(e)) return;
    let parsed: Partial<LedgerEntry>;
    try {
      parsed = JSON.parse(await readFile(join(folder, legacy), 'utf8')) as Partial<LedgerEntry>;
    } catch {
      return; // none there (the usual case), or not an entry at all
    }
    // Old names could collide (`~` inside a part): remove only the file of this very entry.
    if (parsed.driver === e.driver && parsed.name === e.name && parsed.mountId === e.mountId) await rm(join(folder, legacy), { force: true });
  };
  return {
    async record(entry) {
      await mkdir(folder, { recursive: true, mode: 0o700 });
      await writeJsonAtomic(fileOf(entry), { driver: entry.driver, name: entry.name, mountId: entry.mountId, recordedAt: clock.now() });
    },
    async forget(entry) {
      await rm(fileOf(entry), { force: true });
      await forgetLegacy(entry);
    },
    async list() {
      return readEntries(folder, (p) =>
        typeof p.driver === 'string' && typeof p.name === 'string' && typeof p.mountId === 'string' && typeof p.recordedAt === 'number'
          ? { driver: p.driver, name: p.name, mountId: p.mountId, recordedAt: p.recordedAt }
          : undefined,
      );
    },
  };
}

/** A beat file's name: the token itself when it is a plain one (sidecars use UUIDs), else its hash. */
function beatFileName(token: string): string {
  return /^[A-Za-z0-9-]{1,100}$/.test(token) ? `${token}.json` : `sha256-${createHash('sha256').update(token).digest('hex')}.json`;
}

/**
 * The holders' beats as one small file per holder token under DIR/holders (ports.ts
 * HolderBeatPort): each sidecar writes only its own (a temp file renamed over: a reader sees the
 * old beat or the new one, never a torn file; not fsynced, since a beat means nothing after a
 * crash of the node), the sweep reads them all. An entry is read from the file's content, never
 * from its name.
 */
export function holderBeatFiles(dir: string): HolderBeatPort {
  const folder = join(dir, 'holders');
  let sequence = 0;
  return {
    async beat(beat) {
      await mkdir(folder, { recursive: true, mode: 0o700 });
      const path = join(folder, beatFileName(beat.token));
      const temp = `${path}.tmp-${process.pid}-${++sequence}`;
      try {
        await writeFile(temp, JSON.stringify({ driver: beat.driver, name: beat.name, token: beat.token, beatAt: beat.beatAt }), { mode: 0o600 });
        await rename(temp, path);
      } finally {
        await rm(temp, { force: true });
      }
    },
    async forget(token) {
      await rm(join(folder, beatFileName(token)), { force: true });
    },
    async list() {
      return readEntries(folder, (p) =>
        typeof p.driver === 'string' && typeof p.name === 'string' && typeof p.token === 'string' && typeof p.beatAt === 'number'
          ? { driver: p.driver, name: p.name, token: p.token, beatAt: p.beatAt }
          : undefined,
      );
    },
  };
}
