// A memory cgroup with a limit, as a container runtime makes one for a container given a memory
// limit (Kubernetes limits.memory, Marathon's mem): the kernel enforces the limit, and node sizes
// its heap from it (process.constrainedMemory(): under ~1 GiB, a young generation of 2 MiB, as
// --max-semi-space-size=1 gives). cgroup v2 where the unified hierarchy has the memory
// controller, else the v1 memory hierarchy. Root only. A process enters it through `wrap`, before
// node starts, so that node sees the limit from its first instruction.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface MemoryCgroup {
  dir: string;
  limitBytes: number;
  /** argv that runs `command args...` inside the cgroup (sh writes its PID, then execs: same PID). */
  wrap: (command: string, args: readonly string[]) => [string, string[]];
  /** The memory the cgroup is charged with now: its processes' own and the page cache they brought in first (what a kubelet's working set starts from). */
  usageBytes(): number;
  /** The most memory the cgroup was charged with (its processes' own and the page cache they brought in), when the kernel keeps it. */
  peakBytes(): number | undefined;
  /** How many of its processes the kernel's OOM killer has killed for the limit. */
  oomKills(): number;
  /** Removes the cgroup; its processes must have exited. */
  remove(): Promise<void>;
}

interface Hierarchy {
  base: string;
  limitFile: string;
  peakFile: string;
  usageFile: string;
  /** The file with an `oom_kill N` line. */
  eventsFile: string;
}

function hierarchy(): Hierarchy {
  const v2 = '/sys/fs/cgroup/cgroup.controllers';
  if (existsSync(v2) && readFileSync(v2, 'utf8').split(/\s+/).includes('memory')) return { base: '/sys/fs/cgroup', limitFile: 'memory.max', peakFile: 'memory.peak', usageFile: 'memory.current', eventsFile: 'memory.events' };
  if (existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) return { base: '/sys/fs/cgroup/memory', limitFile: 'memory.limit_in_bytes', peakFile: 'memory.max_usage_in_bytes', usageFile: 'memory.usage_in_bytes', eventsFile: 'memory.oom_control' };
  throw new Error('no memory cgroup controller: neither /sys/fs/cgroup (v2, with memory) nor /sys/fs/cgroup/memory (v1)');
}

/** Throws, saying why, where no memory cgroup can be made here. */
export async function createMemoryCgroup(label: string, limitBytes: number): Promise<MemoryCgroup> {
  if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0) throw new Error(`memory cgroup limit: a positive number of bytes, not ${limitBytes}`);
  const { base, limitFile, peakFile, usageFile, eventsFile } = hierarchy();
  if (limitFile === 'memory.max') {
    // A v2 child gets the memory controller only if its parent hands it down; turning that on
    // would change the machine for good, so it is asked for instead.
    const control = join(base, 'cgroup.subtree_control');
    if (!readFileSync(control, 'utf8').split(/\s+/).includes('memory')) throw new Error(`${control} does not hand the memory controller to child cgroups (echo +memory > ${control} would)`);
  }
  const dir = join(base, `dvdi-test-${label}-${process.pid}-${randomBytes(3).toString('hex')}`);
  await mkdir(dir);
  try {
    await writeFile(join(dir, limitFile), String(limitBytes));
  } catch (error) {
    await rmdir(dir);
    throw error;
  }
  const procs = join(dir, 'cgroup.procs');
  return {
    dir,
    limitBytes,
    usageBytes: () => Number(readFileSync(join(dir, usageFile), 'utf8').trim()),
    peakBytes() {
      try {
        return Number(readFileSync(join(dir, peakFile), 'utf8').trim());
      } catch {
        return undefined; // memory.peak is kernel 5.19 and later
      }
    },
    oomKills() {
      const line = readFileSync(join(dir, eventsFile), 'utf8').split('\n').find((l) => l.startsWith('oom_kill '));
      return Number(line?.split(' ')[1] ?? 0);
    },
    wrap: (command, args) => ['/bin/sh', ['-c', 'echo $$ > "$1" && shift && exec "$@"', 'sh', procs, command, ...args]],
    async remove() {
      // The kernel may take a moment to let go of a cgroup whose last process just exited.
      for (let attempt = 0; ; attempt++) {
        try {
          await rmdir(dir);
          return;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
          if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 50) throw new Error(`cannot remove the memory cgroup ${dir}: ${(error as Error).message}`, { cause: error });
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    },
  };
}
