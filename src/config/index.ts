// The public face of config/: the only module that reads the environment. main.ts calls
// loadSidecarConfig(process.env, os.hostname()), then — with the task container's labels when
// DVDI_TASK_CONTAINER is set — loadVolumeRequests(process.env, labels); both throw ConfigError
// (exit 2) listing every problem. ConfigError.combine joins the two when both fail.
export { ConfigError, type ConfigProblem } from './config-error.js';
export { describeConfig, type JsonValue } from './config-description.js';
export { REDACTED, redactOptions, redactUrl } from './secret-redaction.js';
export {
  ACCEPTED_VOLUME_VARIABLES,
  FALLBACK_VARIABLES,
  SETTINGS,
  VOLUME_KEYS,
  isKnownVariable,
  type SettingRow,
  type VolumeKeyRow,
} from './settings-table.js';
export { loadSidecarConfig, type Config, type Env } from './sidecar-config.js';
export { DRIVER_NAME_PATTERN, OPTION_KEY_PATTERN, type HostPort } from './value-rules.js';
export { loadVolumeRequests, type ValueOrigin, type VolumeRequests, type VolumeSource, type VolumeSpec } from './volume-requests.js';
