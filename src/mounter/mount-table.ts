// Pure readings of /proc/self/mountinfo and /proc/self/status for the mounter: which mount is
// visible at a path when mounts are stacked, what (device, root) a bind of a path shows, the
// volume binds below a root, and whether CAP_SYS_ADMIN is effective. Kept free of I/O so unit
// tests can feed recorded tables.
import { posix } from 'node:path';
import type { MountInfoEntry } from '../common/mountinfo.js';
import type { BindMount } from './mounter.js';
import { volumeNameOf } from './path-safety.js';

/** capability(7) number of CAP_SYS_ADMIN. */
export const CAP_SYS_ADMIN = 21;

/**
 * The mount visible at `path` among several stacked there: the one no other mount at the same
 * path sits on. Undefined when nothing is mounted exactly at `path`.
 */
export function topMountAt(entries: readonly MountInfoEntry[], path: string): MountInfoEntry | undefined {
  const here = entries.filter((entry) => entry.mountPoint === path);
  const covered = new Set(here.map((entry) => entry.parentId));
  const uncovered = here.filter((entry) => !covered.has(entry.id));
  return uncovered.at(-1) ?? here.at(-1);
}

/** The visible mount that holds `path` (absolute, normalised): deepest mount point, top of its stack. */
export function visibleMountOf(entries: readonly MountInfoEntry[], path: string): MountInfoEntry | undefined {
  let bestPoint: string | undefined;
  for (const entry of entries) {
    const mp = entry.mountPoint;
    const inside = path === mp || mp === '/' || path.startsWith(`${mp}/`);
    if (inside && (bestPoint === undefined || mp.length > bestPoint.length)) bestPoint = mp;
  }
  return bestPoint === undefined ? undefined : topMountAt(entries, bestPoint);
}

/** The (device, root-in-fs) that a bind of `path`, which lives on `mount`, shows in mountinfo. */
export function bindIdentityOf(mount: MountInfoEntry, path: string): { device: string; root: string } {
  const relative = posix.relative(mount.mountPoint, path);
  return { device: mount.device, root: relative === '' ? mount.root : posix.join(mount.root, relative) };
}

export function isReadOnly(entry: MountInfoEntry): boolean {
  return entry.options.includes('ro');
}

/** Every mount directly at ROOT/<valid name>, grouped per name (top of the stack described). */
export function bindsUnder(entries: readonly MountInfoEntry[], realRoot: string): BindMount[] {
  const counts = new Map<string, number>();
  for (const entry of entries) {
    const name = volumeNameOf(realRoot, entry.mountPoint);
    if (name !== undefined) counts.set(entry.mountPoint, (counts.get(entry.mountPoint) ?? 0) + 1);
  }
  const binds: BindMount[] = [];
  for (const [path, mountCount] of counts) {
    const top = topMountAt(entries, path);
    if (top === undefined) continue;
    binds.push({
      name: posix.basename(path),
      path,
      device: top.device,
      rootInFs: top.root,
      fsType: top.fsType,
      source: top.source,
      readOnly: isReadOnly(top),
      mountCount,
    });
  }
  return binds.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Whether the `CapEff:` line of a /proc/<pid>/status text has capability `bit` set. */
export function hasEffectiveCapability(statusText: string, bit: number): boolean {
  const match = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText);
  if (match?.[1] === undefined) return false;
  return ((BigInt(`0x${match[1]}`) >> BigInt(bit)) & 1n) === 1n;
}

/**
 * mount(8)'s ways of saying mount(2) returned EPERM. External text is the only signal a
 * subprocess gives; this is the one place that reads it.
 */
export function saysPermissionDenied(stderr: string): boolean {
  return /permission denied|must be superuser|operation not permitted/i.test(stderr);
}
