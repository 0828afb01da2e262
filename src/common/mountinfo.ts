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
  if (!value.includes('\\')) return value; // nearly every path: no copy
  return value.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const entry = parseMountInfoLine(line);
    if (entry !== undefined) entries.push(entry);
  }
  return entries;
}

function parseMountInfoLine(line: string): MountInfoEntry | undefined {
  if (line.trim() === '') return undefined;
  const fields = line.split(' ');
  const separator = fields.indexOf('-', 6);
  if (separator < 0 || fields.length < separator + 3) return undefined; // not a mountinfo line: skip, never guess
  const [id, parentId, device, root, mountPoint, options] = fields;
  return {
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
  };
}

/**
 * The entries whose mount point is one of `paths`, exactly as
 * `parseMountInfo(text).filter((e) => paths.has(e.mountPoint))` answers them, without building
 * the others. The health check reads the table every 5 s for its task's few binds, while the
 * table holds every bind of every task on the node (each sidecar sees the shared mount root):
 * parsing all of it cost ~2 ms of CPU and ~500 KB of garbage a read at 426 lines under the
 * image's flags, against 0.3 ms and ~1 KB (bench/mountinfo-scan.bench.ts). Only the mount
 * point field of each line is looked at, in place; a field with a backslash (an escaped space,
 * tab, newline or backslash) is unescaped first, like parseMountInfo does.
 */
export function parseMountInfoAt(text: string, paths: ReadonlySet<string>): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  if (paths.size === 0) return entries;
  const candidates = [...paths]; // an indexed loop per line: iterating a Set allocates without the optimizing compiler
  let backslash = text.indexOf('\\');
  for (let start = 0; start < text.length; ) {
    const newline = text.indexOf('\n', start);
    const end = newline < 0 ? text.length : newline;
    // The mount point is the fifth field: skip four spaces of this line.
    let from = start;
    for (let skipped = 0; skipped < 4 && from >= 0; skipped++) {
      const space = text.indexOf(' ', from);
      from = space >= 0 && space < end ? space + 1 : -1;
    }
    if (from >= 0) {
      const space = text.indexOf(' ', from);
      const to = space >= 0 && space < end ? space : end;
      if (backslash >= 0 && backslash < from) backslash = text.indexOf('\\', from);
      const escaped = backslash >= 0 && backslash < to;
      if (escaped ? paths.has(unescapeMountPath(text.slice(from, to))) : fieldIsOneOf(text, from, to, candidates)) {
        const entry = parseMountInfoLine(text.slice(start, end));
        if (entry !== undefined) entries.push(entry);
      }
    }
    start = end + 1;
  }
  return entries;
}

function fieldIsOneOf(text: string, from: number, to: number, paths: readonly string[]): boolean {
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]!;
    if (path.length === to - from && text.startsWith(path, from)) return true;
  }
  return false;
}

export async function readMountInfo(path = '/proc/self/mountinfo'): Promise<MountInfoEntry[]> {
  return parseMountInfo(await readFile(path, 'utf8'));
}

/** The entries at `paths` only (see parseMountInfoAt). */
export async function readMountInfoAt(paths: ReadonlySet<string>, path = '/proc/self/mountinfo'): Promise<MountInfoEntry[]> {
  return parseMountInfoAt(await readFile(path, 'utf8'), paths);
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
