// The chaos suite's world and its executor: three simulated nodes (node-rig: own DVDI_NODE_ID,
// rshared mount root, pool plugin for exclusive loop volumes; plus a dir-backend plugin per node
// for shared volumes), one redis-server with an fsync-always AOF (an "empty" restart deletes
// the AOF first: a Redis without persistence), a fault proxy per node between its sidecars and
// Redis, and an observer that snapshots the store directly. `runChaos` plays a plan, brings the
// world to quiescence, and runs the invariant checkers. Every process, mount, loop device and
// redis-server is released by `teardown()`, which the test calls in after.always.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNodeRig, type DvdiChild, type NodeRig, type JournalLine } from '../helpers/node-rig.js';
import { makeTempDir } from '../helpers/mount-root.js';
import { runDvdi, startDvdi } from '../helpers/cli.js';
import type { RedisRefcountStore } from '../../src/refcount/redis-refcount-store.js';
import { startChaosRedis, type ChaosRedis, type ChaosTopology } from './chaos-redis.js';
import { readMountInfo } from '../../src/common/mountinfo.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { summarizeWork, type ChaosWork } from './work-done.js';
import { describeOp, EXCLUSIVE_VOLUMES, NODES, planChaos, SHARED_VOLUMES, type ChaosOp, type FaultKind, type PluginKind } from './chaos-plan.js';
import {
  checkExclusiveAttachIntervals,
  checkHoldersMatchTasks,
  checkLeaseKeysExpire,
  checkNoOrphans,
  checkNoUnmountUnderLiveLease,
  type MountFact,
  type QuiescentTask,
  type RecordedJournalLine,
  type SidecarLife,
  type StoreSnapshot,
  type Violation,
} from './invariants.js';

export const TIMINGS = {
  leaseTtlMs: 1500,
  /** DVDI_RECONCILE_CRON below: every second. */
  reconcilePeriodMs: 1000,
  acquireTimeoutMs: 3000,
  mountTimeoutMs: 4000,
  unmountTimeoutMs: 3000,
  shutdownTimeoutMs: 4000,
} as const;

/** Start-up slack of a `dvdi` process (node + tsx) on a loaded 2-core machine. */
const PROCESS_SLACK_MS = 8000;

interface TrackedSidecar extends SidecarLife {
  index: number;
  child: DvdiChild;
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
  paused: boolean;
  /** Started with DVDI_VOLUME_PREEMPT=true. */
  preempt: boolean;
}

interface SimNode {
  name: string;
  rig: NodeRig;
  proxy: TcpProxy;
  shared: { child: DvdiChild; args: string[]; socket: string; journal: string; root: string };
  faultTimer?: NodeJS.Timeout;
  proxyTimer?: NodeJS.Timeout;
  /** A restart in progress per plugin (the next one waits for it). */
  pluginBusy: Record<PluginKind, Promise<void>>;
}

export interface ChaosResult {
  seed: number;
  ops: number;
  wallMs: number;
  /** Wall time of the operations, the quiescence and the drain. */
  phases: string;
  injected: Record<string, number>;
  exits: Record<string, number>;
  /** What the run did (sidecars ready, faults, mounts, unmounts): see work-done.ts. */
  work: ChaosWork;
  violations: Violation[];
  /** The plan, one line per operation, with the time each started. */
  trace: string[];
  /** On violations: journals, sidecar lives and warnings of the volumes involved. */
  diagnostics: string[];
}

const live = new Set<ChaosCluster>();

/** Tear down every cluster still standing (test.after.always). */
export async function teardownAllChaos(): Promise<void> {
  await Promise.all([...live].map((c) => c.teardown()));
}

