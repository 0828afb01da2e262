// Small JSON files written so that a reader (or a restart after a crash) sees either the old
// or the new content, never a torn one: write a unique temp file, fsync it, rename over.
import { link, open, rename, rm } from 'node:fs/promises';

let sequence = 0;

export async function writeFileAtomic(path: string, content: string, options: { exclusive?: boolean } = {}): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${++sequence}`;
  const handle = await open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    if (options.exclusive === true) {
      // link(2) fails with EEXIST instead of replacing: "create only if absent", atomically.
      await link(temp, path);
    } else {
      await rename(temp, path);
    }
  } finally {
    await rm(temp, { force: true });
  }
}

export function writeJsonAtomic(path: string, value: unknown, options: { exclusive?: boolean } = {}): Promise<void> {
  return writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, options);
}
