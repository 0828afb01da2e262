// The embedded store's cross-process lock: a lock file created with O_CREAT|O_EXCL that names
// its owner, a bounded wait with progress logging, and safe breaking of a lock whose owner died.
//
// Why not flock(2): Node has no binding for it and no lock library is installed (proper-lockfile
// is not among the dependencies; its mkdir locks break stale locks by mtime only). Why not pid
// alone: sidecars run in separate containers, so their pids live in different PID namespaces
// and `kill(pid, 0)` answers about a stranger. The owner record therefore carries the boot id,
// the PID namespace and the process start time:
//   - other boot                              → dead (the state dir survived a reboot)
//   - same PID namespace                      → dead when /proc/<pid> is gone (ESRCH), a zombie,
//                                               or a different process (start time differs)
//   - other PID namespace (another container) → cannot be probed: dead once the lock is older
//                                               than `staleMs`, far longer than any critical
//                                               section (read, apply, write: milliseconds)
//   - stamped more than `staleMs` in the future → dead: no clock step explains it, and without
//                                               this bound a forged or skewed stamp would make
//                                               the lock live for ever
// Breaking goes through a second O_EXCL file (`.break`) so that two waiters that both judged the
// same lock stale cannot end up deleting a fresh lock taken in between.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { systemClock, type Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { readRegularFileSync } from '../common/regular-file.js';
import { StoreIoError, StoreLockTimeoutError } from './refcount-errors.js';

export interface LockOwner {
  pid: number;
  /** /proc/self/ns/pid link text, e.g. "pid:[4026531836]". */
  pidNs: string;
  bootId: string;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot): tells a reused pid from its first owner. */
  startTime: string;
  nonce: string;
  /** Wall-clock ms when taken. */
  takenAt: number;
}

export interface FileLockOptions {
  path: string;
  logger: Logger;
  /**
   * Give up once one owner has held the lock this long while we wait (a stuck holder). Default
   * 10 s; 0: one try.
   */
  timeoutMs?: number;
  /**
   * Give up after waiting this long in all, however often the lock changed hands meanwhile (a
   * busy node: many holders, each brief). Default 6 × timeoutMs.
   */
  maxWaitMs?: number;
  /** Age after which a lock whose owner cannot be probed is considered abandoned. */
  staleMs?: number;
  /** Real time for waits and ages (the lock is an OS matter, not the store's model time). */
  clock?: Clock;
}

export interface HeldLock {
  readonly owner: LockOwner;
  /** A dead owner's lock was broken on the way: clear what it may have left half done. */
  readonly brokeStale: boolean;
  /** True while the lock file is still this holder's (nobody broke it as stale). */
  stillHeld(): Promise<boolean>;
  release(): Promise<void>;
}

interface Identity {
  pid: number;
  pidNs: string;
  bootId: string;
  startTime: string;
}

let identityPromise: Promise<Identity> | undefined;

async function readStartTime(pid: number): Promise<{ startTime: string; state: string } | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
}

function ownIdentity(): Promise<Identity> {
  identityPromise ??= (async () => {
    const [pidNs, bootId, stat] = await Promise.all([
      readlink('/proc/self/ns/pid').catch(() => 'unknown'),
      readFile('/proc/sys/kernel/random/boot_id', 'utf8').then((s) => s.trim(), () => 'unknown'),
      readStartTime(process.pid),
    ]);
    return { pid: process.pid, pidNs, bootId, startTime: stat?.startTime ?? '' };
  })();
  return identityPromise;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid !== 'number' || typeof value.nonce !== 'string' || typeof value.takenAt !== 'number') return undefined;
    return { pid: value.pid, pidNs: String(value.pidNs), bootId: String(value.bootId), startTime: String(value.startTime), nonce: value.nonce, takenAt: value.takenAt };
  } catch {
    return undefined;
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error).code) : undefined;
}

/** What the lock file at `path` says now: its owner, or `unreadable` (being written, or garbage). */
type Observation = { kind: 'gone' } | { kind: 'owner'; owner: LockOwner; text: string } | { kind: 'unreadable'; text: string; ageMs: number };

