// The chaos schedule as a pure function of the seed: which operations and faults run, in which
// order, with which targets and durations. It never looks at what the processes did, so one
// seed always yields the same plan (the run itself still meets real timing; see docs/chaos.md).
// Sidecars are named by their start index (#k); the plan tracks which ones it has stopped,
// not which ones exited on their own.

import { prng } from '../helpers/prng.js';

export { prng };

export const NODES = ['node-1', 'node-2', 'node-3'] as const;
export const EXCLUSIVE_VOLUMES = ['ex1', 'ex2', 'ex3'] as const;
export const SHARED_VOLUMES = ['sh1', 'sh2'] as const;
export const VOLUMES = [...EXCLUSIVE_VOLUMES, ...SHARED_VOLUMES] as const;

export type PluginKind = 'pool' | 'shared';
export type PluginFault = { delayMs: number } | { error: string } | { hang: true };
export type ProxyFault = { kind: 'delay'; ms: number } | { kind: 'blackhole' } | { kind: 'reset' };

export type ChaosOp =
  | { op: 'start'; sidecar: number; node: string; volume: string; preempt?: true }
  | { op: 'stop'; sidecar: number }
  | { op: 'kill9'; sidecar: number }
  | { op: 'pause'; sidecar: number; ms: number }
  | { op: 'redis-restart'; persistent: boolean; downMs: number }
  | { op: 'plugin-fault'; node: string; method: 'Mount' | 'Unmount' | 'Get'; fault: PluginFault; ms: number }
  | { op: 'plugin-restart'; node: string; plugin: PluginKind; signal: 'SIGKILL' | 'SIGTERM' }
  | { op: 'proxy-fault'; node: string; fault: ProxyFault; ms: number }
  | { op: 'reconcile'; node: string }
  | { op: 'check' }
  | { op: 'sleep'; ms: number };

export interface PlanOptions {
  seed: number;
  ops: number;
  leaseTtlMs: number;
  /** Most sidecars the plan keeps started-and-not-stopped at once (CPU on 2 cores). */
  maxLive?: number;
  /** Fault kinds to leave out (for bisecting a failure): each is replaced in place by a sleep
   * (an empty Redis restart by one with its AOF), so the rest of the plan stays the same. */
  skip?: ReadonlySet<FaultKind>;
  /** Share (0..1) of exclusive-volume starts that preempt (DVDI_VOLUME_PREEMPT=true). Unset: no
   * start preempts and the plan is what it always was for the seed (no extra random draws). */
  preemptShare?: number;
}

