// Where a volume may appear: exactly one level below the real mount root, under a name that
// matches the contract's pattern. Pure string checks here; the filesystem checks (symlinks,
// a root swapped after preflight) are in LinuxMounter, which calls these first.
import { posix } from 'node:path';
import { quoteExternal } from '../common/external-text.js';
import { VOLUME_NAME_PATTERN } from '../driver/protocol-types.js';
import { MounterError, MounterErrorCode } from './mounter-error.js';

/** A name as it can be shown in a message: quoted, cleaned of control and bidi characters, cut
 * when very long. The reconciler's names come from the store, so any text may arrive here. */
export function showName(name: string): string {
  return quoteExternal(name, 77);
}

export function isValidVolumeName(name: string): boolean {
  return VOLUME_NAME_PATTERN.test(name);
}

/**
 * ROOT/<name> for an absolute, normalised real root. Throws InvalidName for a name outside the
 * pattern and PathUnsafe if the result would not sit directly below the root (a second line of
 * defence: the pattern already excludes `/`, `..` and a leading `-`).
 */
export function volumePathUnder(realRoot: string, name: string): string {
  if (!posix.isAbsolute(realRoot) || posix.normalize(realRoot) !== realRoot || (realRoot.endsWith('/') && realRoot !== '/')) {
    throw new MounterError(MounterErrorCode.PathUnsafe, realRoot, `mount root ${realRoot} is not an absolute normalised path`);
  }
  if (!isValidVolumeName(name)) {
    throw new MounterError(
      MounterErrorCode.InvalidName,
      realRoot,
      `volume name ${showName(name)} is not allowed: names match ${VOLUME_NAME_PATTERN.source} (a letter or digit, then up to 127 of letters, digits, "_", "." and "-")`,
      { context: { name: showName(name) } },
    );
  }
  const path = posix.join(realRoot, name);
  if (posix.dirname(path) !== realRoot || posix.basename(path) !== name) {
    throw new MounterError(MounterErrorCode.PathUnsafe, path, `volume path ${path} would not be directly below the mount root ${realRoot}`, {
      context: { name: showName(name) },
    });
  }
  return path;
}

/** If `path` sits directly below `realRoot` under a valid volume name, that name. */
export function volumeNameOf(realRoot: string, path: string): string | undefined {
  if (posix.dirname(path) !== realRoot) return undefined;
  const name = posix.basename(path);
  return isValidVolumeName(name) ? name : undefined;
}
