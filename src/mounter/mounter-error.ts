// The mounter's error type: one class, a closed set of stable codes, exit code 3 (CONTRACT:
// "driver/mount failure"). Messages name the path, the command and its stderr, and say how to
// fix the host when the fix is on the host (propagation, capabilities).
import { DvdiError, ExitCode, type ErrorContext } from '../common/errors.js';

export const MounterErrorCode = {
  /** The mount root is not a mount point, or its mount is not tagged `shared:`. */
  RootNotShared: 'DVDI_MOUNT_ROOT_NOT_SHARED',
  /** No CAP_SYS_ADMIN, or mount(2) refused with EPERM (AppArmor, user namespace…). */
  NotPermitted: 'DVDI_MOUNT_NOT_PERMITTED',
  /** A path was used under a mount root that `preflight` has not checked. */
  RootNotPrepared: 'DVDI_MOUNT_ROOT_NOT_PREPARED',
  /** The volume name does not match VOLUME_NAME_PATTERN. */
  InvalidName: 'DVDI_MOUNT_INVALID_NAME',
  /** A path escapes the mount root, is a symlink, or a root component was swapped for one. */
  PathUnsafe: 'DVDI_MOUNT_PATH_UNSAFE',
  /** The bind source is missing or not a directory. */
  SourceInvalid: 'DVDI_MOUNT_SOURCE_INVALID',
  /** The bind source breaks a rule of bind-source-policy.ts (system tree, mount root, symlink…). */
  SourceRefused: 'DVDI_MOUNT_SOURCE_REFUSED',
  /** Something other than the requested source is mounted at the target. */
  TargetBusy: 'DVDI_MOUNT_TARGET_BUSY',
  /** The requested source is mounted at the target, but rw where ro was asked, or the reverse. */
  OptionsConflict: 'DVDI_MOUNT_OPTIONS_CONFLICT',
  /** mount(8) failed, timed out, or did not produce the mount it should have. */
  MountFailed: 'DVDI_MOUNT_FAILED',
  /** umount(8) failed while a mount is still at the target. */
  UnmountFailed: 'DVDI_UNMOUNT_FAILED',
} as const;
export type MounterErrorCode = (typeof MounterErrorCode)[keyof typeof MounterErrorCode];

export class MounterError extends DvdiError {
  declare readonly code: MounterErrorCode;
  /** The path the failed operation was about. */
  readonly path: string;

  constructor(code: MounterErrorCode, path: string, message: string, options: { context?: ErrorContext; cause?: unknown } = {}) {
    super(code, message, { context: { path, ...(options.context ?? {}) }, cause: options.cause, exitCode: ExitCode.MountFailed });
    this.path = path;
  }
}

/** The host-side fix for a mount root without shared propagation. */
export function sharedRootFix(root: string): string {
  return [
    `on the host run: mount --bind ${root} ${root} && mount --make-rshared ${root}`,
    `(make it permanent with a systemd mount unit or an fstab line "${root} ${root} none rbind,rshared 0 0");`,
    `in Docker mount it with -v ${root}:${root}:rshared;`,
    'in Kubernetes set mountPropagation: Bidirectional on the sidecar\'s volumeMount (and HostToContainer on the app\'s)',
  ].join(' ');
}

/** The fix for a sidecar that may not mount. */
export function capabilityFix(): string {
  return 'the sidecar needs CAP_SYS_ADMIN: run it with --cap-add SYS_ADMIN --security-opt apparmor=unconfined '
    + '(Kubernetes: securityContext.capabilities.add: ["SYS_ADMIN"]; Bidirectional propagation also requires privileged: true)';
}
