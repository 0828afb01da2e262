// DVDI_READY_FILE: created when the sidecar is ready, removed on shutdown. The sidecar runs as
// root and the file's directory may be writable by others (a shared /tmp, an emptyDir the app
// also mounts), so nothing planted at the path is ever followed or written through: the content
// goes into a fresh temp file beside it (O_CREAT|O_EXCL|O_NOFOLLOW) which is renamed over the
// path. rename(2) replaces the directory entry itself: a symlink there is replaced, not followed,
// and a hard link to someone's file loses only that name, never the file's content.
import { constants } from 'node:fs';
import { lstat, open, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export async function writeReadyFile(path: string, content: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await handle.writeFile(content, 'utf8');
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Remove the ready file if it is a plain file (ours); a symlink or directory put there is left alone. */
export async function removeReadyFile(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT') return;
    throw error;
  }
  if (stats.isFile()) await unlink(path).catch(() => undefined);
}