export class ChaosCluster {
  readonly nodes: SimNode[] = [];
  readonly sidecars: TrackedSidecar[] = [];
  readonly snapshots: StoreSnapshot[] = [];
  readonly dataLosses: number[] = [];
  readonly pluginCrashes: Array<{ node: string; plugin: PluginKind; at: number }> = [];
  readonly injected: Record<string, number> = {};
  readonly violations: Violation[] = [];
  private readonly background = new Set<Promise<unknown>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private observer?: RedisRefcountStore;
  private polling = false;
  private redisBusy: Promise<void> = Promise.resolve();
  private pollLoop?: Promise<void>;
  private torndown?: Promise<void>;

  private constructor(
    readonly seed: number,
    readonly prefix: string,
    readonly driver: string,
    readonly sharedDriver: string,
    readonly redis: ChaosRedis,
    readonly pool: string,
    private readonly base: string,
    /** The plugins' --habits: rclone's refuse Unmount of an unknown ID and always answer Path. */
    readonly habits: 'reference' | 'rclone' = 'reference',
  ) {}

  static async start(seed: number, topology: ChaosTopology = 'standalone', habits: 'reference' | 'rclone' = 'reference'): Promise<ChaosCluster> {
    const tag = randomBytes(3).toString('hex');
    const base = await makeTempDir(`chaos-${seed}`);
    const pool = join(base, 'pool');
    await mkdir(pool);
    const redis = await startChaosRedis(topology, base);
    const cluster = new ChaosCluster(seed, `chaos${seed}x${tag}`, `cpool${tag}`, `cshared${tag}`, redis, pool, base, habits);
    live.add(cluster);
    try {
      for (const name of NODES) cluster.nodes.push(await cluster.startNode(name));
      cluster.observer = redis.observer(cluster.prefix);
      cluster.startPolling();
    } catch (error) {
      await cluster.teardown();
      throw error;
    }
    return cluster;
  }

  private async startNode(name: string): Promise<SimNode> {
    const proxy = await startTcpProxy(this.redis.proxyTarget);
    const rig = await startNodeRig({
      node: name,
      driver: this.driver,
      backend: 'loop',
      pool: this.pool,
      faults: true,
      habits: this.habits,
      env: {
        ...this.redis.env(proxy.url),
        DVDI_REDIS_PREFIX: this.prefix,
        DVDI_LEASE_TTL_MS: String(TIMINGS.leaseTtlMs),
        DVDI_RECONCILE_CRON: '* * * * * *',
        DVDI_ACQUIRE_TIMEOUT_MS: String(TIMINGS.acquireTimeoutMs),
        DVDI_MOUNT_TIMEOUT_MS: String(TIMINGS.mountTimeoutMs),
        DVDI_UNMOUNT_TIMEOUT_MS: String(TIMINGS.unmountTimeoutMs),
        DVDI_SHUTDOWN_TIMEOUT_MS: String(TIMINGS.shutdownTimeoutMs),
        DVDI_LOG_LEVEL: 'info',
      },
    });
    const root = join(rig.temp.dir, 'plugin-shared');
    const socket = join(rig.pluginDirs, `${this.sharedDriver}.sock`);
    const journal = join(rig.temp.dir, 'journal-shared.jsonl');
    const args = ['plugin', '--name', this.sharedDriver, '--backend', 'dir', '--root', root, '--socket', socket, '--journal', journal, '--node', name, '--faults', join(rig.temp.dir, 'faults.json'), '--habits', this.habits];
    const node: SimNode = { name, rig, proxy, shared: { child: startDvdi(args), args, socket, journal, root }, pluginBusy: { pool: Promise.resolve(), shared: Promise.resolve() } };
    try {
      await waitForSocket(node.shared.child, socket);
    } catch (error) {
      node.shared.child.kill('SIGKILL');
      await rig.stop();
      await proxy.close();
      throw error;
    }
    return node;
  }

  private node(name: string): SimNode {
    return this.nodes.find((n) => n.name === name)!;
  }

  // ------------------------------------------------------------------ observation

  private startPolling(): void {
    this.polling = true;
    this.pollLoop = (async () => {
      while (this.polling) {
        await this.snapshot().catch(() => undefined);
        await sleep(250);
      }
    })();
  }

