// A private, rshared mount root per test (never a system path, never one shared with another
// test), and a teardown that lazily unmounts everything below it (deepest first) so no test
// leaves a mount behind.
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { readMountInfo } from '../../src/common/mountinfo.js';

export interface TempRoot {
  /** The temp directory itself (holds `root` and anything else the test wants). */
  dir: string;
  /** An rshared bind mount of `dir/root`. */
  root: string;
  cleanup(): Promise<void>;
}

/**
 * A fresh directory of our own, made by mkdtemp(3) directly in the temp directory: the tests run
 * as root, and a fixed name in a world-writable /tmp could be made in advance (as a symlink) by
 * anyone.
 */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `dvdi-test-${prefix}-`));
}

/** Unmount (lazily, deepest first) every mount at or below `dir`. */
export async function unmountBelow(dir: string): Promise<void> {
  for (let pass = 0; pass < 5; pass++) {
    const mounts = (await readMountInfo()).map((m) => m.mountPoint).filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
    if (mounts.length === 0) return;
    mounts.sort((a, b) => b.length - a.length);
    for (const mp of mounts) {
      try {
        execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
      } catch {
        // already gone through propagation: fine
      }
    }
  }
}

/** `name`: the root's own directory name (one with a space or a backslash is written escaped in mountinfo). */
export async function makeSharedRoot(prefix = 'root', name = 'root'): Promise<TempRoot> {
  const dir = await makeTempDir(prefix);
  const root = join(dir, name);
  await mkdir(root);
  execFileSync('mount', ['--bind', root, root]);
  execFileSync('mount', ['--make-rshared', root]);
  return {
    dir,
    root,
    async cleanup() {
      await unmountBelow(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
