// The one list of error codes: every DvdiError (and subclass) carries one of these, so a new code
// is added here or the build fails. Codes are stable (CONTRACT: add, never rename); callers
// branch on them (`error.code === ErrorCode.DriverTimeout`), never on message text. Grouped by
// the module that raises them. mounter/mounter-error.ts keeps its closed subset (MounterErrorCode);
// MounterError hands its code to DvdiError, so a mounter code missing here fails the build too.

export const ErrorCode = {
  // common
  Internal: 'DVDI_INTERNAL',
  Aborted: 'DVDI_ABORTED',
  CommandFailed: 'DVDI_COMMAND_FAILED',
  // config
  ConfigInvalid: 'DVDI_CONFIG_INVALID',
  // driver client
  DriverNotFound: 'DVDI_DRIVER_NOT_FOUND',
  DriverBadSpec: 'DVDI_DRIVER_BAD_SPEC',
  DriverUnreachable: 'DVDI_DRIVER_UNREACHABLE',
  DriverTimeout: 'DVDI_DRIVER_TIMEOUT',
  DriverRefused: 'DVDI_DRIVER_REFUSED',
  DriverBadReply: 'DVDI_DRIVER_BAD_REPLY',
  DriverNotVolumeDriver: 'DVDI_DRIVER_NOT_VOLUME_DRIVER',
  DriverAborted: 'DVDI_DRIVER_ABORTED',
  // docker (managed plugins, task container)
  DockerUnavailable: 'DVDI_DOCKER_UNAVAILABLE',
  TaskContainerNotFound: 'DVDI_TASK_CONTAINER_NOT_FOUND',
  PluginDisabled: 'DVDI_PLUGIN_DISABLED',
  PluginNotVolumeDriver: 'DVDI_PLUGIN_NOT_VOLUME_DRIVER',
  // mounter (the same values as MounterErrorCode)
  MountRootNotShared: 'DVDI_MOUNT_ROOT_NOT_SHARED',
  MountNotPermitted: 'DVDI_MOUNT_NOT_PERMITTED',
  MountRootNotPrepared: 'DVDI_MOUNT_ROOT_NOT_PREPARED',
  MountInvalidName: 'DVDI_MOUNT_INVALID_NAME',
  MountPathUnsafe: 'DVDI_MOUNT_PATH_UNSAFE',
  MountSourceInvalid: 'DVDI_MOUNT_SOURCE_INVALID',
  MountSourceRefused: 'DVDI_MOUNT_SOURCE_REFUSED',
  MountRootOwned: 'DVDI_MOUNT_ROOT_OWNED',
  MountTargetBusy: 'DVDI_MOUNT_TARGET_BUSY',
  MountOptionsConflict: 'DVDI_MOUNT_OPTIONS_CONFLICT',
  MountFailed: 'DVDI_MOUNT_FAILED',
  UnmountFailed: 'DVDI_UNMOUNT_FAILED',
  // refcount store
  StoreUnavailable: 'DVDI_STORE_UNAVAILABLE',
  StoreTimeout: 'DVDI_STORE_TIMEOUT',
  StoreReply: 'DVDI_STORE_REPLY',
  StoreLockTimeout: 'DVDI_STORE_LOCK_TIMEOUT',
  StoreStateCorrupt: 'DVDI_STORE_STATE_CORRUPT',
  StoreRecordInvalid: 'DVDI_STORE_RECORD_INVALID',
  StoreIo: 'DVDI_STORE_IO',
  StoreClosed: 'DVDI_STORE_CLOSED',
  StoreMisuse: 'DVDI_STORE_MISUSE',
  StoreScriptLoad: 'DVDI_STORE_SCRIPT_LOAD',
  // lifecycle (attach, detach, fence)
  VolumeHeld: 'DVDI_VOLUME_HELD',
  VolumeBusy: 'DVDI_VOLUME_BUSY',
  VolumeMissing: 'DVDI_VOLUME_MISSING',
  VolumeInUse: 'DVDI_VOLUME_IN_USE',
  AccessModeConflict: 'DVDI_ACCESS_MODE_CONFLICT',
  LeaseLost: 'DVDI_LEASE_LOST',
  NoMountpoint: 'DVDI_NO_MOUNTPOINT',
  NotMounted: 'DVDI_NOT_MOUNTED',
  // dvdcli
  DvdcliUsage: 'DVDI_DVDCLI_USAGE',
  DvdcliInvalidArgument: 'DVDI_DVDCLI_INVALID_ARGUMENT',
  // reference plugin
  PluginBadRequest: 'DVDI_PLUGIN_BAD_REQUEST',
  PluginBadName: 'DVDI_PLUGIN_BAD_NAME',
  PluginBadOption: 'DVDI_PLUGIN_BAD_OPTION',
  PluginNoSuchVolume: 'DVDI_PLUGIN_NO_SUCH_VOLUME',
  PluginVolumeInUse: 'DVDI_PLUGIN_VOLUME_IN_USE',
  // --habits rclone: Unmount of an ID that holds nothing, refused as rclone's plugin does.
  PluginNotMounted: 'DVDI_PLUGIN_NOT_MOUNTED',
  PluginUnsafePath: 'DVDI_PLUGIN_UNSAFE_PATH',
  PluginAttachedElsewhere: 'DVDI_PLUGIN_ATTACHED_ELSEWHERE',
  PluginBackendFailed: 'DVDI_PLUGIN_BACKEND_FAILED',
  PluginUsage: 'DVDI_PLUGIN_USAGE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
