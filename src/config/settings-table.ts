// The table of every variable config/ reads: names, defaults, meanings and accepted forms.
// Docs and the manifest checks (every DVDI_* variable a manifest sets must be known here) use
// it through SETTINGS, VOLUME_KEYS and isKnownVariable, so the contract is written down once.
import { LOG_LEVELS } from '../common/logger.js';
import {
  absolutePathRule,
  booleanRule,
  containerPathRule,
  containerRefRule,
  cronRule,
  dockerHostRule,
  driverNameRule,
  enumRule,
  identityRule,
  integerRule,
  listenAddressRule,
  mountRootRule,
  optionsRule,
  pathListRule,
  redisPrefixRule,
  clusterNodesRule,
  redisUrlRule,
  sentinelNameRule,
  sentinelsRule,
  volumeNameRule,
  type ValueRule,
} from './value-rules.js';

export interface SettingRow {
  readonly name: string;
  /** The default as documented; undefined = unset (the feature is off). */
  readonly default: string | undefined;
  readonly description: string;
  readonly accepted: string;
}

/** Values of DVDI_HTTP_ENDPOINTS. */
export const HTTP_ENDPOINT_SETS = ['all', 'probes'] as const;

export const DEFAULT_MOUNT_ROOT = '/var/lib/dvdi/volumes';
export const DEFAULT_PLUGIN_DIRS = '/run/docker/plugins:/etc/docker/plugins:/usr/lib/docker/plugins';

