// What a hardened bind costs: LinuxMounter.bind (policy, O_PATH handles, mount(8) with
// /proc/self/fd, the nosuid,nodev remount through a handle, mountinfo before/after) and
// unmountLazy (by handle), beside the plain path-based `mount --bind` + `umount --lazy` the
// mounter used before. Real mounts under a private rshared root; figures only, no assertions.
// Run (as root): node --import tsx bench/bind-mount.bench.ts
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../src/common/exec.js';
import { LinuxMounter } from '../src/mounter/linux-mounter.js';
import { makeSharedRoot } from '../test/helpers/mount-root.js';

const CYCLES = 40;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

const temp = await makeSharedRoot('bench-bind');
try {
  const source = join(temp.dir, 'plugin', 'v1');
  await mkdir(source, { recursive: true });
  const mounter = new LinuxMounter();
  const realRoot = await mounter.preflight(temp.root);
  const rows: Array<[string, number[], number[]]> = [];

  const hardenedBind: number[] = [];
  const hardenedUnmount: number[] = [];
  for (let i = 0; i < CYCLES; i++) {
    const target = await mounter.volumePath(realRoot, `h${i}`);
    let started = performance.now();
    await mounter.bind(source, target, { driver: 'bench' });
    hardenedBind.push(performance.now() - started);
    started = performance.now();
    await mounter.unmountLazy(target);
    hardenedUnmount.push(performance.now() - started);
  }
  rows.push(['LinuxMounter (handles, nosuid,nodev)', hardenedBind, hardenedUnmount]);

  const plainBind: number[] = [];
  const plainUnmount: number[] = [];
  for (let i = 0; i < CYCLES; i++) {
    const target = join(realRoot, `p${i}`);
    await mkdir(target);
    let started = performance.now();
    await run('mount', ['--bind', '--', source, target]);
    plainBind.push(performance.now() - started);
    started = performance.now();
    await run('umount', ['--lazy', '--', target]);
    plainUnmount.push(performance.now() - started);
    await rmdir(target);
  }
  rows.push(['plain mount --bind / umount --lazy by path', plainBind, plainUnmount]);

  process.stdout.write(`bind + unmount, ${CYCLES} cycles each, median ms (node ${process.version})\n`);
  process.stdout.write('| way | bind | unmount |\n|---|---|---|\n');
  for (const [name, bind, unmount] of rows) process.stdout.write(`| ${name} | ${median(bind).toFixed(1)} | ${median(unmount).toFixed(1)} |\n`);
} finally {
  await temp.cleanup();
}
