// /proc/self/mountinfo parsing (proc(5)): the one source of truth for what is mounted where.
// Shared by the mounter (binds under the mount root) and the reference plugin (rebuilding its
// state after a restart), so it lives here rather than in either.
import { readFile } from 'node:fs/promises';

export interface MountInfoEntry {
  id: number;
  parentId: number;
  /** "major:minor" of the filesystem's device. */
  device: string;
  /** Path inside the filesystem that forms the root of this mount (a bind of a subdir shows it). */
  root: string;
  mountPoint: string;
  /** Per-mount options (rw, ro, nosuid…). */
  options: string[];
  /** Optional fields such as `shared:12`, `master:3`, `propagate_from:2`, `unbindable`. */
  optionalFields: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

/** Undo the octal escapes the kernel uses for space, tab, newline and backslash. */
export function unescapeMountPath(value: string): string {
  return value.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 3) continue; // not a mountinfo line: skip, never guess
    const [id, parentId, device, root, mountPoint, options] = fields;
    entries.push({
      id: Number(id),
      parentId: Number(parentId),
      device: device ?? '',
      root: unescapeMountPath(root ?? ''),
      mountPoint: unescapeMountPath(mountPoint ?? ''),
      options: (options ?? '').split(','),
      optionalFields: fields.slice(6, separator),
      fsType: fields[separator + 1] ?? '',
      source: unescapeMountPath(fields[separator + 2] ?? ''),
      superOptions: (fields[separator + 3] ?? '').split(','),
    });
  }
  return entries;
}

export async function readMountInfo(path = '/proc/self/mountinfo'): Promise<MountInfoEntry[]> {
  return parseMountInfo(await readFile(path, 'utf8'));
}

/** Propagation of a mount as the kernel reports it in the optional fields. */
export function propagationOf(entry: MountInfoEntry): { shared: boolean; slave: boolean } {
  return {
    shared: entry.optionalFields.some((field) => field.startsWith('shared:')),
    slave: entry.optionalFields.some((field) => field.startsWith('master:')),
  };
}

/**
 * The mount that `path` lives on: the last entry (mounts stack) whose mount point is `path` or
 * an ancestor of it. `path` must be absolute and normalised.
 */
export function mountContaining(entries: readonly MountInfoEntry[], path: string): MountInfoEntry | undefined {
  let best: MountInfoEntry | undefined;
  for (const entry of entries) {
    const mp = entry.mountPoint;
    const inside = path === mp || mp === '/' || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    if (inside && (best === undefined || mp.length >= best.mountPoint.length)) best = entry;
  }
  return best;
}

/** Every entry whose mount point is exactly `path` (several when mounts are stacked). */
export function mountsAt(entries: readonly MountInfoEntry[], path: string): MountInfoEntry[] {
  return entries.filter((entry) => entry.mountPoint === path);
}
