// Where the reference plugin keeps things, and the path-safety rules that keep every file and
// mount it makes under its root. Layout (STORE = --pool DIR when given, else ROOT):
//   STORE/meta/<name>.json        options and creation time, written atomically at Create
//   STORE/images/<name>.img       loop backend: the sparse filesystem image
//   STORE/attachments/<name>.json pool mode: which node has the image attached
//   ROOT/volumes/<name>/          dir backend: the volume's data
//   ROOT/mounts/<name>/           the mountpoint handed to Docker
//   ROOT/state.json               per-(volume, ID) mount counts, so they survive a restart
// Names are checked against VOLUME_NAME_PATTERN before any path is built, every built path is
// checked to resolve to a direct child of its directory, and no component may be a symlink
// (a symlink planted at ROOT/mounts/x would otherwise make mount(8) follow it out of ROOT).
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { cleanExternalText, quoteExternalValue } from '../common/external-text.js';
import { VOLUME_NAME_PATTERN } from '../driver/protocol-types.js';
import { PluginError } from './plugin-errors.js';

export function validateVolumeName(name: unknown): string {
  if (typeof name !== 'string' || !VOLUME_NAME_PATTERN.test(name)) {
    const shown = quoteExternalValue(name, 160);
    throw new PluginError('DVDI_PLUGIN_BAD_NAME', `invalid volume name ${shown}: expected ${VOLUME_NAME_PATTERN.source}`, {
      context: { volume: typeof name === 'string' ? cleanExternalText(name, 160) : undefined },
      exitCode: 2,
    });
  }
  return name;
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

export function isNotFound(error: unknown): boolean {
  return errnoCode(error) === 'ENOENT';
}

function unsafe(path: string, why: string): PluginError {
  return new PluginError('DVDI_PLUGIN_UNSAFE_PATH', `refusing ${path}: ${why}`, { context: { path } });
}

/** Throws when `path` exists and is a symlink, or exists and is not of the expected kind. */
async function assertPlain(path: string, kind: 'dir' | 'file' | 'any'): Promise<boolean> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
  if (stats.isSymbolicLink()) throw unsafe(path, 'it is a symlink');
  if (kind === 'dir' && !stats.isDirectory()) throw unsafe(path, 'it is not a directory');
  if (kind === 'file' && !stats.isFile()) throw unsafe(path, 'it is not a regular file');
  return true;
}

export class PluginLayout {
  readonly metaDir: string;
  readonly imagesDir: string;
  readonly attachmentsDir: string;
  readonly volumesDir: string;
  readonly mountsDir: string;
  readonly stateFile: string;

  private constructor(
    /** Canonical (realpath) root: mountinfo reports canonical paths, so we compare with those. */
    readonly root: string,
    /** Canonical store: the shared pool, or the root itself. */
    readonly store: string,
    readonly pooled: boolean,
  ) {
    this.metaDir = join(store, 'meta');
    this.imagesDir = join(store, 'images');
    this.attachmentsDir = join(store, 'attachments');
    this.volumesDir = join(root, 'volumes');
    this.mountsDir = join(root, 'mounts');
    this.stateFile = join(root, 'state.json');
  }

  /** Create the root (and pool) directories and resolve them to canonical paths. */
  static async open(root: string, pool?: string): Promise<PluginLayout> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    const canonicalRoot = await realpath(resolve(root));
    let canonicalStore = canonicalRoot;
    if (pool !== undefined) {
      await mkdir(pool, { recursive: true, mode: 0o700 });
      canonicalStore = await realpath(resolve(pool));
    }
    const layout = new PluginLayout(canonicalRoot, canonicalStore, pool !== undefined);
    for (const dir of [layout.metaDir, layout.imagesDir, layout.volumesDir, layout.mountsDir, ...(layout.pooled ? [layout.attachmentsDir] : [])]) {
      await layout.ensureDir(dir);
    }
    return layout;
  }

  metaPath(name: string): string {
    return this.child(this.metaDir, `${validateVolumeName(name)}.json`);
  }
  imagePath(name: string): string {
    return this.child(this.imagesDir, `${validateVolumeName(name)}.img`);
  }
  attachmentPath(name: string): string {
    return this.child(this.attachmentsDir, `${validateVolumeName(name)}.json`);
  }
  dataPath(name: string): string {
    return this.child(this.volumesDir, validateVolumeName(name));
  }
  mountPath(name: string): string {
    return this.child(this.mountsDir, validateVolumeName(name));
  }

  /** The volume name of a mountpoint directly under ROOT/mounts, or undefined. */
  volumeOfMountPoint(mountPoint: string): string | undefined {
    if (dirname(mountPoint) !== this.mountsDir) return undefined;
    const name = basename(mountPoint);
    return VOLUME_NAME_PATTERN.test(name) ? name : undefined;
  }

  /**
   * Checks that `path` (built by this layout) and its parent directory are no symlinks and
   * are of the expected kind; returns whether `path` exists.
   */
  async check(path: string, kind: 'dir' | 'file'): Promise<boolean> {
    await this.checkParent(path);
    return assertPlain(path, kind);
  }

  /** Create a directory built by this layout (and refuse it if something else sits there). */
  async ensureDir(path: string): Promise<void> {
    this.assertInside(path);
    await this.checkParent(path);
    try {
      await mkdir(path, { mode: 0o755 });
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    }
    await assertPlain(path, 'dir');
  }

  private async checkParent(path: string): Promise<void> {
    this.assertInside(path);
    const parent = dirname(path);
    if (parent !== this.root && parent !== this.store) await assertPlain(parent, 'dir');
  }

  private assertInside(path: string): void {
    const resolved = resolve(path);
    const inside = [this.root, this.store].some((base) => resolved.startsWith(`${base}/`));
    if (!inside || resolved !== path) throw unsafe(path, `it is not inside ${this.root}`);
  }

  private child(dir: string, leaf: string): string {
    const path = resolve(dir, leaf);
    if (dirname(path) !== dir || basename(path) !== leaf) throw unsafe(path, `it is not a direct child of ${dir}`);
    return path;
  }
}
