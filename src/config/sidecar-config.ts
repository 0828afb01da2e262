// The sidecar's settings (docs/contract.md "Sidecar settings"): read from an injected environment
// with env-var, checked against the rules of settings-table.ts, returned as one frozen Config.
// Every problem is collected and thrown as one ConfigError.
import envVar from 'env-var';
import { hideInLogs, type LogLevel } from '../common/logger.js';
import { ConfigError, invalidValueMessage, type ConfigProblem } from './config-error.js';
import { quote, redactUrl, urlSecrets } from './secret-redaction.js';
import { SETTING_RULES, isKnownVariable, type HTTP_ENDPOINT_SETS, type SettingName } from './settings-table.js';
import { InvalidValue, identityRule, type HostPort, type ValueRule } from './value-rules.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Config {
  readonly nodeId: string;
  /** The variable that supplied nodeId (`DVDI_NODE_ID`, `HOST`, `NODE_NAME`) or `hostname`. */
  readonly nodeIdSource: string;
  readonly taskId: string;
  /** The variable that supplied taskId (`DVDI_TASK_ID`, `MESOS_TASK_ID`, `POD_UID`) or `hostname`. */
  readonly taskIdSource: string;
  readonly mountRoot: string;
  /** `redis` when DVDI_REDIS_URL, DVDI_REDIS_SENTINELS or DVDI_REDIS_CLUSTER_NODES is set, else the embedded file store. */
  readonly storeBackend: 'redis' | 'embedded';
  /** Holds the password: pass it to the client, never print it (describeConfig redacts it). */
  readonly redisUrl: string | undefined;
  readonly redisSentinels: readonly HostPort[];
  readonly redisSentinelName: string | undefined;
  /** Redis Cluster seed nodes (DVDI_REDIS_CLUSTER_NODES); empty = no Cluster. */
  readonly redisClusterNodes: readonly HostPort[];
  readonly redisPrefix: string;
  readonly httpAddr: HostPort;
  /** Which endpoints the HTTP server serves (DVDI_HTTP_ENDPOINTS). */
  readonly httpEndpoints: (typeof HTTP_ENDPOINT_SETS)[number];
  readonly readyFile: string | undefined;
  readonly leaseTtlMs: number;
  /** DVDI_EVENT_LOOP_RESOLUTION_MS: prom-client's event-loop histogram sampling. */
  readonly eventLoopResolutionMs: number;
  readonly acquireTimeoutMs: number;
  readonly mountTimeoutMs: number;
  readonly unmountTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly reconcileCron: string;
  readonly pluginDirs: readonly string[];
  /** DVDI_PLUGIN_MOUNT_DIRS; empty = any bind source outside the refused set. */
  readonly pluginMountDirs: readonly string[];
  readonly taskContainer: string | undefined;
  readonly dockerHost: string;
  readonly logLevel: LogLevel;
  /** Harmless oddities worth a log line, e.g. an unknown DVDI_* variable (probably a typo). */
  readonly warnings: readonly string[];
}

/** Blank values count as unset: manifests often carry `value: ""` placeholders. */
export function presentOnly(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined && value.trim() !== '') out[name] = value;
  return out;
}

type Checked = { ok: true; value: unknown } | { ok: false; detail: string | undefined };

// env-var looks up the variable and applies the default; the rule's parser runs as an env-var
// accessor that returns a result instead of throwing, so the detail survives for our message.
const accessors = {
  asChecked(raw: string, rule: ValueRule<unknown>): Checked {
    try {
      return { ok: true, value: rule.parse(raw) };
    } catch (error) {
      if (error instanceof InvalidValue) return { ok: false, detail: error.detail };
      throw error;
    }
  },
};

/** How a value appears in a message; URLs lose their password. */
function shown(name: string, raw: string): string {
  return name === 'DVDI_REDIS_URL' || name === 'DOCKER_HOST' ? redactUrl(raw) : raw;
}

/**
 * Reads every sidecar setting from `env` (main.ts passes process.env). `hostname` is the last
 * fallback of the node and task identities (main.ts passes os.hostname()).
 * Throws ConfigError listing every problem.
 */
