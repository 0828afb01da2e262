// Reading a small file that lives where others could plant something (under the mount root:
// the store's state and lock files, the node's holder beats and ledger): opened without following
// a symlink and without blocking (a FIFO would block a plain open, and the reader with it, until
// someone wrote to it), and read only if it is a regular file of at most `maxBytes` — and then no
// more than it held when looked at, so a file that grows meanwhile is not read without end.
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';

export type RegularFileRead =
  | { kind: 'file'; text: string; mtimeMs: number }
  | { kind: 'symlink'; mtimeMs: number }
  | { kind: 'not-regular'; mtimeMs: number }
  | { kind: 'too-large'; size: number; mtimeMs: number };

/** What is at `path`; only a regular file of at most `maxBytes` is read. ENOENT (and other open errors) are thrown as they are. */
export function readRegularFileSync(path: string, maxBytes: number): RegularFileRead {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOOP') throw error;
    return { kind: 'symlink', mtimeMs: lstatSync(path).mtimeMs };
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) return { kind: 'not-regular', mtimeMs: info.mtimeMs };
    if (info.size > maxBytes) return { kind: 'too-large', size: info.size, mtimeMs: info.mtimeMs };
    const bytes = Buffer.alloc(info.size);
    let done = 0;
    while (done < bytes.length) {
      const got = readSync(fd, bytes, done, bytes.length - done, done);
      if (got === 0) break; // it shrank meanwhile
      done += got;
    }
    return { kind: 'file', text: bytes.subarray(0, done).toString('utf8'), mtimeMs: info.mtimeMs };
  } finally {
    closeSync(fd);
  }
}