/** The rule and raw default of each sidecar setting; SETTINGS is the documented view of it. */
export const SETTING_RULES = {
  DVDI_NODE_ID: { rule: identityRule, default: undefined, documentedDefault: '$HOST, else $NODE_NAME, else the hostname', description: "this node's identity" },
  DVDI_TASK_ID: { rule: identityRule, default: undefined, documentedDefault: '$MESOS_TASK_ID, else $POD_UID, else the hostname', description: "this task's identity" },
  DVDI_MOUNT_ROOT: { rule: mountRootRule, default: DEFAULT_MOUNT_ROOT, description: 'shared (rshared) host directory; volume V appears at ROOT/V' },
  DVDI_REDIS_URL: { rule: redisUrlRule, default: undefined, description: 'Redis holding the cross-node reference counts (user, password, db in the URL); unset with no sentinels = the embedded single-node store. With sentinels it supplies only user, password, db and TLS' },
  DVDI_REDIS_SENTINELS: { rule: sentinelsRule, default: undefined, description: 'Redis Sentinel addresses; needs DVDI_REDIS_SENTINEL_NAME' },
  DVDI_REDIS_SENTINEL_NAME: { rule: sentinelNameRule, default: undefined, description: 'master name the sentinels watch; only with DVDI_REDIS_SENTINELS' },
  DVDI_REDIS_CLUSTER_NODES: { rule: clusterNodesRule, default: undefined, description: 'Redis Cluster seed nodes (host:port,…); user, password and TLS come from DVDI_REDIS_URL (its host is not used, its db must be 0); not with DVDI_REDIS_SENTINELS' },
  DVDI_REDIS_PREFIX: { rule: redisPrefixRule, default: 'dvdi', description: 'key prefix in Redis' },
  DVDI_HTTP_ADDR: { rule: listenAddressRule, default: '0.0.0.0:9650', description: 'listen address for /readyz, /livez, /metrics, /status; ":PORT" = all IPv4 interfaces' },
  DVDI_HTTP_ENDPOINTS: { rule: enumRule(HTTP_ENDPOINT_SETS), default: 'all', description: '`all`: /readyz, /livez, /metrics and /status; `probes`: only /readyz, /livez and /metrics (/status names the node, task, volumes, host paths and holders)' },
  DVDI_READY_FILE: { rule: absolutePathRule, default: undefined, description: 'file created when ready, removed on shutdown' },
  DVDI_LEASE_TTL_MS: { rule: integerRule(1000), default: '15000', description: 'lease TTL; renewed every TTL/3' },
  DVDI_ACQUIRE_TIMEOUT_MS: { rule: integerRule(1), default: '60000', description: 'how long to wait for a volume held elsewhere' },
  DVDI_MOUNT_TIMEOUT_MS: { rule: integerRule(1), default: '120000', description: 'limit of a driver Create/Mount call' },
  DVDI_UNMOUNT_TIMEOUT_MS: { rule: integerRule(1), default: '60000', description: 'limit of a driver Unmount call, and of every call other than Create and Mount (Get, Path, List, Remove, Capabilities, Activate)' },
  DVDI_SHUTDOWN_TIMEOUT_MS: { rule: integerRule(1), default: '30000', description: "the sidecar's own limit for detaching every volume after SIGTERM (keep it below the orchestrator's grace period)" },
  DVDI_RECONCILE_CRON: { rule: cronRule, default: '*/30 * * * * *', description: 'node-cron expression for the reconciler' },
  DVDI_PLUGIN_MOUNT_DIRS: {
    rule: pathListRule,
    default: undefined,
    description:
      "directories (real paths) under which a plugin's reported mount point may lie; a managed plugin's PropagatedMount is added by itself. Unset: any directory outside the refused set (/, the mount root and what is inside or above it, host system trees; see docs/security.md)",
  },
  DVDI_PLUGIN_DIRS: { rule: pathListRule, default: DEFAULT_PLUGIN_DIRS, description: 'plugin discovery path (.sock, .spec, .json files), searched in order' },
  DVDI_TASK_CONTAINER: { rule: containerRefRule, default: undefined, description: 'id/name of the app container to read DVDI_VOLUME_* labels from and watch' },
  DOCKER_HOST: { rule: dockerHostRule, default: 'unix:///var/run/docker.sock', description: 'Docker engine for DVDI_TASK_CONTAINER and managed plugins' },
  DVDI_EVENT_LOOP_RESOLUTION_MS: {
    rule: integerRule(1, 60_000),
    default: '1000',
    description:
      "sampling interval of prom-client's nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds, whose values include it (at rest they read about this interval); nodejs_eventloop_lag_seconds, measured at each scrape, does not depend on it. prom-client's own 10 wakes the sidecar 100 times a second: an idle sidecar then used 0.23 s of CPU in 30 s against 0.05 s at 1000 (Node 22), on every task of a node",
  },
  DVDI_LOG_LEVEL: { rule: enumRule(LOG_LEVELS), default: 'info', description: 'log level; logs are JSON lines on stderr' },
} as const satisfies Record<string, { rule: ValueRule<unknown>; default: string | undefined; documentedDefault?: string; description: string }>;

export type SettingName = keyof typeof SETTING_RULES;

export const SETTINGS: readonly SettingRow[] = Object.freeze(
  Object.entries(SETTING_RULES).map(([name, row]) =>
    Object.freeze({
      name,
      default: 'documentedDefault' in row ? row.documentedDefault : row.default,
      description: row.description,
      accepted: row.rule.accepted,
    }),
  ),
);

/** Variables read only as fallbacks of DVDI_NODE_ID / DVDI_TASK_ID (set by the platforms). */
export const FALLBACK_VARIABLES = Object.freeze(['HOST', 'NODE_NAME', 'MESOS_TASK_ID', 'POD_UID'] as const);

export const VOLUME_VARIABLE_PREFIX = 'DVDI_VOLUME_';
export const MARATHON_LABEL_PREFIX = 'MARATHON_APP_LABEL_';

export const VOLUME_KEY_RULES = {
  NAME: { rule: volumeNameRule, default: undefined, description: 'volume name; a slot without it is unused' },
  DRIVER: { rule: driverNameRule, default: 'rexray', description: 'plugin name (managed plugins like rexray/ebs:latest too)' },
  OPTS: { rule: optionsRule, default: undefined, description: "k=v,k=v passed to the driver's Create; values are secrets and are never printed" },
  EXPLICITCREATE: { rule: booleanRule, default: 'false', description: 'true: never create, fail if absent' },
  CONTAINERPATH: { rule: containerPathRule, default: undefined, description: 'where the app expects the volume; reported in /status' },
  ACCESS: { rule: enumRule(['exclusive', 'shared'] as const), default: 'exclusive', description: 'exclusive (one node at a time) or shared (many nodes)' },
  PREEMPT: { rule: booleanRule, default: 'false', description: 'true: take an exclusive volume from another node' },
  READONLY: { rule: booleanRule, default: 'false', description: 'true: the bind under the mount root is read-only' },
} as const satisfies Record<string, { rule: ValueRule<unknown>; default: string | undefined; description: string }>;