/** More than any owner record this code writes (~250 bytes). */
const MAX_LOCK_BYTES = 4096;

/**
 * The lock file's text and age (readRegularFileSync): a FIFO, a device, a symlink or an oversized
 * file planted at the lock's path is never read, and stands for itself with a text no owner
 * record can have (so it is judged, and broken, as unreadable). ENOENT is thrown as it is.
 */
function lockText(path: string): { text: string; mtimeMs: number } {
  const got = readRegularFileSync(path, MAX_LOCK_BYTES);
  switch (got.kind) {
    case 'file':
      return got;
    case 'symlink':
      return { text: '<not a lock file: a symbolic link>', mtimeMs: got.mtimeMs };
    case 'not-regular':
      return { text: '<not a lock file: not a regular file>', mtimeMs: got.mtimeMs };
    case 'too-large':
      return { text: `<not a lock file: ${got.size} bytes>`, mtimeMs: got.mtimeMs };
  }
}

function observe(path: string, now: number): Observation {
  try {
    const { text, mtimeMs } = lockText(path);
    const owner = parseOwner(text);
    return owner ? { kind: 'owner', owner, text } : { kind: 'unreadable', text, ageMs: now - mtimeMs };
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { kind: 'gone' };
    throw new StoreIoError('read lock', path, error);
  }
}

/** Why the owner is known dead, or undefined while it may be alive. */
async function deathReason(owner: LockOwner, me: Identity, now: number, staleMs: number): Promise<string | undefined> {
  if (owner.bootId !== me.bootId) return 'taken before the last reboot';
  if (owner.takenAt - now > staleMs) return `stamped ${owner.takenAt - now} ms in the future (more than the ${staleMs} ms tolerated)`;
  if (owner.pidNs === me.pidNs) {
    if (owner.pid === me.pid) return owner.startTime === me.startTime ? undefined : 'pid reused';
    const proc = await readStartTime(owner.pid);
    if (!proc) return 'owner process is gone';
    if (proc.state === 'Z' || proc.state === 'X') return 'owner process is a zombie';
    if (proc.startTime !== owner.startTime) return 'owner pid was reused';
    return undefined;
  }
  return now - owner.takenAt > staleMs ? `held for ${now - owner.takenAt} ms by another PID namespace` : undefined;
}

