// Every metric of docs/contract.md, created on an injected prom-client Registry (never the global
// one, so tests and several components in one process never collide). No label carries a task
// id: cardinality stays bounded by volumes × drivers.
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';

/** Buckets for mount/unmount and driver calls: 5 ms … 2 min (driver timeouts are 1–2 min). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Acquire waits run up to DVDI_ACQUIRE_TIMEOUT_MS (60 s by default). */
const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];

export type Outcome = 'ok' | 'error' | 'timeout';

/** prom-client default metrics that `promtool check metrics` flags; not exported. */
export const NONCONFORMING_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

export interface SidecarMetrics {
  registry: Registry;
  mountDuration: Histogram<'driver' | 'outcome'>;
  unmountDuration: Histogram<'driver' | 'outcome'>;
  driverRequests: Counter<'driver' | 'method' | 'outcome'>;
  driverRequestDuration: Histogram<'driver' | 'method'>;
  volumeMounted: Gauge<'volume' | 'driver'>;
  volumeHolders: Gauge<'volume' | 'scope'>;
  ready: Gauge;
  storeUp: Gauge<'backend'>;
  leaseRenewals: Counter<'outcome'>;
  acquireWait: Histogram<'volume'>;
  preemptions: Counter<'volume'>;
  reconcileRuns: Counter<'outcome'>;
  reconcileOrphans: Counter;
  volumeHealthy: Gauge<'volume' | 'driver'>;
}

export function createSidecarMetrics(registry: Registry, options: { defaultMetrics?: boolean; eventLoopResolutionMs?: number } = {}): SidecarMetrics {
  if (options.defaultMetrics ?? true) {
    // DVDI_EVENT_LOOP_RESOLUTION_MS (default 1000; prom-client's own is 10): the histogram's
    // timer was most of what woke an idle sidecar, 100 times a second, beside every task.
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: options.eventLoopResolutionMs ?? 1000 });
    // prom-client names these gauges `*_total`, which Prometheus reserves for counters
    // (`promtool check metrics` rejects them); the process metrics stay.
    for (const name of NONCONFORMING_DEFAULT_METRICS) registry.removeSingleMetric(name);
  }
  const registers = [registry];
  return {
    registry,
    mountDuration: new Histogram({
      name: 'dvdi_mount_duration_seconds',
      help: 'Time to make a volume usable on this node: driver Create/Mount and the bind, or joining an existing mount.',
      labelNames: ['driver', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    unmountDuration: new Histogram({
      name: 'dvdi_unmount_duration_seconds',
      help: 'Time to release a volume on this node: lazy unmount of the bind and driver Unmount.',
      labelNames: ['driver', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    driverRequests: new Counter({
      name: 'dvdi_driver_requests_total',
      help: 'Volume plugin protocol requests by method and outcome (ok, error, timeout).',
      labelNames: ['driver', 'method', 'outcome'],
      registers,
    }),
    driverRequestDuration: new Histogram({
      name: 'dvdi_driver_request_duration_seconds',
      help: 'Volume plugin protocol request latency.',
      labelNames: ['driver', 'method'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    volumeMounted: new Gauge({
      name: 'dvdi_volume_mounted',
      help: '1 while the volume is mounted and bound under the mount root for this task, else 0.',
      labelNames: ['volume', 'driver'],
      registers,
    }),
    volumeHolders: new Gauge({
      name: 'dvdi_volume_holders',
      help: 'Live holders of the volume: scope="node" on this node, scope="cluster" on all nodes.',
      labelNames: ['volume', 'scope'],
      registers,
    }),
    ready: new Gauge({ name: 'dvdi_ready', help: '1 when every requested volume is mounted, bound and leased.', registers }),
    volumeHealthy: new Gauge({
      name: 'dvdi_volume_healthy',
      help: '1 while the bound volume answers (bind in the mount table, source not deleted, stat without ENOTCONN/ESTALE/EIO in time), 0 when dead.',
      labelNames: ['volume', 'driver'],
      registers,
    }),
    storeUp: new Gauge({
      name: 'dvdi_store_up',
      help: '1 when the refcount store (redis or embedded) answered its last check.',
      labelNames: ['backend'],
      registers,
    }),
    leaseRenewals: new Counter({
      name: 'dvdi_lease_renewals_total',
      help: 'Lease renewals by outcome: ok, error (store unreachable, retried), lost (fenced).',
      labelNames: ['outcome'],
      registers,
    }),
    acquireWait: new Histogram({
      name: 'dvdi_acquire_wait_seconds',
      help: 'Time spent waiting to acquire a volume held elsewhere or being mounted by another task.',
      labelNames: ['volume'],
      buckets: WAIT_BUCKETS,
      registers,
    }),
    preemptions: new Counter({
      name: 'dvdi_preemptions_total',
      help: 'Exclusive volumes taken from another node with DVDI_VOLUME_PREEMPT.',
      labelNames: ['volume'],
      registers,
    }),
    reconcileRuns: new Counter({
      name: 'dvdi_reconcile_runs_total',
      help: 'Reconcile sweeps by outcome: ok, error, skipped (another sweep held the node lock).',
      labelNames: ['outcome'],
      registers,
    }),
    reconcileOrphans: new Counter({
      name: 'dvdi_reconcile_orphans_total',
      help: 'Mounts under the mount root that no store knew, unmounted by the reconciler.',
      registers,
    }),
  };
}