export const FAULT_KINDS = ['sigkill', 'sigstop', 'redis-aof', 'redis-empty', 'plugin-fault', 'plugin-restart', 'proxy', 'reconcile'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

function skipped(op: ChaosOp, skip: ReadonlySet<FaultKind>): ChaosOp {
  const kind: FaultKind | undefined =
    op.op === 'kill9' ? 'sigkill'
    : op.op === 'pause' ? 'sigstop'
    : op.op === 'redis-restart' ? (op.persistent ? 'redis-aof' : 'redis-empty')
    : op.op === 'plugin-fault' ? 'plugin-fault'
    : op.op === 'plugin-restart' ? 'plugin-restart'
    : op.op === 'proxy-fault' ? 'proxy'
    : op.op === 'reconcile' ? 'reconcile'
    : undefined;
  if (kind === undefined || !skip.has(kind)) return op;
  if (op.op === 'redis-restart' && !skip.has('redis-aof')) return { ...op, persistent: true };
  // A skipped SIGKILL still ends the task (gracefully), so the plan's bookkeeping holds.
  if (op.op === 'kill9') return { op: 'stop', sidecar: op.sidecar };
  return { op: 'sleep', ms: 100 };
}

const WEIGHTS: Array<[ChaosOp['op'], number]> = [
  ['start', 26],
  ['stop', 12],
  ['kill9', 7],
  ['pause', 4],
  ['redis-restart', 3],
  ['plugin-fault', 6],
  ['plugin-restart', 3],
  ['proxy-fault', 6],
  ['reconcile', 3],
  ['check', 18],
  ['sleep', 12],
];

/** Operations a sidecar is usually left alone after its start (a process needs about a second
 * to attach; the operations between take a few hundred milliseconds each). */
const SETTLE_OPS = 35;

export function planChaos(options: PlanOptions): ChaosOp[] {
  const random = prng(options.seed);
  const maxLive = options.maxLive ?? 8;
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const total = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
  const live: number[] = [];
  const startedAt = new Map<number, number>();
  let started = 0;
  const ops: ChaosOp[] = [];
  const ttl = options.leaseTtlMs;
  while (ops.length < options.ops) {
    let roll = random() * total;
    let kind: ChaosOp['op'] = 'sleep';
    for (const [name, weight] of WEIGHTS) {
      roll -= weight;
      if (roll < 0) {
        kind = name;
        break;
      }
    }
    if (kind === 'start' && live.length >= maxLive) kind = 'stop';
    if ((kind === 'stop' || kind === 'kill9' || kind === 'pause') && live.length === 0) kind = 'start';
    switch (kind) {
      case 'start': {
        const sidecar = started++;
        live.push(sidecar);
        startedAt.set(sidecar, ops.length);
        const start: ChaosOp = { op: 'start', sidecar, node: pick(NODES), volume: pick(VOLUMES) };
        if (options.preemptShare !== undefined && (EXCLUSIVE_VOLUMES as readonly string[]).includes(start.volume) && random() < options.preemptShare) start.preempt = true;
        ops.push(start);
        break;
      }
      case 'stop':
      case 'kill9': {
        // Mostly sidecars that had a few operations' time to attach: a task killed while its
        // process starts tests little beyond the preflight.
        const settled = live.filter((i) => ops.length - startedAt.get(i)! >= SETTLE_OPS);
        const from = settled.length > 0 && random() < 0.9 ? settled : live;
        const sidecar = from[Math.floor(random() * from.length)]!;
        live.splice(live.indexOf(sidecar), 1);
        ops.push({ op: kind, sidecar });
        break;
      }
      case 'pause':
        // Longer than the TTL: Kleppmann's paused holder that outlives its lease.
        ops.push({ op: 'pause', sidecar: pick(live), ms: ttl + int(200, ttl) });
        break;
      case 'redis-restart':
        ops.push({ op: 'redis-restart', persistent: random() < 0.5, downMs: int(100, ttl + 500) });
        break;
      case 'plugin-fault': {
        const r = random();
        const fault: PluginFault = r < 0.5 ? { delayMs: int(300, 6000) } : r < 0.8 ? { error: 'injected chaos fault' } : { hang: true };
        ops.push({ op: 'plugin-fault', node: pick(NODES), method: pick(['Mount', 'Mount', 'Unmount', 'Get'] as const), fault, ms: int(500, 4000) });
        break;
      }
      case 'plugin-restart':
        ops.push({ op: 'plugin-restart', node: pick(NODES), plugin: pick(['pool', 'shared'] as const), signal: random() < 0.7 ? 'SIGKILL' : 'SIGTERM' });
        break;
      case 'proxy-fault': {
        const r = random();
        const fault: ProxyFault = r < 0.4 ? { kind: 'delay', ms: int(50, 1500) } : r < 0.75 ? { kind: 'blackhole' } : { kind: 'reset' };
        ops.push({ op: 'proxy-fault', node: pick(NODES), fault, ms: int(300, 2 * ttl + 500) });
        break;
      }
      case 'reconcile':
        ops.push({ op: 'reconcile', node: pick(NODES) });
        break;
      case 'check':
        ops.push({ op: 'check' });
        break;
      case 'sleep':
        ops.push({ op: 'sleep', ms: int(100, 500) });
        break;
    }
  }
  return options.skip === undefined || options.skip.size === 0 ? ops : ops.map((op) => skipped(op, options.skip!));
}

export function describeOp(op: ChaosOp): string {
  switch (op.op) {
    case 'start':
      return `start #${op.sidecar} on ${op.node} with ${op.volume}${op.preempt ? ' (preempt)' : ''}`;
    case 'stop':
      return `SIGTERM #${op.sidecar}`;
    case 'kill9':
      return `SIGKILL #${op.sidecar}`;
    case 'pause':
      return `SIGSTOP #${op.sidecar} for ${op.ms} ms`;
    case 'redis-restart':
      return `redis kill -9, down ${op.downMs} ms, restart ${op.persistent ? 'with its AOF' : 'empty'}`;
    case 'plugin-fault':
      return `plugin fault on ${op.node}: ${op.method} ${JSON.stringify(op.fault)} for ${op.ms} ms`;
    case 'plugin-restart':
      return `${op.signal} + restart the ${op.plugin} plugin of ${op.node}`;
    case 'proxy-fault':
      return `proxy of ${op.node}: ${op.fault.kind}${op.fault.kind === 'delay' ? ` ${op.fault.ms} ms` : ''} for ${op.ms} ms`;
    case 'reconcile':
      return `dvdi reconcile on ${op.node}`;
    case 'check':
      return 'check (store snapshot, key PTTLs)';
    case 'sleep':
      return `sleep ${op.ms} ms`;
  }
}
