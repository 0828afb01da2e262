// Which node a mount root belongs to. Everything the sidecars of one node share lives under
// ROOT/.dvdi (embedded store, mount ledger, sweep lock), and the reconciler unmounts binds under
// ROOT that its node's records do not explain: two node IDs on one root would unmount each
// other's live volumes. So the first sidecar or command records its node ID in
// ROOT/.dvdi/node-id (created atomically), and any other ID is refused (exit 2) before anything
// is swept or mounted. ROOT/.dvdi itself must be a plain directory: a symlink there would send
// the state and the ledger elsewhere.
import { lstat, mkdir, open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file.js';
import { ErrorCode } from '../common/error-codes.js';
import { DvdiError, ExitCode, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { showPath } from './bind-source-policy.js';
import { MounterError, MounterErrorCode } from './mounter-error.js';

/** The node's state directory under the (real) mount root. */
export const STATE_DIR_NAME = '.dvdi';
export const NODE_ID_FILE_NAME = 'node-id';
/** A node ID is at most 253 characters (identityRule); anything longer in the file is not one. */
const MAX_NODE_ID_FILE_BYTES = 512;

export class MountRootOwnedError extends DvdiError {
  constructor(message: string, context: { root: string; recorded: string; nodeId: string; source: string }) {
    super(ErrorCode.MountRootOwned, message, { context, exitCode: ExitCode.Config });
  }
}

export interface MountRootClaim {
  /** The real mount root (as preflight answered it). */
  realRoot: string;
  nodeId: string;
  /** Where nodeId came from: DVDI_NODE_ID, HOST, NODE_NAME or `hostname`. */
  nodeIdSource: string;
  logger: Logger;
}

/**
 * ROOT/.dvdi as a plain directory (created 0700 when missing); refuses a symlink or a file there.
 * Returns its path.
 */
export async function ensureStateDir(realRoot: string): Promise<string> {
  const dir = join(realRoot, STATE_DIR_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const info = await lstat(dir);
      if (info.isSymbolicLink() || !info.isDirectory()) {
        throw new MounterError(
          MounterErrorCode.PathUnsafe,
          dir,
          `${dir} is ${info.isSymbolicLink() ? 'a symlink' : 'not a directory'}; the node's state (store, mount ledger, node ID) must be a plain directory under the mount root: remove it (nothing is lost that a restart does not rebuild) and start again`,
        );
      }
      return dir;
    } catch (error) {
      if (error instanceof MounterError || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    try {
      await mkdir(dir, { mode: 0o700 });
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // created meanwhile: look again
    }
  }
  return dir;
}

async function readNodeIdFile(file: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MounterError(MounterErrorCode.PathUnsafe, file, `cannot read ${file} (not following symlinks): ${describeError(error)}`, { cause: error });
  }
  try {
    const buffer = Buffer.alloc(MAX_NODE_ID_FILE_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8').trim();
    // A node ID is identityRule's: no spaces or controls (any \s, or a code point below 0x21).
    if (bytesRead > MAX_NODE_ID_FILE_BYTES || text === '' || [...text].some((c) => c.codePointAt(0)! < 0x21 || /[\s\u007f-\u009f]/.test(c))) {
      throw new MounterError(MounterErrorCode.PathUnsafe, file, `${file} does not hold a node ID (expected one line with the node's DVDI_NODE_ID, got ${showPath(text.slice(0, 80))})`);
    }
    return text;
  } finally {
    await handle.close();
  }
}

/**
 * Makes sure `realRoot` belongs to `nodeId`: records it on first use, refuses another ID with
 * exit 2, and warns when the ID is only the hostname (a container's hostname is its ID, which
 * differs per task). Call it after preflight, before the store, the sweep or any mount.
 */
export async function claimMountRoot(claim: MountRootClaim): Promise<void> {
  const { realRoot, nodeId, nodeIdSource, logger } = claim;
  if (nodeIdSource === 'hostname') {
    logger.warn(
      { nodeId },
      `DVDI_NODE_ID is not set (nor HOST or NODE_NAME): using the hostname ${JSON.stringify(nodeId)} as node ID. In a container the hostname is the container ID, different for every task, and the mount root refuses a second ID: set DVDI_NODE_ID to the host's name on every sidecar and command of this host`,
    );
  }
  const file = join(await ensureStateDir(realRoot), NODE_ID_FILE_NAME);
  let recorded = await readNodeIdFile(file);
  if (recorded === undefined) {
    try {
      await writeFileAtomic(file, `${nodeId}\n`, { exclusive: true });
      logger.info({ root: realRoot, nodeId }, 'mount root recorded as belonging to this node ID');
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new MounterError(MounterErrorCode.MountFailed, file, `cannot record the node ID in ${file}: ${describeError(error)}`, { cause: error });
      }
      recorded = await readNodeIdFile(file); // another process recorded its ID first: that one wins
    }
  }
  if (recorded === nodeId) return;
  const shownRecorded = JSON.stringify(recorded ?? '');
  throw new MountRootOwnedError(
    `mount root ${realRoot} belongs to node ID ${shownRecorded} (recorded in ${file}), but this process has node ID ${JSON.stringify(nodeId)} (from ${nodeIdSource}); `
      + `every sidecar and command on one mount root must use the same node ID, or they unmount each other's volumes. Set DVDI_NODE_ID=${recorded ?? ''} `
      + "(e.g. the host's name; Kubernetes: env DVDI_NODE_ID from fieldRef spec.nodeName), or give this process its own DVDI_MOUNT_ROOT. "
      + `To hand the root to another node ID, stop everything that uses it, check that nothing is mounted below it, and delete ${file}`,
    { root: realRoot, recorded: recorded ?? '', nodeId, source: nodeIdSource },
  );
}