export type VolumeVariableKey = keyof typeof VOLUME_KEY_RULES;
export const VOLUME_VARIABLE_KEYS = Object.freeze(Object.keys(VOLUME_KEY_RULES) as VolumeVariableKey[]);

/** mesos-module-dvdi's per-volume dvdcli path: accepted for compatibility and ignored. */
export const IGNORED_VOLUME_KEYS = Object.freeze(['DVDCLI'] as const);

export interface VolumeKeyRow {
  /** The key; the variable is DVDI_VOLUME_<key>[n] with n empty or 0-9. */
  readonly key: string;
  readonly default: string | undefined;
  readonly description: string;
  readonly accepted: string;
}

export const VOLUME_KEYS: readonly VolumeKeyRow[] = Object.freeze([
  ...Object.entries(VOLUME_KEY_RULES).map(([key, row]) =>
    Object.freeze({ key, default: row.default, description: row.description, accepted: row.rule.accepted }),
  ),
  Object.freeze({ key: 'DVDCLI', default: undefined, description: 'mesos-module-dvdi compatibility: accepted and ignored (with a warning)', accepted: 'anything' }),
]);

export const SLOT_SUFFIXES = Object.freeze(['', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const);

export type ParsedVolumeVariable =
  | { kind: 'key'; key: VolumeVariableKey; slot: number; suffix: string }
  | { kind: 'ignored'; key: string; slot: number; suffix: string };

/** `NAME3` → key NAME, slot 3; undefined when not a known key with a suffix of "" or 0-9. */
export function parseVolumeVariableSuffix(rest: string): ParsedVolumeVariable | undefined {
  const m = /^([A-Z]+)([0-9]?)$/.exec(rest);
  if (!m) return undefined;
  const key = m[1] ?? '';
  const suffix = m[2] ?? '';
  const slot = suffix === '' ? 0 : Number(suffix);
  if (Object.hasOwn(VOLUME_KEY_RULES, key)) return { kind: 'key', key: key as VolumeVariableKey, slot, suffix };
  if ((IGNORED_VOLUME_KEYS as readonly string[]).includes(key)) return { kind: 'ignored', key, slot, suffix };
  return undefined;
}

/** The sentence listing what DVDI_VOLUME_* names are accepted, for "unknown variable" errors. */
export const ACCEPTED_VOLUME_VARIABLES = `DVDI_VOLUME_<KEY>[n] with KEY one of ${[...VOLUME_VARIABLE_KEYS, ...IGNORED_VOLUME_KEYS].join(', ')} and n empty or a single digit 0-9`;

const SETTING_NAMES: ReadonlySet<string> = new Set(Object.keys(SETTING_RULES));

/**
 * Whether config/ reads `name`: a sidecar setting, a fallback identity variable, a volume
 * variable (DVDI_VOLUME_<KEY>[n]) or its Marathon label form (MARATHON_APP_LABEL_DVDI_VOLUME_…).
 */
export function isKnownVariable(name: string): boolean {
  if (SETTING_NAMES.has(name) || (FALLBACK_VARIABLES as readonly string[]).includes(name)) return true;
  const bare = name.startsWith(MARATHON_LABEL_PREFIX) ? name.slice(MARATHON_LABEL_PREFIX.length) : name;
  return bare.startsWith(VOLUME_VARIABLE_PREFIX) && parseVolumeVariableSuffix(bare.slice(VOLUME_VARIABLE_PREFIX.length)) !== undefined;
}