  async snapshot(): Promise<StoreSnapshot> {
    const start = Date.now();
    const volumes = await this.observer!.list();
    const snapshot = { start, end: Date.now(), volumes };
    this.snapshots.push(snapshot);
    return snapshot;
  }

  async keyTtls(): Promise<Array<{ key: string; pttl: number }>> {
    return this.redis.keyTtls(`${this.prefix}:*`);
  }

  journals(): { pool: RecordedJournalLine[]; all: RecordedJournalLine[] } {
    const pool: RecordedJournalLine[] = [];
    const shared: RecordedJournalLine[] = [];
    for (const node of this.nodes) {
      pool.push(...node.rig.journal().map((l) => ({ ...l, plugin: `pool plugin` })));
      if (existsSync(node.shared.journal)) {
        shared.push(
          ...readFileSync(node.shared.journal, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => ({ ...(JSON.parse(l) as JournalLine), plugin: 'shared plugin' })),
        );
      }
    }
    return { pool, all: [...pool, ...shared] };
  }

  async mounts(): Promise<MountFact[]> {
    const info = await readMountInfo();
    const out: MountFact[] = [];
    for (const node of this.nodes) {
      const plugins = [join(node.rig.temp.dir, 'plugin', 'mounts'), join(node.shared.root, 'mounts')];
      for (const m of info) {
        const parent = m.mountPoint.slice(0, m.mountPoint.lastIndexOf('/'));
        const volume = m.mountPoint.slice(m.mountPoint.lastIndexOf('/') + 1);
        if (parent === node.rig.root) out.push({ node: node.name, volume, kind: 'bind', path: m.mountPoint });
        else if (plugins.includes(parent)) out.push({ node: node.name, volume, kind: 'plugin', path: m.mountPoint });
      }
    }
    // A path mounted twice (a bind stacked on a bind) is one fact.
    return out.filter((m, i) => out.findIndex((o) => o.path === m.path) === i);
  }