// Taking, checking and releasing are synchronous: they run at the edges of, and inside, the
// owner's critical section, where every await is a wait to be scheduled again (state-file.ts);
// a waiter's look at a busy lock is one small read, synchronous too.
function createExclusive(path: string, content: string): boolean {
  let fd;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw new StoreIoError('create lock', path, error);
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

function removeIfSame(path: string, text: string): boolean {
  try {
    if (lockText(path).text !== text) return false;
    unlinkSync(path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw new StoreIoError('break lock', path, error);
  }
}

/** The longest pause between two looks at a busy lock (before its ±50 % jitter). */
const MAX_POLL_MS = 200;

export class FileLock {
  readonly path: string;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly maxWaitMs: number;
  private readonly staleMs: number;
  private readonly clock: Clock;

  constructor(options: FileLockOptions) {
    this.path = options.path;
    this.logger = options.logger;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxWaitMs = options.maxWaitMs ?? 6 * this.timeoutMs;
    this.staleMs = options.staleMs ?? 30_000;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Take the lock, waiting while live owners hold it: until one owner has held it for timeoutMs
   * (stuck), or for maxWaitMs in all while it keeps changing hands (each owner's section is
   * brief, but a node with many sidecars starting at once queues many; a waiter that gave up
   * whenever the lock had been busy for timeoutMs would fail although every owner was quick).
   */
  async acquire(): Promise<HeldLock> {
    const me = await ownIdentity();
    const start = this.clock.monotonic();
    let delay = 1;
    let nextReport = start + 1000;
    let lastOwner: string | undefined;
    let brokeStale = false;
    /** The owner (its lock file's text) seen last, and since when. */
    let holding: { text: string; since: number } | undefined;
    let handOvers = 0;
    for (;;) {
      const owner: LockOwner = { ...me, nonce: randomBytes(8).toString('hex'), takenAt: this.clock.now() };
      const text = JSON.stringify(owner);
      if (createExclusive(this.path, text)) return this.held(owner, text, brokeStale);

      const seen = observe(this.path, this.clock.now());
      if (seen.kind === 'gone') continue;
      let reason: string | undefined;
      if (seen.kind === 'owner') {
        lastOwner = `pid ${seen.owner.pid} (${seen.owner.pidNs})`;
        reason = await deathReason(seen.owner, me, this.clock.now(), this.staleMs);
      } else if (seen.ageMs > 2000) {
        // Created but never written: its owner died between open and write (or it is garbage).
        reason = 'unreadable and older than 2 s';
      } else if (-seen.ageMs > this.staleMs) {
        reason = `unreadable and modified ${-Math.round(seen.ageMs)} ms in the future`;
      }
      if (reason !== undefined && this.breakStale(seen.text, reason, me)) {
        brokeStale = true;
        continue;
      }

      const now = this.clock.monotonic();
      if (holding?.text !== seen.text) {
        if (holding !== undefined) handOvers += 1;
        holding = { text: seen.text, since: now };
      }
      const waited = now - start;
      const heldFor = now - holding.since;
      if (heldFor >= this.timeoutMs || waited >= this.maxWaitMs) throw new StoreLockTimeoutError(this.path, waited, lastOwner, { heldForMs: heldFor, handOvers });
      if (now >= nextReport) {
        this.logger.warn({ lockPath: this.path, waitedMs: Math.round(waited), owner: lastOwner, heldForMs: Math.round(heldFor), handOvers }, 'waiting for the refcount state lock');
        nextReport += 1000;
      }
      // Jittered exponential backoff, 1 ms doubling up to MAX_POLL_MS: a short section is seen
      // free within a few ms, and a crowd of waiters does not poll in lockstep. The cap is what a
      // crowd costs the owner: each poll is an open, a read and a stat, and with a 25 ms cap a
      // hundred sidecars starting at once on two cores polled ~4,000 times a second, starving the
      // owner of CPU (the lock changed hands ~2.6 times a second; bench/crowded-node.bench.ts
      // --store embedded --sidecars 100).
      await this.clock.sleep(delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, MAX_POLL_MS);
    }
  }

  /** Remove the lock file if it still holds `staleText`; serialised by the `.break` file. */
  private breakStale(staleText: string, reason: string, me: Identity): boolean {
    const breakPath = `${this.path}.break`;
    const breakText = JSON.stringify({ ...me, nonce: randomBytes(8).toString('hex'), takenAt: this.clock.now() });
    if (!createExclusive(breakPath, breakText)) {
      // Someone else is breaking. A breaker does two file operations, so a `.break` file that
      // outlives a few seconds belongs to a breaker that died; clear it and try next round.
      const seen = observe(breakPath, this.clock.now());
      const age = seen.kind === 'owner' ? this.clock.now() - seen.owner.takenAt : seen.kind === 'unreadable' ? seen.ageMs : 0;
      if (seen.kind !== 'gone' && (age > 5000 || -age > this.staleMs)) removeIfSame(breakPath, seen.text);
      return false;
    }
    try {
      const removed = removeIfSame(this.path, staleText);
      if (removed) this.logger.warn({ lockPath: this.path, reason }, 'broke a stale refcount state lock');
      return removed;
    } finally {
      try {
        unlinkSync(breakPath);
      } catch {
        // already gone
      }
    }
  }

  private held(owner: LockOwner, text: string, brokeStale: boolean): HeldLock {
    const path = this.path;
    let released = false;
    return {
      owner,
      brokeStale,
      stillHeld() {
        try {
          return Promise.resolve(lockText(path).text === text);
        } catch {
          return Promise.resolve(false);
        }
      },
      release() {
        if (released) return Promise.resolve();
        released = true;
        // Only our own lock: if it was broken as stale, the file now belongs to someone else.
        try {
          removeIfSame(path, text);
          return Promise.resolve();
        } catch (error) {
          return Promise.reject(error instanceof Error ? error : new Error(String(error)));
        }
      },
    };
  }
}
