// Directory handles that a symlink cannot redirect: open(2) with O_PATH|O_NOFOLLOW|O_DIRECTORY
// (a symlink as the last component fails, nothing is read), the kernel's own name for what was
// opened (/proc/self/fd/N), and the mount it lies on (/proc/self/fdinfo/N). mount(8) and
// umount(8) are then handed the descriptor itself as /proc/self/fd/3, so what they act on is
// the directory that was checked, not whatever the path names a moment later.
import { open, readFile, readlink, type FileHandle } from 'node:fs/promises';

// Linux open(2) flags (asm-generic; x86-64 and arm64 alike). Node exports O_NOFOLLOW and
// O_DIRECTORY but not O_PATH.
const O_PATH = 0o10000000;
const O_NOFOLLOW = 0o400000;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;

/** The fd number a child process sees for the first descriptor passed through `run({ fds })`. */
export const CHILD_FD = 3;
/** How a child refers to descriptor `index` (0-based) of `run({ fds })`. */
export function childFdPath(index = 0): string {
  return `/proc/self/fd/${CHILD_FD + index}`;
}

export interface DirectoryHandle {
  fd: number;
  /** The kernel's path of the opened directory (d_path), as this process sees it. */
  kernelPath: string;
  /** ID of the mount the opened directory lies on (the mountinfo ID). */
  mountId: number;
  close(): Promise<void>;
}

/**
 * Opens `path` as a directory handle without following a symlink at the last component.
 * Rejects with the errno of open(2) (ENOENT, ENOTDIR for a symlink or a file, ELOOP…).
 */
export async function openDirectoryHandle(path: string): Promise<DirectoryHandle> {
  const handle: FileHandle = await open(path, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
  try {
    const kernelPath = await readlink(`/proc/self/fd/${handle.fd}`);
    const fdinfo = await readFile(`/proc/self/fdinfo/${handle.fd}`, 'utf8');
    const match = /^mnt_id:\s*(\d+)\s*$/m.exec(fdinfo);
    if (match?.[1] === undefined) throw new Error(`no mnt_id in /proc/self/fdinfo/${handle.fd}`);
    return { fd: handle.fd, kernelPath, mountId: Number(match[1]), close: () => handle.close() };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
