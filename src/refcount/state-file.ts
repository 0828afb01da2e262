// The embedded store's state file: read and validate it, and replace it atomically so that a
// crash at any instant leaves either the old or the new state, never a torn one
// (write a temp file, fsync it, rename over, fsync the directory so the rename itself is durable).
// Before each replace the current file — read and validated in the same locked transaction — is
// kept as state.json.prev (a hard link: no copy), so a state.json damaged from outside (an edit,
// a disk fault, a hostile write to ROOT/.dvdi) leaves the last good state for the operator.
//
// Synchronous on purpose: these run while the node's state lock is held, and every await there
// is a trip through the thread pool and a wait to be scheduled again, with every other sidecar of
// the node queued behind the lock. Done in one go, a renew takes half as long (1.5 against 3.0 ms
// at one volume, bench/embedded-transaction.bench.ts) and blocks the event loop for its file
// operations and two fsyncs: milliseconds. The file is input like any other under the mount
// root: a symlink, a FIFO or a device there is refused without being opened for reading, and so
// is a file larger than any state this store writes.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { cleanExternalText } from '../common/external-text.js';
import { readRegularFileSync } from '../common/regular-file.js';
import * as z from '../common/shape-check.js';
import type { VolumeRecord } from './refcount-model.js';
import { StoreIoError, StoreStateCorruptError } from './refcount-errors.js';

export const STATE_FILE = 'state.json';
/** The state as it was before the last write. */
export const PREVIOUS_STATE_FILE = `${STATE_FILE}.prev`;
const TEMP_PREFIX = `${STATE_FILE}.tmp-`;

export interface StoreState {
  version: 1;
  /** Keyed by volumeId(). */
  volumes: Record<string, VolumeRecord>;
  /** Since when (store ms) each idle volume has been idle, keyed as `volumes`: for pruning. */
  idleSince?: Record<string, number>;
}

// z.number() refuses NaN and ±Infinity.
const finite = z.number();
const holderSchema = z.object({
  token: z.string(),
  node: z.string(),
  task: z.string(),
  role: z.enum(['holder', 'unmounter']),
  expiresAt: finite,
});
const nodeSchema = z.object({
  node: z.string(),
  state: z.enum(['absent', 'mounting', 'mounted', 'unmounting']),
  performer: z.optional(z.string()),
  mountpoint: z.optional(z.string()),
  mountId: z.optional(z.string()),
  staleMountId: z.optional(z.string()),
  lastLiveAt: finite,
});
const volumeSchema = z.object({
  driver: z.string(),
  name: z.string(),
  mode: z.optional(z.enum(['exclusive', 'shared'])),
  epoch: z.int().check(z.nonnegative()),
  lastGrantNode: z.optional(z.string()),
  holders: z.array(holderSchema),
  nodes: z.array(nodeSchema),
});
const stateSchema = z.object({ version: z.literal(1), volumes: z.record(z.string(), volumeSchema), idleSince: z.optional(z.record(z.string(), finite)) });

export function emptyState(): StoreState {
  return { version: 1, volumes: {} };
}

/** Parse and validate state text; throws StoreStateCorruptError naming `path` and the problem. */
export function parseState(text: string, path: string): StoreState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StoreStateCorruptError(path, `it is not JSON (${cleanExternalText(error instanceof Error ? error.message : String(error), 120)})`, error);
  }
  const result = z.safeParse(stateSchema, json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? 'the top level' : issue.path.map(String).join('.');
    const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more problems)` : '';
    throw new StoreStateCorruptError(path, `${cleanExternalText(where, 120)}: ${issue?.message ?? 'invalid'}${more}`, undefined);
  }
  return result.data;
}

/** Far above any node's state (a volume's record is ~300 bytes), far below what would hurt to read. */
export const MAX_STATE_BYTES = 16 * 1024 * 1024;

/**
 * The current state; a missing file is the empty state (first use on this node). Read only if it
 * is a regular file of a bounded size (readRegularFileSync: a FIFO would hang the lock's owner,
 * and with it the node; a symlink is not followed).
 */
export function readState(dir: string): StoreState {
  const path = join(dir, STATE_FILE);
  let got;
  try {
    got = readRegularFileSync(path, MAX_STATE_BYTES);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw new StoreIoError('read state', path, error);
  }
  switch (got.kind) {
    case 'file':
      return parseState(got.text, path);
    case 'symlink':
      throw new StoreStateCorruptError(path, 'it is a symbolic link, not a file this store wrote', undefined);
    case 'not-regular':
      throw new StoreStateCorruptError(path, 'it is not a regular file', undefined);
    case 'too-large':
      throw new StoreStateCorruptError(path, `it holds ${got.size} bytes, more than the ${MAX_STATE_BYTES} a state may`, undefined);
  }
}

export function writeStateAtomic(dir: string, state: StoreState): void {
  const path = join(dir, STATE_FILE);
  // A unique temp name: a writer whose lock was broken as stale must never share a temp file
  // with the new lock holder.
  const temp = join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      const bytes = Buffer.from(JSON.stringify(state));
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    keepPrevious(dir);
    renameSync(temp, path);
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // not created, or already renamed
    }
    throw new StoreIoError('write state', path, error);
  }
}

/**
 * state.json → state.json.prev: drop the old copy, hard-link the current file. No temp file, so
 * a writer killed in between leaves nothing to clean up, only (for a moment) no previous copy.
 */
function keepPrevious(dir: string): void {
  const previous = join(dir, PREVIOUS_STATE_FILE);
  try {
    unlinkSync(previous);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  try {
    linkSync(join(dir, STATE_FILE), previous);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // the first write: nothing to keep
    throw error;
  }
}

/** Remove temp files a dead writer left (call only while holding the lock). */
export function removeTempFiles(dir: string): number {
  const names = readdirSync(dir).filter((name) => name.startsWith(TEMP_PREFIX));
  for (const name of names) {
    try {
      unlinkSync(join(dir, name));
    } catch {
      // gone meanwhile
    }
  }
  return names.length;
}