  async attachments(): Promise<Array<{ volume: string; node: string }>> {
    const dir = join(this.pool, 'attachments');
    const out: Array<{ volume: string; node: string }> = [];
    for (const file of await readdir(dir).catch(() => [] as string[])) {
      if (!file.endsWith('.json')) continue;
      try {
        const parsed = JSON.parse(await readFile(join(dir, file), 'utf8')) as { node?: string };
        if (typeof parsed.node === 'string') out.push({ volume: file.slice(0, -'.json'.length), node: parsed.node });
      } catch {
        // written atomically; an unreadable one is a temp file
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ operations

  private count(kind: string): void {
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
  }

  private later(ms: number, what: () => Promise<void> | void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.track(Promise.resolve().then(what));
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private cancel(timer: NodeJS.Timeout | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  private track(work: Promise<unknown>): void {
    const guarded = work.catch(() => undefined);
    this.background.add(guarded);
    void guarded.finally(() => this.background.delete(guarded));
  }

  startSidecar(index: number, nodeName: string, volume: string, preempt = false): void {
    const node = this.node(nodeName);
    const shared = (SHARED_VOLUMES as readonly string[]).includes(volume);
    const task = `t${index}-${nodeName}-${volume}`;
    const child = startDvdi(['sidecar'], {
      ...node.rig.env,
      DVDI_TASK_ID: task,
      DVDI_VOLUME_NAME: volume,
      ...(shared ? { DVDI_VOLUME_DRIVER: this.sharedDriver, DVDI_VOLUME_ACCESS: 'shared' } : { DVDI_VOLUME_OPTS: 'size=0.05' }),
      ...(preempt ? { DVDI_VOLUME_PREEMPT: 'true' } : {}),
    });
    const record: TrackedSidecar = { index, task, node: nodeName, volume, driver: shared ? this.sharedDriver : this.driver, startedAt: Date.now(), child, paused: false, preempt };
    this.sidecars[index] = record;
    child.stderr?.on('data', (chunk: Buffer) => {
      if (record.readyAt === undefined && chunk.toString().includes('"msg":"ready"')) {
        const line = child.output.stderr.split('\n').find((l) => l.includes('"msg":"ready"'));
        const time = line === undefined ? NaN : Date.parse((JSON.parse(line) as { time: string }).time);
        record.readyAt = Number.isFinite(time) ? time : Date.now();
      }
    });
    child.on('close', (code, signal) => {
      record.exitedAt = Date.now();
      record.exitCode = code;
      record.signal = signal;
    });
  }

  signal(index: number, signal: NodeJS.Signals): void {
    const record = this.sidecars[index];
    if (record === undefined || record.exitedAt !== undefined) return;
    if (signal === 'SIGTERM' && record.paused) {
      // A stopped process would only see SIGTERM after SIGCONT; deliver both, like an orchestrator
      // whose kill reaches a thawed task.
      record.child.kill('SIGTERM');
      record.child.kill('SIGCONT');
      record.paused = false;
      return;
    }
    record.child.kill(signal);
  }

  async execute(op: ChaosOp): Promise<void> {
    switch (op.op) {
      case 'start':
        if (op.preempt) this.count('preempting start');
        this.startSidecar(op.sidecar, op.node, op.volume, op.preempt === true);
        return;
      case 'stop':
        this.signal(op.sidecar, 'SIGTERM');
        return;
      case 'kill9':
        this.count('sidecar SIGKILL');
        this.signal(op.sidecar, 'SIGKILL');
        return;
      case 'pause': {
        const record = this.sidecars[op.sidecar];
        if (record === undefined || record.exitedAt !== undefined || record.paused) return;
        this.count('sidecar SIGSTOP > TTL');
        record.paused = true;
        record.child.kill('SIGSTOP');
        this.later(op.ms, () => {
          if (record.paused) record.child.kill('SIGCONT');
          record.paused = false;
        });
        return;
      }
      case 'redis-restart': {
        // The restart runs in the background (later operations meet a Redis that is down);
        // a second restart first waits for the one in progress.
        await this.redisBusy;
        const fault = await this.redis.fault({ persistent: op.persistent, downMs: op.downMs });
        this.count(fault.label);
        this.dataLosses.push(...fault.lossAt);
        this.redisBusy = fault.recovered.then((losses) => void this.dataLosses.push(...losses)).catch(() => undefined);
        this.track(this.redisBusy);
        return;
      }
      case 'plugin-fault': {
        const node = this.node(op.node);
        this.count(`plugin ${Object.keys(op.fault)[0] === 'delayMs' ? 'delay' : Object.keys(op.fault)[0]}`);
        this.cancel(node.faultTimer);
        await node.rig.setFaults({ [op.method]: op.fault });
        node.faultTimer = this.later(op.ms, () => node.rig.setFaults({}));
        return;
      }
      case 'plugin-restart': {
        this.count(`plugin ${op.signal === 'SIGKILL' ? 'crash' : 'stop'} + restart`);
        const node = this.node(op.node);
        await node.pluginBusy[op.plugin];
        node.pluginBusy[op.plugin] = this.restartPlugin(node, op.plugin, op.signal).catch(() => undefined);
        this.track(node.pluginBusy[op.plugin]);
        return;
      }
      case 'proxy-fault': {
        const node = this.node(op.node);
        this.count(`proxy ${op.fault.kind}`);
        this.cancel(node.proxyTimer);
        node.proxy.setMode(op.fault);
        node.proxyTimer = this.later(op.ms, () => node.proxy.setMode({ kind: 'pass' }));
        return;
      }
      case 'reconcile':
        this.track(runDvdi(['reconcile'], this.node(op.node).rig.env));
        return;
      case 'check': {
        await this.snapshot().catch(() => undefined);
        const ttls = await this.keyTtls().catch(() => undefined);
        if (ttls !== undefined) this.violations.push(...checkLeaseKeysExpire(ttls, this.prefix));
        return;
      }
      case 'sleep':
        await sleep(op.ms);
        return;
    }
  }

  private async restartPlugin(node: SimNode, plugin: PluginKind, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    if (signal === 'SIGKILL') this.pluginCrashes.push({ node: node.name, plugin, at: Date.now() });
    if (plugin === 'pool') {
      await node.rig.restartPlugin(signal);
      return;
    }
    const old = node.shared.child;
    if (old.exitCode === null && old.signalCode === null) {
      old.kill(signal);
      const stopped = await Promise.race([old.finished.then(() => true), sleep(10_000).then(() => false)]);
      if (!stopped) old.kill('SIGKILL');
      await old.finished;
    }
    await rm(node.shared.socket, { force: true });
    node.shared.child = startDvdi(node.shared.args);
    await waitForSocket(node.shared.child, node.shared.socket);
  }

  // ------------------------------------------------------------------ quiescence

  /** Stop injecting: heal every fault, thaw every paused sidecar, make sure Redis and plugins run. */
  async heal(): Promise<void> {
    for (const timer of [...this.timers]) this.cancel(timer);
    await this.redisBusy;
    for (const node of this.nodes) await Promise.all([node.pluginBusy.pool, node.pluginBusy.shared]);
    for (const node of this.nodes) {
      node.proxy.setMode({ kind: 'pass' });
      await node.rig.setFaults({});
      if (node.rig.plugin.exitCode !== null || node.rig.plugin.signalCode !== null) await node.rig.restartPlugin();
      if (node.shared.child.exitCode !== null || node.shared.child.signalCode !== null) await this.restartPlugin(node, 'shared', 'SIGTERM');
    }
    for (const record of this.sidecars) {
      if (record?.paused) {
        record.child.kill('SIGCONT');
        record.paused = false;
      }
    }
    await this.redis.heal();
  }

  alive(): TrackedSidecar[] {
    return this.sidecars.filter((s): s is TrackedSidecar => s !== undefined && s.exitedAt === undefined);
  }

  async readyz(record: TrackedSidecar): Promise<boolean> {
    const line = record.child.output.stderr.split('\n').find((l) => l.includes('http endpoints listening'));
    if (line === undefined) return false;
    try {
      const { url } = JSON.parse(line) as { url: string };
      return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200;
    } catch {
      return false;
    }
  }

  /** Invariants 3 and 5 as of now. */
  async quiescentViolations(): Promise<Violation[]> {
    const { volumes } = await this.snapshot();
    const tasks: QuiescentTask[] = await Promise.all(
      this.alive().map(async (s) => ({ task: s.task, node: s.node, volume: s.volume, ready: await this.readyz(s) })),
    );
    // A sidecar that exited while we asked is not a live task.
    const stillAlive = new Set(this.alive().map((s) => s.task));
    const mounts = await this.mounts();
    return [
      ...checkHoldersMatchTasks(volumes, tasks.filter((t) => stillAlive.has(t.task)), mounts),
      ...checkNoOrphans(volumes, mounts, await this.attachments()),
    ];
  }

  /**
   * Quiescence: every sidecar still alive settles (ready, or gives up and exits), then within
   * the orphan bound (two TTLs — a stray bind the store forgot gets one TTL of grace — plus one
   * reconcile period, the unmount limit and process start-up slack) invariants 3 and 5 must
   * hold. `dvdi reconcile` runs on every node meanwhile, as a node agent would: a node with no
   * sidecar left has nobody else to sweep it.
   */
  async quiesce(): Promise<Violation[]> {
    await this.heal();
    const settleBy = Date.now() + TIMINGS.acquireTimeoutMs + TIMINGS.mountTimeoutMs + TIMINGS.shutdownTimeoutMs + 2 * TIMINGS.leaseTtlMs + PROCESS_SLACK_MS;
    while (Date.now() < settleBy) {
      const states = await Promise.all(this.alive().map((s) => this.readyz(s)));
      if (states.every(Boolean)) break;
      await sleep(250);
    }
    await Promise.all([...this.background]);
    const bound = 2 * TIMINGS.leaseTtlMs + TIMINGS.reconcilePeriodMs + TIMINGS.unmountTimeoutMs + PROCESS_SLACK_MS;
    const deadline = Date.now() + bound;
    let violations: Violation[] = [];
    for (;;) {
      await Promise.all(this.nodes.map((n) => runDvdi(['reconcile'], n.rig.env)));
      violations = await this.quiescentViolations();
      if (violations.length === 0 || Date.now() > deadline) break;
      await sleep(TIMINGS.leaseTtlMs / 2);
    }
    const ttls = await this.keyTtls();
    return [...violations, ...checkLeaseKeysExpire(ttls, this.prefix)];
  }

  /** Every task stops (SIGTERM); afterwards nothing may be mounted, held or attached anywhere. */
  async drain(): Promise<Violation[]> {
    for (const record of this.alive()) record.child.kill('SIGTERM');
    const stopBy = Date.now() + TIMINGS.shutdownTimeoutMs + PROCESS_SLACK_MS;
    while (this.alive().length > 0 && Date.now() < stopBy) await sleep(100);
    const stuck = this.alive().map((s) => ({ invariant: 'sidecars stop on SIGTERM within DVDI_SHUTDOWN_TIMEOUT_MS', message: `task ${s.task} did not exit` }));
    const deadline = Date.now() + 2 * TIMINGS.leaseTtlMs + TIMINGS.unmountTimeoutMs + PROCESS_SLACK_MS;
    let violations: Violation[] = [];
    for (;;) {
      await Promise.all(this.nodes.map((n) => runDvdi(['reconcile'], n.rig.env)));
      const { volumes } = await this.snapshot();
      violations = checkNoOrphans(volumes, await this.mounts(), await this.attachments());
      const holders = volumes.flatMap((v) => v.holders.map((h) => ({ invariant: 'every task stopped: no holders left', message: `${v.name}: ${h.role} ${h.task} on ${h.node}` })));
      violations.push(...holders);
      if (violations.length === 0 || Date.now() > deadline) break;
      await sleep(TIMINGS.leaseTtlMs / 2);
    }
    return [...stuck, ...violations];
  }

  /** Invariants 1 and 2 over the whole run's history. */
  historyViolations(): Violation[] {
    const { pool, all } = this.journals();
    const fallbackStart = (node: string, time: number): number =>
      Math.max(0, ...this.pluginCrashes.filter((c) => c.node === node && c.plugin === 'pool' && c.at <= time).map((c) => c.at));
    // A Mount of V on N is a preempting attach when a preempting sidecar of N for V was running.
    const preempting = (node: string, volume: string, time: number): boolean =>
      this.sidecars.some((s) => s !== undefined && s.preempt && s.node === node && s.volume === volume && s.startedAt <= time && (s.exitedAt ?? Infinity) >= time);
    return [
      ...checkExclusiveAttachIntervals(pool, EXCLUSIVE_VOLUMES, fallbackStart, preempting),
      ...checkNoUnmountUnderLiveLease(all, this.snapshots, this.sidecars.filter((s) => s !== undefined), this.dataLosses),
    ];
  }

  /** What a human needs to read a violation: the volumes' journals and their sidecars' stories. */
  diagnostics(violations: readonly Violation[], t0: number): string[] {
    const rel = (ms: number | undefined): string => (ms === undefined ? '-' : `+${ms - t0}ms`);
    const volumes = [...new Set(violations.flatMap((v) => [...v.message.matchAll(/\b((?:ex|sh)\d)\b/g)].map((m) => m[1]!)))];
    const out: string[] = [];
    for (const volume of volumes) {
      out.push(`== ${volume}: journal`);
      for (const l of this.journals().all.filter((j) => j.volume === volume).sort((a, b) => Date.parse(a.time) - Date.parse(b.time))) {
        const stamps = `${l.attachedAt ? ` attached ${rel(Date.parse(l.attachedAt))}` : ''}${l.preempted ? ` (preempting ${l.preempted})` : ''}${l.detachedAt ? ` detached ${rel(Date.parse(l.detachedAt))}` : ''}`;
        out.push(`  ${rel(Date.parse(l.time))} ${l.node} ${l.plugin} ${l.op} id=${l.id?.slice(0, 8)} ${l.result} changed=${String(l.changed)}${stamps}${l.result === 'error' ? ` ${String((l as { error?: string }).error)}` : ''}`);
      }
      out.push(`== ${volume}: sidecars`);
      for (const s of this.sidecars.filter((x) => x !== undefined && x.volume === volume)) {
        out.push(`  #${s.index} ${s.task} started ${rel(s.startedAt)} ready ${rel(s.readyAt)} exited ${rel(s.exitedAt)} (${s.signal ?? s.exitCode ?? 'running'})`);
        for (const line of s.child.output.stderr.split('\n')) {
          if (!line.startsWith('{') || /"level":"(trace|debug)"|http endpoints|"msg":"volume state/.test(line)) continue;
          try {
            const parsed = JSON.parse(line) as { time: string; msg: string; err?: unknown; level: string };
            out.push(`    ${rel(Date.parse(parsed.time))} ${parsed.level} ${parsed.msg}${parsed.err ? ` (${JSON.stringify(parsed.err).slice(0, 240)})` : ''}`);
          } catch {
            out.push(`    ${line.slice(0, 200)}`);
          }
        }
      }
    }
    out.push(`== data losses: ${this.dataLosses.map((d) => rel(d)).join(', ')}; plugin crashes: ${this.pluginCrashes.map((c) => `${c.node}/${c.plugin} ${rel(c.at)}`).join(', ')}`);
    return out;
  }

  exits(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.sidecars) {
      if (s === undefined) continue;
      const key = s.exitedAt === undefined ? 'running' : s.signal ? s.signal : `exit ${s.exitCode}`;
      out[key] = (out[key] ?? 0) + 1;
      if (s.readyAt !== undefined) out['became ready'] = (out['became ready'] ?? 0) + 1;
    }
    return out;
  }

  teardown(): Promise<void> {
    this.torndown ??= (async () => {
      this.polling = false;
      for (const timer of [...this.timers]) this.cancel(timer);
      for (const s of this.sidecars) {
        if (s !== undefined && s.exitedAt === undefined) {
          s.child.kill('SIGKILL');
        }
      }
      await Promise.all(this.sidecars.filter((s) => s !== undefined).map((s) => s.child.finished));
      await this.pollLoop?.catch(() => undefined);
      await Promise.all([...this.background]);
      for (const node of this.nodes) {
        node.proxy.setMode({ kind: 'pass' });
        if (node.shared.child.exitCode === null && node.shared.child.signalCode === null) node.shared.child.kill('SIGKILL');
        await node.shared.child.finished;
      }
      await Promise.all(this.nodes.map((n) => n.rig.stop().catch(() => undefined)));
      await Promise.all(this.nodes.map((n) => n.proxy.close()));
      await this.observer?.close().catch(() => undefined);
      this.redis.close();
      await this.redis.killAll();
      await rm(this.base, { recursive: true, force: true });
      live.delete(this);
    })();
    return this.torndown;
  }
}

async function waitForSocket(child: DvdiChild, socket: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!existsSync(socket)) {
    if (child.exitCode !== null) throw new Error(`plugin exited: ${child.output.stderr}`);
    if (Date.now() > deadline) throw new Error(`plugin socket ${socket} did not appear`);
    await sleep(50);
  }
}

export interface RunOptions {
  seed: number;
  ops: number;
  /** Pause between operations (ms). */
  gapMs?: number;
  log?: (line: string) => void;
  skip?: ReadonlySet<FaultKind>;
  /** The Redis set-up (default one redis-server behind per-node fault proxies). Sentinel and
   * Cluster clients find their servers themselves, so proxy faults are left out there. */
  topology?: ChaosTopology;
  /** Share of exclusive-volume starts that preempt (planChaos preemptShare); unset = none. */
  preemptShare?: number;
  /** Run the plugins with rclone's habits (default reference). */
  habits?: 'reference' | 'rclone';
}

/** Play one seed's plan on a fresh cluster and check every invariant. */
export async function runChaos(options: RunOptions): Promise<ChaosResult> {
  const started = Date.now();
  const topology = options.topology ?? 'standalone';
  const skip = new Set<FaultKind>([...(options.skip ?? []), ...(topology === 'standalone' ? [] : (['proxy'] as const))]);
  const plan = planChaos({ seed: options.seed, ops: options.ops, leaseTtlMs: TIMINGS.leaseTtlMs, skip, ...(options.preemptShare === undefined ? {} : { preemptShare: options.preemptShare }) });
  const trace: string[] = [`topology: ${topology}${options.preemptShare === undefined ? '' : `, preempt share ${options.preemptShare}`}${options.habits === 'rclone' ? ', rclone habits' : ''}`];
  const cluster = await ChaosCluster.start(options.seed, topology, options.habits);
  try {
    for (const [i, op] of plan.entries()) {
      const line = `${String(i).padStart(3)} +${String(Date.now() - started).padStart(6)}ms ${describeOp(op)}`;
      trace.push(line);
      options.log?.(line);
      await cluster.execute(op);
      await sleep(options.gapMs ?? 100);
    }
    const opsDone = Date.now();
    const quiescent = await cluster.quiesce();
    const quiet = Date.now();
    const drained = await cluster.drain();
    trace.push(`phases: operations ${opsDone - started} ms, quiescence ${quiet - opsDone} ms, drain ${Date.now() - quiet} ms`);
    options.log?.(trace.at(-1)!);
    const history = cluster.historyViolations();
    const all = [...cluster.violations, ...history, ...quiescent, ...drained];
    const violations = all.filter((v, i) => all.findIndex((o) => o.invariant === v.invariant && o.message === v.message) === i);
    const diagnostics = violations.length > 0 ? cluster.diagnostics(violations, started) : [];
    // Counted before the teardown removes the journals.
    const work = summarizeWork({ sidecars: cluster.sidecars, injected: cluster.injected, journal: cluster.journals().all });
    return { seed: options.seed, ops: plan.length, wallMs: Date.now() - started, phases: trace.at(-1)!, injected: { ...cluster.injected }, exits: cluster.exits(), work, violations, trace, diagnostics };
  } finally {
    await cluster.teardown();
  }
}

/** Written next to a failing run: the plan trace, for a human to read with the violations. */
export async function writeTrace(path: string, result: ChaosResult): Promise<void> {
  await writeFile(path, [...result.trace, '', ...result.violations.map((v) => `VIOLATION ${v.invariant}: ${v.message}`), '', ...result.diagnostics].join('\n'));
}

/**
 * The trace of a failing run written to `$TMPDIR/dvdi-chaos-<name>-XXXXXX/chaos.trace`, a fresh
 * directory of our own (mkdtemp) that is kept for the reader; returns the file's path. The suites
 * run as root, and a fixed name in a world-writable /tmp could be made in advance (as a symlink)
 * by anyone. `name` tells the runs apart: the seed, `<topology>-<seed>`, `habits-<seed>`.
 */
export async function writeTraceInTempDir(name: string, result: ChaosResult): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), `dvdi-chaos-${name}-`)), 'chaos.trace');
  await writeTrace(path, result);
  return path;
}
