// The view of the configuration that may be shown to anyone: /status, start-up logs.
// Driver option values become `<redacted>` and URL passwords are removed; the result is plain
// JSON (no undefined, no class instances) so it serialises the same everywhere.
import { redactOptions, redactUrl } from './secret-redaction.js';
import type { Config } from './sidecar-config.js';
import type { VolumeSpec } from './volume-requests.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export function describeConfig(config: Config, specs: readonly VolumeSpec[]): { [key: string]: JsonValue } {
  return {
    node: { id: config.nodeId, source: config.nodeIdSource },
    task: { id: config.taskId, source: config.taskIdSource },
    mountRoot: config.mountRoot,
    store: {
      backend: config.storeBackend,
      redisUrl: config.redisUrl === undefined ? null : redactUrl(config.redisUrl),
      sentinels: config.redisSentinels.map((s) => ({ host: s.host, port: s.port })),
      sentinelName: config.redisSentinelName ?? null,
      clusterNodes: config.redisClusterNodes.map((s) => ({ host: s.host, port: s.port })),
      prefix: config.redisPrefix,
    },
    http: { host: config.httpAddr.host, port: config.httpAddr.port, endpoints: config.httpEndpoints },
    readyFile: config.readyFile ?? null,
    leaseTtlMs: config.leaseTtlMs,
    acquireTimeoutMs: config.acquireTimeoutMs,
    mountTimeoutMs: config.mountTimeoutMs,
    unmountTimeoutMs: config.unmountTimeoutMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    reconcileCron: config.reconcileCron,
    pluginDirs: [...config.pluginDirs],
    taskContainer: config.taskContainer ?? null,
    dockerHost: redactUrl(config.dockerHost),
    logLevel: config.logLevel,
    warnings: [...config.warnings],
    volumes: specs.map((spec) => ({
      slot: spec.slot,
      name: spec.name,
      driver: spec.driver,
      opts: redactOptions(spec.opts),
      explicitCreate: spec.explicitCreate,
      containerPath: spec.containerPath ?? null,
      access: spec.access,
      preempt: spec.preempt,
      readOnly: spec.readOnly,
      sources: Object.fromEntries(Object.entries(spec.sources).map(([key, origin]) => [key, { source: origin.source, variable: origin.variable }])),
    })),
  };
}
