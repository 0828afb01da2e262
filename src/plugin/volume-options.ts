// Volume options of the reference plugin (`size`, `newfstype`, `overwritefs`, `preempt`):
// parsing and validation at Create. Keys are case-insensitive, as in REX-Ray/libStorage; an
// unknown key or a bad value is refused with a message naming the key, the value and the
// accepted form, so a typo never silently becomes a default.
import { quoteExternal, quoteExternalValue } from '../common/external-text.js';
import { PluginError } from './plugin-errors.js';

export const FS_TYPES = ['ext4', 'xfs'] as const;
export type FsType = (typeof FS_TYPES)[number];

export interface VolumeOptions {
  /** Image size in GiB (loop backend; the dir backend records but ignores it). */
  sizeGiB: number;
  fsType: FsType;
  /** Format on first mount even when the image already holds a filesystem. */
  overwriteFs: boolean;
  /** Pool mode: take the volume from another node's attachment (EBS-like force detach). */
  preempt: boolean;
}

export const DEFAULT_OPTIONS: Readonly<VolumeOptions> = Object.freeze({ sizeGiB: 1, fsType: 'ext4', overwriteFs: false, preempt: false });

const ACCEPTED = {
  size: 'a positive number of GiB, decimals allowed (e.g. 1, 0.05)',
  newfstype: `one of ${FS_TYPES.join('|')}`,
  overwritefs: 'a boolean (true|false)',
  preempt: 'a boolean (true|false)',
} as const;
type OptionKey = keyof typeof ACCEPTED;
export const OPTION_KEYS = Object.keys(ACCEPTED) as OptionKey[];

/** 1 TiB: far beyond any test, small enough that a unit mix-up (bytes for GiB) is caught. */
const MAX_SIZE_GIB = 1024;

function badValue(key: string, value: string): PluginError {
  const accepted = ACCEPTED[key as OptionKey];
  return new PluginError('DVDI_PLUGIN_BAD_OPTION', `option ${key}=${quoteExternalValue(value)} is invalid: expected ${accepted}`, {
    context: { option: key, value },
    exitCode: 2,
  });
}

function parseBoolean(key: string, value: string): boolean {
  const lower = value.trim().toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  throw badValue(key, value);
}

export function parseVolumeOptions(opts: Readonly<Record<string, string>> | null | undefined): VolumeOptions {
  const result: VolumeOptions = { ...DEFAULT_OPTIONS };
  const seen = new Map<OptionKey, string>();
  for (const [rawKey, value] of Object.entries(opts ?? {})) {
    const key = rawKey.trim().toLowerCase();
    if (!(key in ACCEPTED)) {
      throw new PluginError('DVDI_PLUGIN_BAD_OPTION', `unknown option ${quoteExternal(rawKey, 64)}: accepted keys are ${OPTION_KEYS.join(', ')} (case-insensitive)`, {
        context: { option: rawKey },
        exitCode: 2,
      });
    }
    const known = key as OptionKey;
    const earlier = seen.get(known);
    if (earlier !== undefined) {
      throw new PluginError('DVDI_PLUGIN_BAD_OPTION', `option ${key} given twice (as ${quoteExternalValue(earlier)} and ${quoteExternalValue(rawKey)})`, {
        context: { option: key },
        exitCode: 2,
      });
    }
    seen.set(known, rawKey);
    switch (known) {
      case 'size': {
        const trimmed = value.trim();
        const size = /^(\d+(\.\d*)?|\.\d+)$/.test(trimmed) ? Number(trimmed) : Number.NaN;
        if (!Number.isFinite(size) || size <= 0 || size > MAX_SIZE_GIB) throw badValue(key, value);
        result.sizeGiB = size;
        break;
      }
      case 'newfstype': {
        const fs = value.trim().toLowerCase();
        if (!(FS_TYPES as readonly string[]).includes(fs)) throw badValue(key, value);
        result.fsType = fs as FsType;
        break;
      }
      case 'overwritefs':
        result.overwriteFs = parseBoolean(key, value);
        break;
      case 'preempt':
        result.preempt = parseBoolean(key, value);
        break;
    }
  }
  return result;
}

/** Image size in bytes: GiB rounded up to whole 1 MiB so that the loop device has whole sectors. */
export function imageSizeBytes(sizeGiB: number): number {
  const mib = 1024 * 1024;
  return Math.ceil((sizeGiB * 1024 * mib) / mib) * mib;
}