export function loadSidecarConfig(env: Env, hostname: string): Config {
  const present = presentOnly(env);
  // Before anything can fail or log: a library that echoes the URL's secrets must not print them.
  for (const name of ['DVDI_REDIS_URL', 'DOCKER_HOST'] as const) for (const secret of urlSecrets(present[name] ?? '')) hideInLogs(secret);
  const reader = envVar.from(present, accessors);
  const problems: ConfigProblem[] = [];

  function read<T>(name: SettingName): T | undefined {
    const row = SETTING_RULES[name];
    const variable = reader.get(name);
    const result: Checked | undefined =
      row.default === undefined ? variable.asChecked(row.rule) : variable.default(row.default).asChecked(row.rule);
    if (result === undefined) return undefined;
    if (result.ok) return result.value as T;
    const raw = present[name] ?? row.default ?? '';
    problems.push({ variable: name, message: invalidValueMessage(name, shown(name, raw), row.rule.accepted, result.detail) });
    return undefined;
  }

  function identity(names: readonly string[]): { value: string; source: string } {
    for (const name of names) {
      const raw = present[name];
      if (raw === undefined) continue;
      try {
        return { value: identityRule.parse(raw), source: name };
      } catch (error) {
        if (!(error instanceof InvalidValue)) throw error;
        problems.push({ variable: name, message: invalidValueMessage(name, raw, identityRule.accepted, error.detail) });
        return { value: '', source: name };
      }
    }
    try {
      return { value: identityRule.parse(hostname), source: 'hostname' };
    } catch (error) {
      if (!(error instanceof InvalidValue)) throw error;
      problems.push({
        variable: names[0] ?? 'hostname',
        message: `the hostname ${quote(hostname)} cannot serve as identity (${names.join(', ')} are unset): expected ${identityRule.accepted}; set ${names[0] ?? 'it'}`,
      });
      return { value: '', source: 'hostname' };
    }
  }

  const node = identity(['DVDI_NODE_ID', 'HOST', 'NODE_NAME']);
  const task = identity(['DVDI_TASK_ID', 'MESOS_TASK_ID', 'POD_UID']);
  const mountRoot = read<string>('DVDI_MOUNT_ROOT');
  const redisUrl = read<string>('DVDI_REDIS_URL');
  const redisSentinels = read<readonly HostPort[]>('DVDI_REDIS_SENTINELS');
  const redisSentinelName = read<string>('DVDI_REDIS_SENTINEL_NAME');
  const redisClusterNodes = read<readonly HostPort[]>('DVDI_REDIS_CLUSTER_NODES');
  const redisPrefix = read<string>('DVDI_REDIS_PREFIX');
  const httpAddr = read<HostPort>('DVDI_HTTP_ADDR');
  const httpEndpoints = read<(typeof HTTP_ENDPOINT_SETS)[number]>('DVDI_HTTP_ENDPOINTS');
  const readyFile = read<string>('DVDI_READY_FILE');
  const leaseTtlMs = read<number>('DVDI_LEASE_TTL_MS');
  const eventLoopResolutionMs = read<number>('DVDI_EVENT_LOOP_RESOLUTION_MS');
  const acquireTimeoutMs = read<number>('DVDI_ACQUIRE_TIMEOUT_MS');
  const mountTimeoutMs = read<number>('DVDI_MOUNT_TIMEOUT_MS');
  const unmountTimeoutMs = read<number>('DVDI_UNMOUNT_TIMEOUT_MS');
  const shutdownTimeoutMs = read<number>('DVDI_SHUTDOWN_TIMEOUT_MS');
  const reconcileCron = read<string>('DVDI_RECONCILE_CRON');
  const pluginDirs = read<readonly string[]>('DVDI_PLUGIN_DIRS');
  const pluginMountDirs = read<readonly string[]>('DVDI_PLUGIN_MOUNT_DIRS');
  const taskContainer = read<string>('DVDI_TASK_CONTAINER');
  const dockerHost = read<string>('DOCKER_HOST');
  const logLevel = read<LogLevel>('DVDI_LOG_LEVEL');

  if (present.DVDI_REDIS_SENTINELS !== undefined && present.DVDI_REDIS_SENTINEL_NAME === undefined) {
    problems.push({
      variable: 'DVDI_REDIS_SENTINEL_NAME',
      message: `DVDI_REDIS_SENTINEL_NAME is not set but DVDI_REDIS_SENTINELS is: expected the master name the sentinels watch (${SETTING_RULES.DVDI_REDIS_SENTINEL_NAME.rule.accepted})`,
    });
  }
  if (present.DVDI_REDIS_SENTINEL_NAME !== undefined && present.DVDI_REDIS_SENTINELS === undefined) {
    problems.push({
      variable: 'DVDI_REDIS_SENTINELS',
      message: `DVDI_REDIS_SENTINELS is not set but DVDI_REDIS_SENTINEL_NAME is: expected ${SETTING_RULES.DVDI_REDIS_SENTINELS.rule.accepted}, or unset DVDI_REDIS_SENTINEL_NAME`,
    });
  }
  if (present.DVDI_REDIS_CLUSTER_NODES !== undefined && present.DVDI_REDIS_SENTINELS !== undefined) {
    problems.push({
      variable: 'DVDI_REDIS_CLUSTER_NODES',
      message: 'DVDI_REDIS_CLUSTER_NODES and DVDI_REDIS_SENTINELS are both set: expected one of them (a Redis Cluster fails over by itself, without sentinels)',
    });
  }
  if (redisClusterNodes !== undefined && redisUrl !== undefined && !/^\/?0?$/.test(new URL(redisUrl).pathname)) {
    problems.push({
      variable: 'DVDI_REDIS_URL',
      message: 'DVDI_REDIS_URL names a database other than 0 but DVDI_REDIS_CLUSTER_NODES is set: expected no database (or /0), Redis Cluster has only database 0',
    });
  }
  if (readyFile !== undefined && mountRoot !== undefined && (readyFile === mountRoot || readyFile.startsWith(`${mountRoot}/`))) {
    problems.push({
      variable: 'DVDI_READY_FILE',
      message: `${invalidValueMessage('DVDI_READY_FILE', readyFile, 'a path outside DVDI_MOUNT_ROOT', `it lies under DVDI_MOUNT_ROOT ${quote(mountRoot)}, where every entry is a volume`)}`,
    });
  }

  if (problems.length > 0) throw new ConfigError(problems);

  const warnings = Object.keys(present)
    .filter((name) => name.startsWith('DVDI_') && !name.startsWith('DVDI_VOLUME_') && !isKnownVariable(name))
    .sort()
    .map((name) => `${name} is not a known setting and is ignored (a typo?)`);

  // Every read above succeeded (no problems) and every setting without a default is optional.
  const config: Config = {
    nodeId: node.value,
    nodeIdSource: node.source,
    taskId: task.value,
    taskIdSource: task.source,
    mountRoot: mountRoot as string,
    storeBackend: redisUrl !== undefined || redisSentinels !== undefined || redisClusterNodes !== undefined ? 'redis' : 'embedded',
    redisUrl,
    redisSentinels: Object.freeze((redisSentinels ?? []).map((s) => Object.freeze({ ...s }))),
    redisSentinelName,
    redisClusterNodes: Object.freeze((redisClusterNodes ?? []).map((s) => Object.freeze({ ...s }))),
    redisPrefix: redisPrefix as string,
    httpAddr: Object.freeze({ ...(httpAddr as HostPort) }),
    httpEndpoints: httpEndpoints ?? 'all',
    readyFile,
    leaseTtlMs: leaseTtlMs as number,
    eventLoopResolutionMs: eventLoopResolutionMs as number,
    acquireTimeoutMs: acquireTimeoutMs as number,
    mountTimeoutMs: mountTimeoutMs as number,
    unmountTimeoutMs: unmountTimeoutMs as number,
    shutdownTimeoutMs: shutdownTimeoutMs as number,
    reconcileCron: reconcileCron as string,
    pluginDirs: Object.freeze([...(pluginDirs as readonly string[])]),
    pluginMountDirs: Object.freeze([...(pluginMountDirs ?? [])]),
    taskContainer,
    dockerHost: dockerHost as string,
    logLevel: logLevel as LogLevel,
    warnings: Object.freeze(warnings),
  };
  return Object.freeze(config);
}
