// Which directories the sidecar may bind at ROOT/<volume>: the one place that decides it. A bind
// source is a plugin's reply (input, not truth): it must be an absolute, normalised path of
// bounded length without control characters; not `/`, not the mount root, nothing inside it or
// above it; not a host system tree (REFUSED_TREES, REFUSED_EXACT); and, when the operator lists
// DVDI_PLUGIN_MOUNT_DIRS, under one of those (or under the plugin's own PropagatedMount).
// These are string rules on purpose: LinuxMounter then opens the path without following
// symlinks and requires the kernel's name for what it opened to be this same string, so the
// rules hold for the directory that is actually bound.
import { posix } from 'node:path';

/** PATH_MAX - 1 bytes: anything longer cannot be a path the kernel resolves. */
export const MAX_SOURCE_BYTES = 4095;
/** NAME_MAX bytes per component. */
export const MAX_COMPONENT_BYTES = 255;

/**
 * Host trees refused as a bind source, together with everything below them: the system's own
 * files, kernel interfaces, the super-user's home, and the container runtimes' state (every
 * container's filesystem, configuration and secrets live there). A managed plugin's own
 * PropagatedMount (`<DockerRootDir>/plugins/<id>/propagated-mount`) is the one exception, and
 * only for that plugin.
 */
export const REFUSED_TREES: readonly string[] = Object.freeze([
  '/bin',
  '/boot',
  '/dev',
  '/efi',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/proc',
  '/root',
  '/sbin',
  '/sys',
  '/usr',
  '/run/containerd',
  '/run/credentials',
  '/run/docker',
  '/run/secrets',
  '/run/systemd',
  '/run/user',
  '/var/lib/containerd',
  '/var/lib/docker',
  '/var/lib/kubelet',
  '/var/run',
]);

/**
 * Directories refused as a bind source themselves, while plugins legitimately mount below them
 * (`/var/lib/<plugin>/…`, `/mnt/<volume>`, `/run/<plugin>/…`): each one holds far more than
 * one volume (every user's files, every service's state).
 */
export const REFUSED_EXACT: readonly string[] = Object.freeze(['/home', '/media', '/mnt', '/opt', '/run', '/srv', '/tmp', '/var', '/var/lib', '/var/tmp']);

export type BindSourceRule =
  | 'absolute'
  | 'normalised'
  | 'length'
  | 'control-characters'
  | 'not-root'
  | 'not-mount-root'
  | 'not-inside-mount-root'
  | 'not-above-mount-root'
  | 'not-system-tree'
  | 'plugin-mount-dirs'
  | 'not-symlink'
  | 'directory';

export interface BindSourcePolicy {
  /** The real (preflighted) mount root. */
  realRoot: string;
  /** DVDI_PLUGIN_MOUNT_DIRS: when non-empty, nothing outside these (and pluginDirs) is bound. */
  allowedDirs: readonly string[];
  /** This plugin's own directories on the host (a managed plugin's PropagatedMount). */
  pluginDirs: readonly string[];
}

export interface BindSourceRefusal {
  rule: BindSourceRule;
  /** Why, in words, naming the offending part (already safe to print). */
  detail: string;
}

/** `path` equals `dir` or lies below it (both absolute and normalised). */
export function isWithin(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

// C0, DEL and C1 controls; the C1 range includes U+009B, a terminal's CSI.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

// A UTF-16 half without its partner: not a name the kernel can be given (it would become U+FFFD).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

// What JSON.stringify leaves as is but a terminal acts on: DEL, C1 controls, bidi overrides.
const INVISIBLE = /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A path as it may appear in a message: JSON-quoted, every control visible as an escape, capped. */
export function showPath(path: string): string {
  const escape = (text: string): string => JSON.stringify(text).replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return path.length <= 200 ? escape(path) : `${escape(path.slice(0, 200))}… (${Buffer.byteLength(path)} bytes)`;
}

/** The first rule `source` breaks, or undefined when the string is an acceptable bind source. */
export function bindSourceRefusal(source: string, policy: BindSourcePolicy): BindSourceRefusal | undefined {
  const bytes = Buffer.byteLength(source);
  if (bytes === 0 || bytes > MAX_SOURCE_BYTES) return { rule: 'length', detail: `the path is ${bytes} bytes long; a bind source has 1 to ${MAX_SOURCE_BYTES}` };
  if (CONTROL.test(source) || hasLoneSurrogate(source)) return { rule: 'control-characters', detail: 'the path contains control characters or malformed Unicode' };
  if (!posix.isAbsolute(source)) return { rule: 'absolute', detail: 'the path is not absolute' };
  if (posix.normalize(source) !== source || (source !== '/' && source.endsWith('/'))) {
    return { rule: 'normalised', detail: `the path is not normalised (it has "..", ".", "//" or a trailing "/"; normalised it reads ${showPath(posix.normalize(source))})` };
  }
  const long = source.split('/').find((part) => Buffer.byteLength(part) > MAX_COMPONENT_BYTES);
  if (long !== undefined) return { rule: 'length', detail: `a component of the path is longer than ${MAX_COMPONENT_BYTES} bytes` };
  if (source === '/') return { rule: 'not-root', detail: 'the path is the host\'s root directory' };
  const { realRoot } = policy;
  if (source === realRoot) return { rule: 'not-mount-root', detail: `the path is the mount root ${showPath(realRoot)}` };
  if (isWithin(source, realRoot)) return { rule: 'not-inside-mount-root', detail: `the path lies inside the mount root ${showPath(realRoot)} (other volumes, the node's state)` };
  if (isWithin(realRoot, source)) return { rule: 'not-above-mount-root', detail: `the path contains the mount root ${showPath(realRoot)}` };
  const own = policy.pluginDirs.find((dir) => isWithin(source, dir));
  const tree = REFUSED_TREES.find((dir) => isWithin(source, dir) && !(own !== undefined && own !== dir && isWithin(own, dir)));
  if (tree !== undefined) return { rule: 'not-system-tree', detail: `the path lies in the host system tree ${tree}` };
  if (REFUSED_EXACT.includes(source)) return { rule: 'not-system-tree', detail: `the path is the host directory ${source} itself` };
  if (policy.allowedDirs.length > 0 && own === undefined && !policy.allowedDirs.some((dir) => isWithin(source, dir))) {
    return { rule: 'plugin-mount-dirs', detail: `the path is outside DVDI_PLUGIN_MOUNT_DIRS (${policy.allowedDirs.join(':')})` };
  }
  return undefined;
}
