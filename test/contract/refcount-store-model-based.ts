// Model-based tests of a RefcountStore (fast-check), run against both stores by the
// *-model-based.test.ts runners. Two properties:
//   1. sequential: random commands (acquire, poll, markMounted, abortMount, release,
//      markUnmounted, renew, expire+reap, claimUnmount) against a deliberately small reference
//      model written here — NOT src/refcount/refcount-model.ts, which is what is under test
//      through the stores. After each command the store's answer must be the model's, and
//      inspect() must show the model's mode, epoch, holders and node states.
//   2. interleaving: several nodes (one store client each) run task lifecycles at once, every
//      store call released by fc.scheduler() in a random order (several calls in flight at once);
//      checked whatever the order: one performer per node, an exclusive volume's task holders on
//      one node, one mounted state per mount, one unmount answer per mount, counts never negative.
// Leases are long; a holder meant to expire gets renew(ref, 1) and the world lets a few ms pass
// (a fake clock step for the embedded store, a real sleep for Redis). A failure prints
// fast-check's seed and path (replay with { seed, path } in fc.assert) and the run's trace.
import type { TestFn } from 'ava';
import { deepStrictEqual } from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type {
  AccessMode,
  AcquireRequest,
  AcquireResult,
  ClaimUnmountResult,
  HolderRef,
  MarkResult,
  NodeMountState,
  RefcountStore,
  ReleaseResult,
  VolumeKey,
  VolumeView,
} from '../../src/refcount/refcount-store.js';

/** One isolated store world per property run (its own state dir / key prefix). */
export interface ModelWorld {
  /** Another client of the same world (one per simulated node in the interleaving property). */
  open(): Promise<RefcountStore>;
  /** Let store time pass (fake clock step, or a real sleep for a store on real time). */
  pass(ms: number): Promise<void>;
  /** Close every client opened and remove what the world created. */
  dispose(): Promise<void>;
}

export interface ModelBasedOptions {
  newWorld: () => Promise<ModelWorld>;
  sequentialRuns: number;
  interleavingRuns: number;
}

const LONG = 60_000;
const NODES = ['A', 'B', 'C'] as const;

// ================================================================ reference model

type Role = 'holder' | 'unmounter';
interface MHolder {
  node: string;
  role: Role;
  task: string;
}
interface MNode {
  state: Exclude<NodeMountState, 'absent'>;
  performer?: string;
  mountpoint?: string;
  mountId?: string;
  staleMountId?: string;
}

/** What the store should hold, in the plainest terms: no leases (expired holders are reaped at
 * once by the Expire command), absent nodes not kept, mode cleared with the last holder. */
export class ReferenceModel {
  created = false;
  mode: AccessMode | undefined;
  epoch = 0;
  lastGrant: string | undefined;
  readonly holders = new Map<string, MHolder>();
  readonly nodes = new Map<string, MNode>();
  /** Every token that ever registered, with its node (stale ones too, for refusal answers). */
  readonly tokens: { token: string; node: string }[] = [];
  seq = 0;

  private on(node: string): string[] {
    return [...this.holders].filter(([, h]) => h.node === node).map(([t]) => t);
  }

  private tidy(): void {
    if (this.holders.size === 0) this.mode = undefined;
  }

  acquire(node: string, token: string, mode: AccessMode, preempt: boolean, graceful: boolean): AcquireResult {
    if (this.holders.has(token)) return this.nodeStep(node, token); // a poll: same claim again
    if (this.holders.size > 0 && this.mode !== undefined && this.mode !== mode) return { kind: 'mode-conflict', mode: this.mode };
    const preempted = new Set<string>();
    if (mode === 'exclusive') {
      const blockers = new Set<string>();
      for (const h of this.holders.values()) if (h.node !== node) blockers.add(h.node);
      // With the default grace an orphaned node state elsewhere still blocks; with grace 0 it does not.
      if (graceful) for (const n of this.nodes.keys()) if (n !== node) blockers.add(n);
      if (blockers.size > 0 && !preempt) return { kind: 'held', nodes: [...blockers].sort() };
      for (const [t, h] of [...this.holders]) {
        if (preempt && h.node !== node) {
          this.holders.delete(t);
          preempted.add(h.node);
        }
      }
      if (preempted.size > 0 || this.lastGrant !== node) this.epoch += 1;
      this.lastGrant = node;
    } else {
      this.lastGrant = undefined;
    }
    this.mode = mode;
    this.holders.set(token, { node, role: 'holder', task: `task-${token}` });
    this.tokens.push({ token, node });
    this.created = true;
    const result = this.nodeStep(node, token);
    if (result.kind === 'mount' && preempted.size > 0) result.preempted = [...preempted].sort();
    return result;
  }

  private nodeStep(node: string, token: string): AcquireResult {
    const epoch = this.epoch;
    const rec = this.nodes.get(node);
    if (rec === undefined) {
      this.nodes.set(node, { state: 'mounting', performer: token, mountId: token });
      return { kind: 'mount', epoch };
    }
    if (rec.state === 'mounted') return { kind: 'join', epoch, mountpoint: rec.mountpoint ?? '' };
    if (rec.performer === token) return rec.staleMountId === undefined ? { kind: 'mount', epoch } : { kind: 'mount', epoch, staleMountId: rec.staleMountId };
    if (rec.performer !== undefined && this.holders.has(rec.performer)) return { kind: 'wait', epoch, state: rec.state, performer: rec.performer };
    // The performer is gone: take over, unmounting first what it may have mounted.
    const stale = rec.state === 'mounting' ? rec.performer : rec.mountId;
    this.nodes.set(node, { state: 'mounting', performer: token, mountId: token, ...(stale === undefined ? {} : { staleMountId: stale }) });
    return stale === undefined ? { kind: 'mount', epoch } : { kind: 'mount', epoch, staleMountId: stale };
  }

  private notPerformer(node: string): MarkResult {
    const rec = this.nodes.get(node);
    return { kind: 'not-performer', state: rec?.state ?? 'absent', ...(rec?.performer === undefined ? {} : { performer: rec.performer }) };
  }

  markMounted(node: string, token: string, mountpoint: string): MarkResult {
    if (!this.holders.has(token)) return { kind: 'lost' };
    const rec = this.nodes.get(node);
    if (rec?.state === 'mounting' && rec.performer === token) {
      this.nodes.set(node, { state: 'mounted', mountpoint, mountId: token });
      return { kind: 'ok' };
    }
    if (rec?.state === 'mounted' && rec.mountId === token && rec.mountpoint === mountpoint) return { kind: 'ok' };
    return this.notPerformer(node);
  }

  abortMount(node: string, token: string): MarkResult {
    const rec = this.nodes.get(node);
    if (rec?.state === 'mounting' && rec.performer === token) {
      this.nodes.delete(node);
      this.holders.delete(token);
      this.tidy();
      return { kind: 'ok' };
    }
    return this.holders.has(token) ? this.notPerformer(node) : { kind: 'ok' };
  }

  release(node: string, token: string): ReleaseResult {
    const self = this.holders.get(token);
    if (!self) return { kind: 'unknown' };
    const rec = this.nodes.get(node);
    if (self.role === 'unmounter' && rec?.state === 'unmounting' && rec.performer === token) return unmountAnswer(rec);
    this.holders.delete(token);
    if (self.role === 'holder' && rec?.state === 'mounting' && rec.performer === token) {
      this.nodes.delete(node);
    } else if (self.role === 'holder' && rec?.state === 'mounted' && this.on(node).length === 0) {
      // The last holder of the node unmounts, keeping its lease as the unmounter.
      this.holders.set(token, { ...self, role: 'unmounter' });
      rec.state = 'unmounting';
      rec.performer = token;
      return unmountAnswer(rec);
    }
    this.tidy();
    return { kind: 'released' };
  }

  markUnmounted(node: string, token: string): MarkResult {
    const rec = this.nodes.get(node);
    if (rec?.state === 'unmounting' && rec.performer === token) {
      this.nodes.delete(node);
      this.holders.delete(token);
      this.tidy();
      return { kind: 'ok' };
    }
    return this.holders.has(token) ? this.notPerformer(node) : { kind: 'ok' };
  }

  /** The holder's lease ended and its node reaped it: is the node's state now an orphan? */
  expire(node: string, token: string): boolean {
    this.holders.delete(token);
    this.tidy();
    return this.nodes.has(node) && this.on(node).length === 0;
  }

  claimUnmount(node: string, token: string): ClaimUnmountResult {
    const rec = this.nodes.get(node);
    if (!rec) return { kind: 'absent' };
    if (this.on(node).length > 0) return { kind: 'busy' };
    const previous = rec.state;
    rec.state = 'unmounting';
    rec.performer = token;
    this.holders.set(token, { node, role: 'unmounter', task: 'reconciler' });
    this.tokens.push({ token, node });
    return { kind: 'unmount', state: previous, ...(rec.mountpoint === undefined ? {} : { mountpoint: rec.mountpoint }), ...(rec.mountId === undefined ? {} : { mountId: rec.mountId }) };
  }

  /** The parts of inspect() the model predicts (lease lengths are checked separately). */
  /** The node has a holder or a node state (what listNode(node) must show). */
  present(node: string): boolean {
    return this.on(node).length > 0 || this.nodes.has(node);
  }

  expectedView(): unknown {
    return {
      mode: this.mode ?? null,
      epoch: this.epoch,
      holders: [...this.holders].map(([token, h]) => `${h.node}/${token}/${h.role}/${h.task}`).sort(),
      nodes: [...this.nodes].map(([node, n]) => nodeLine(node, n)).sort(),
    };
  }
}

function unmountAnswer(rec: MNode): ReleaseResult {
  return { kind: 'unmount', ...(rec.mountpoint === undefined ? {} : { mountpoint: rec.mountpoint }), ...(rec.mountId === undefined ? {} : { mountId: rec.mountId }) };
}

function nodeLine(node: string, n: { state: string; performer?: string; mountpoint?: string; mountId?: string }): string {
  return `${node} ${n.state} performer=${n.performer ?? '-'} mountpoint=${n.mountpoint ?? '-'} mountId=${n.mountId ?? '-'}`;
}

function actualView(view: VolumeView): unknown {
  return {
    mode: view.mode ?? null,
    epoch: view.epoch,
    holders: view.holders.map((h) => `${h.node}/${h.token}/${h.role}/${h.task}`).sort(),
    // Absent node entries carry nothing the model needs (the model keeps no absent nodes).
    nodes: view.nodes.filter((n) => n.state !== 'absent').map((n) => nodeLine(n.node, n)).sort(),
  };
}

/** Compare as JSON (a Redis answer has no undefined fields), with the run's trace on failure. */
function same(actual: unknown, expected: unknown, what: string, trace: string[]): void {
  try {
    deepStrictEqual(JSON.parse(JSON.stringify(actual)) as unknown, JSON.parse(JSON.stringify(expected)) as unknown);
  } catch (error) {
    throw new Error(`${what}: store ${JSON.stringify(actual)} but model ${JSON.stringify(expected)}\ntrace:\n  ${trace.slice(-40).join('\n  ')}`, { cause: error });
  }
}

// ================================================================ property 1: sequential commands

interface Real {
  store: RefcountStore;
  world: ModelWorld;
  vol: VolumeKey;
  trace: string[];
}

type Cmd = fc.AsyncCommand<ReferenceModel, Real>;

const ref = (r: Real, node: string, token: string): HolderRef => ({ ...r.vol, node, token });
const mountpointOf = (node: string): string => `/mnt/${node}`;

/** Pick a target among `candidates` by a generated index (resolved against the model at run time). */
function pick<T>(candidates: readonly T[], index: number): T | undefined {
  return candidates.length === 0 ? undefined : candidates[index % candidates.length];
}

async function checkView(m: ReferenceModel, r: Real, after: string): Promise<void> {
  const view = await r.store.inspect(r.vol);
  if (!m.created) {
    same(view ?? null, null, `inspect after ${after}`, r.trace);
    return;
  }
  if (view === undefined) throw new Error(`inspect after ${after}: no record, model has one\n  ${r.trace.join('\n  ')}`);
  same(actualView(view), m.expectedView(), `inspect after ${after}`, r.trace);
  // The per-node view: the volume is listed for exactly the nodes with a holder or a state.
  for (const node of NODES) {
    const listed = (await r.store.listNode(node)).some((v) => v.driver === r.vol.driver && v.name === r.vol.name);
    same(listed, m.present(node), `listNode(${node}) after ${after}`, r.trace);
  }
  const expired = view.holders.filter((h) => h.expiresInMs <= 0 || h.expiresInMs > LONG);
  same(expired, [], `lease lengths after ${after}`, r.trace);
}

class AcquireCmd implements Cmd {
  constructor(
    readonly node: string,
    readonly mode: AccessMode,
    readonly preempt: boolean,
    readonly graceful: boolean,
  ) {}
  check = (): boolean => true;
  async run(m: ReferenceModel, r: Real): Promise<void> {
    const token = `${this.node}${++m.seq}`;
    const request: AcquireRequest = { ...ref(r, this.node, token), task: `task-${token}`, mode: this.mode, preempt: this.preempt, ttlMs: LONG, orphanGraceMs: this.graceful ? 3 * LONG : 0 };
    const got = await r.store.acquire(request);
    r.trace.push(`${this.toString()} as ${token} → ${JSON.stringify(got)}`);
    same(got, m.acquire(this.node, token, this.mode, this.preempt, this.graceful), this.toString(), r.trace);
    await checkView(m, r, this.toString());
  }
  toString = (): string => `Acquire(${this.node}, ${this.mode}${this.preempt ? ', preempt' : ''}${this.graceful ? '' : ', grace 0'})`;
}

/** Tokens by predicate over the model's live holders, or every token ever (`stale`). */
function targets(m: ReferenceModel, stale: boolean, filter: (token: string, h: { node: string; role: Role }) => boolean = () => true): { token: string; node: string }[] {
  if (stale) return m.tokens;
  return [...m.holders].filter(([t, h]) => filter(t, h)).map(([token, h]) => ({ token, node: h.node }));
}

/** An operation on one token: a live holder (or, when `stale`, any token that ever registered). */
class TokenCmd implements Cmd {
  constructor(
    readonly op: 'poll' | 'markMounted' | 'abortMount' | 'release' | 'markUnmounted' | 'renew' | 'expire',
    readonly index: number,
    readonly stale: boolean,
    /** release: call markUnmounted when told to unmount. */
    readonly follow: boolean,
  ) {}
  private candidates(m: ReferenceModel): { token: string; node: string }[] {
    switch (this.op) {
      case 'poll':
        return targets(m, false, (_t, h) => h.role === 'holder');
      case 'markMounted':
        // Mostly the performer that should report, sometimes anyone.
        return targets(m, this.stale, (t, h) => m.nodes.get(h.node)?.performer === t);
      case 'expire':
        return targets(m, false);
      default:
        return targets(m, this.stale);
    }
  }
  check = (m: Readonly<ReferenceModel>): boolean => this.candidates(m as ReferenceModel).length > 0;
  async run(m: ReferenceModel, r: Real): Promise<void> {
    const target = pick(this.candidates(m), this.index);
    if (!target) throw new Error('no target (check() should have prevented this)');
    const { token, node } = target;
    const at = ref(r, node, token);
    const label = `${this.op}(${node}/${token})`;
    const log = (got: unknown): void => {
      r.trace.push(`${label} → ${JSON.stringify(got)}`);
    };
    switch (this.op) {
      case 'poll': {
        const mode = m.mode ?? 'exclusive';
        const got = await r.store.acquire({ ...at, task: `task-${token}`, mode, preempt: false, ttlMs: LONG });
        log(got);
        same(got, m.acquire(node, token, mode, false, true), label, r.trace);
        break;
      }
      case 'markMounted': {
        const got = await r.store.markMounted(at, mountpointOf(node));
        log(got);
        same(got, m.markMounted(node, token, mountpointOf(node)), label, r.trace);
        break;
      }
      case 'abortMount': {
        const got = await r.store.abortMount(at);
        log(got);
        same(got, m.abortMount(node, token), label, r.trace);
        break;
      }
      case 'release': {
        const got = await r.store.release(at);
        log(got);
        const expected = m.release(node, token);
        same(got, expected, label, r.trace);
        if (got.kind === 'unmount' && this.follow) {
          const done = await r.store.markUnmounted(at);
          r.trace.push(`  then markUnmounted → ${JSON.stringify(done)}`);
          same(done, m.markUnmounted(node, token), `${label} then markUnmounted`, r.trace);
        }
        break;
      }
      case 'markUnmounted': {
        const got = await r.store.markUnmounted(at);
        log(got);
        same(got, m.markUnmounted(node, token), label, r.trace);
        break;
      }
      case 'renew': {
        const got = await r.store.renew(at, LONG);
        log(got);
        same(got, m.holders.has(token) ? { kind: 'ok', epoch: m.epoch, expiresInMs: LONG } : { kind: 'lost' }, label, r.trace);
        break;
      }
      case 'expire': {
        // Shorten the lease to 1 ms, let it end, and have the node reap it.
        same(await r.store.renew(at, 1), { kind: 'ok', epoch: m.epoch, expiresInMs: 1 }, `${label}: renew(1)`, r.trace);
        await r.world.pass(15);
        same(await r.store.renew(at, LONG), { kind: 'lost' }, `${label}: renew after expiry`, r.trace);
        const orphaned = await r.store.reap(node);
        log(orphaned);
        const mine = orphaned.some((v) => v.driver === r.vol.driver && v.name === r.vol.name);
        same(mine, m.expire(node, token), `${label}: reap(${node}) reports the volume orphaned`, r.trace);
        break;
      }
    }
    await checkView(m, r, label);
  }
  toString = (): string => `${this.op}(#${this.index}${this.stale ? ', any token' : ''}${this.op === 'release' && this.follow ? ', then markUnmounted' : ''})`;
}

class ClaimUnmountCmd implements Cmd {
  constructor(
    readonly node: string,
    readonly follow: boolean,
  ) {}
  check = (): boolean => true;
  async run(m: ReferenceModel, r: Real): Promise<void> {
    const token = `r${this.node}${++m.seq}`;
    const at = ref(r, this.node, token);
    const got = await r.store.claimUnmount(at, LONG);
    r.trace.push(`${this.toString()} as ${token} → ${JSON.stringify(got)}`);
    same(got, m.claimUnmount(this.node, token), this.toString(), r.trace);
    if (got.kind === 'unmount' && this.follow) {
      const done = await r.store.markUnmounted(at);
      r.trace.push(`  then markUnmounted → ${JSON.stringify(done)}`);
      same(done, m.markUnmounted(this.node, token), `${this.toString()} then markUnmounted`, r.trace);
    }
    await checkView(m, r, this.toString());
  }
  toString = (): string => `ClaimUnmount(${this.node}${this.follow ? ', then markUnmounted' : ''})`;
}

// Node A more often than the others, so that holders meet on one node (wait, join, takeover).
const nodeArb = fc.constantFrom('A', 'A', 'B', 'C');
const index = fc.nat({ max: 20 });
const rare = fc.nat({ max: 9 }).map((n) => n === 0);
const commandArbs: fc.Arbitrary<Cmd>[] = [
  fc.tuple(nodeArb, fc.constantFrom<AccessMode>('exclusive', 'exclusive', 'shared'), rare, fc.boolean()).map(([n, mode, p, g]) => new AcquireCmd(n, mode, p, g)),
  fc.tuple(nodeArb, fc.constantFrom<AccessMode>('exclusive', 'shared')).map(([n, mode]) => new AcquireCmd(n, mode, false, true)),
  index.map((i) => new TokenCmd('poll', i, false, false)),
  fc.tuple(index, rare).map(([i, s]) => new TokenCmd('markMounted', i, s, false)),
  fc.tuple(index, rare).map(([i, s]) => new TokenCmd('markMounted', i, s, false)),
  fc.tuple(index, rare).map(([i, s]) => new TokenCmd('abortMount', i, s, false)),
  fc.tuple(index, rare, fc.boolean()).map(([i, s, f]) => new TokenCmd('release', i, s, f)),
  fc.tuple(index, rare, fc.boolean()).map(([i, s, f]) => new TokenCmd('release', i, s, f)),
  fc.tuple(index, rare).map(([i, s]) => new TokenCmd('markUnmounted', i, s, false)),
  fc.tuple(index, rare).map(([i, s]) => new TokenCmd('renew', i, s, false)),
  index.map((i) => new TokenCmd('expire', i, false, false)),
  fc.tuple(nodeArb, fc.boolean()).map(([n, f]) => new ClaimUnmountCmd(n, f)),
];
// More of what moves the mount state forward: markMounted, polls, releases.
commandArbs.push(commandArbs[2]!, commandArbs[3]!, commandArbs[6]!);

// ================================================================ property 2: interleavings

interface TaskPlan {
  /** Request the other access mode than the run's (mode conflicts, mode changes between claims). */
  otherMode: boolean;
  /** The driver Mount "fails": abortMount instead of markMounted (then the task tries again). */
  abort: boolean;
  renews: number;
}

interface NodeLedger {
  /** Live registrations the node's answers imply (+1 on registering, −1 on release/abort). */
  holders: number;
  performing: string | undefined;
  mounted: boolean;
  unmounting: string | undefined;
  mounts: number;
  unmounts: number;
}

const MAX_STEPS = 400;

/** Snapshot invariants of one inspect(), whatever the interleaving (no lease ends here). */
function snapshotViolations(view: VolumeView | undefined): string[] {
  if (!view) return [];
  const out: string[] = [];
  const tokens = view.holders.map((h) => h.token);
  if (new Set(tokens).size !== tokens.length) out.push(`a token is registered twice: ${tokens.join(',')}`);
  for (const h of view.holders) if (h.expiresInMs <= 0) out.push(`holder ${h.token} expired (${h.expiresInMs} ms)`);
  if (view.mode === 'exclusive') {
    const used = new Set([...view.holders.map((h) => h.node), ...view.nodes.filter((n) => n.state !== 'absent').map((n) => n.node)]);
    if (used.size > 1) out.push(`exclusive volume in use on ${[...used].join(',')}`);
  }
  for (const n of view.nodes) {
    const performer = view.holders.find((h) => h.token === n.performer && h.node === n.node);
    if (n.state === 'mounting' && performer?.role !== 'holder') out.push(`${n.node} mounting without a live holder as performer (${n.performer ?? '-'})`);
    if (n.state === 'unmounting' && performer?.role !== 'unmounter') out.push(`${n.node} unmounting without a live unmounter as performer (${n.performer ?? '-'})`);
    if ((n.state === 'mounted' || n.state === 'absent') && n.performer !== undefined) out.push(`${n.node} ${n.state} with a performer ${n.performer}`);
    if (n.state === 'mounted' && (n.mountId === undefined || n.mountpoint === undefined)) out.push(`${n.node} mounted without mountId/mountpoint`);
  }
  for (const h of view.holders) {
    if (h.role !== 'unmounter') continue;
    const n = view.nodes.find((x) => x.node === h.node);
    if (n?.state !== 'unmounting' || n.performer !== h.token) out.push(`unmounter ${h.token} is not the performer of ${h.node}'s unmount`);
  }
  return out;
}

async function interleavedRun(s: fc.Scheduler, world: ModelWorld, mode: AccessMode, plan: TaskPlan[][]): Promise<void> {
  const vol: VolumeKey = { driver: 'mbt', name: `vol-${randomBytes(4).toString('hex')}` };
  const nodes = NODES.slice(0, plan.length);
  const clients = new Map<string, RefcountStore>();
  for (const n of nodes) clients.set(n, await world.open());
  const observer = await world.open();
  const violations: string[] = [];
  const trace: string[] = [];
  const checks: Promise<void>[] = [];
  const ledgers = new Map<string, NodeLedger>(nodes.map((n) => [n, { holders: 0, performing: undefined, mounted: false, unmounting: undefined, mounts: 0, unmounts: 0 }]));
  const allExclusive = mode === 'exclusive' && plan.every((tasks) => tasks.every((p) => !p.otherMode));
  // Certain-registration intervals (registering answer received .. release called), in event
  // order: for an all-exclusive run, intervals of different nodes must never overlap.
  let clock = 0;
  const intervals: { node: string; token: string; from: number; to: number }[] = [];
  const fail = (what: string): void => {
    violations.push(what);
  };

  // One call at a time per node (calls of different nodes run at once): each node's answers then
  // reach its ledger in the order the store applied them, so the ledger checks below are exact.
  const nodeTurn = new Map<string, Promise<unknown>>(nodes.map((n) => [n, Promise.resolve()]));
  const inTurn = <T>(node: string, f: () => Promise<T>): Promise<T> => {
    const next = nodeTurn.get(node)!.then(f);
    nodeTurn.set(node, next.catch(() => undefined));
    return next;
  };

  /** Every store call waits for the scheduler's go, then runs for real (other nodes' calls may be in flight). */
  const call = async <T>(node: string, label: string, f: (store: RefcountStore) => Promise<T>): Promise<T> => {
    await s.schedule(Promise.resolve(label), `${node} ${label}`);
    const got = await inTurn(node, () => f(clients.get(node)!));
    trace.push(`${node} ${label} → ${JSON.stringify(got)}`);
    checks.push(
      observer.inspect(vol).then(
        (view) => {
          for (const v of snapshotViolations(view)) fail(`after ${node} ${label}: ${v}`);
        },
        (error: unknown) => fail(`inspect failed: ${String(error)}`),
      ),
    );
    return got;
  };

  const task = async (node: string, i: number, p: TaskPlan): Promise<void> => {
    const L = ledgers.get(node)!;
    const myMode: AccessMode = p.otherMode ? (mode === 'exclusive' ? 'shared' : 'exclusive') : mode;
    let aborted = false;
    for (let step = 0; step < MAX_STEPS; step++) {
      const token = `${node}-${i}-${step}`;
      const at: HolderRef = { ...vol, node, token };
      const request: AcquireRequest = { ...at, task: `task-${token}`, mode: myMode, preempt: false, ttlMs: LONG };
      let got = await call(node, `acquire ${token} ${myMode}`, (st) => st.acquire(request));
      if (got.kind === 'held' || got.kind === 'mode-conflict' || got.kind === 'quarantine') continue;
      const from = ++clock;
      L.holders += 1;
      while (got.kind === 'wait' && step < MAX_STEPS) {
        step += 1;
        got = await call(node, `poll ${token}`, (st) => st.acquire(request));
      }
      if (got.kind === 'wait' || got.kind === 'held' || got.kind === 'mode-conflict' || got.kind === 'quarantine') {
        // Gave up waiting (or, impossibly, lost the registration): leave and stop.
        if (got.kind !== 'wait') fail(`${token}: a registered poll answered ${got.kind}`);
        // The interval ends when the release is *called*: with real I/O another node's answer
        // may be delivered before this one although the store applied this release first.
        intervals.push({ node, token, from, to: ++clock });
        const left = await call(node, `release ${token} (give up)`, (st) => st.release(at));
        if (left.kind !== 'released') fail(`${token}: giving up while waiting answered ${left.kind}`);
        L.holders -= 1;
        return;
      }
      if (got.kind === 'mount') {
        if (L.performing !== undefined && L.performing !== token) fail(`${node}: mount to ${token} while ${L.performing} performs`);
        if (L.mounted || L.unmounting !== undefined) fail(`${node}: mount to ${token} while the node is mounted/unmounting`);
        if (got.staleMountId !== undefined) fail(`${token}: a stale mount ID without any lease ending`);
        L.performing = token;
        if (p.abort && !aborted) {
          aborted = true;
          // Ends when abortMount is called, not answered (see the give-up case above).
          intervals.push({ node, token, from, to: ++clock });
          const done = await call(node, `abortMount ${token}`, (st) => st.abortMount(at));
          if (done.kind !== 'ok') fail(`${token}: abortMount answered ${done.kind}`);
          L.performing = undefined;
          L.holders -= 1;
          continue;
        }
        const done = await call(node, `markMounted ${token}`, (st) => st.markMounted(at, mountpointOf(node)));
        if (done.kind !== 'ok') fail(`${token}: markMounted answered ${JSON.stringify(done)}`);
        if (L.mounted) fail(`${node}: a second mounted state (by ${token})`);
        L.performing = undefined;
        L.mounted = true;
        L.mounts += 1;
      } else if (!L.mounted || L.unmounting !== undefined) {
        fail(`${node}: join for ${token} while the node is not mounted`);
      } else if (got.mountpoint !== mountpointOf(node)) {
        fail(`${node}: join for ${token} at ${got.mountpoint}`);
      }
      for (let k = 0; k < p.renews; k++) {
        const renewed = await call(node, `renew ${token}`, (st) => st.renew(at, LONG));
        if (renewed.kind !== 'ok') fail(`${token}: renew answered ${renewed.kind}`);
      }
      const to = ++clock;
      intervals.push({ node, token, from, to });
      const released = await call(node, `release ${token}`, (st) => st.release(at));
      L.holders -= 1;
      if (L.holders < 0) fail(`${node}: holder count ${L.holders}`);
      if (released.kind === 'unmount') {
        if (!L.mounted || L.unmounting !== undefined) fail(`${node}: unmount answer to ${token} while not mounted or already unmounting`);
        if (L.holders !== 0) fail(`${node}: unmount answer to ${token} while ${L.holders} other holders registered`);
        L.unmounting = token;
        const done = await call(node, `markUnmounted ${token}`, (st) => st.markUnmounted(at));
        if (done.kind !== 'ok') fail(`${token}: markUnmounted answered ${JSON.stringify(done)}`);
        L.unmounting = undefined;
        L.mounted = false;
        L.unmounts += 1;
      } else if (released.kind !== 'released') {
        fail(`${token}: release answered ${released.kind}`);
      }
      return;
    }
  };

  try {
    const all = Promise.all(plan.flatMap((tasks, n) => tasks.map((p, i) => task(nodes[n]!, i, p))));
    await s.waitFor(all);
    await Promise.all(checks);
    const final = await observer.inspect(vol);
    if (final && (final.holders.length > 0 || final.nodes.some((n) => n.state !== 'absent') || final.mode !== undefined)) {
      fail(`left behind: ${JSON.stringify(final)}`);
    }
    for (const [node, L] of ledgers) {
      if (L.holders !== 0 || L.mounted || L.performing !== undefined) fail(`${node}: ledger not back to zero ${JSON.stringify(L)}`);
      if (L.mounts !== L.unmounts) fail(`${node}: ${L.mounts} mounts but ${L.unmounts} unmount answers`);
    }
    if (allExclusive) {
      for (const a of intervals) {
        for (const b of intervals) {
          if (a.node < b.node && a.from < b.to && b.from < a.to) fail(`exclusive volume held on ${a.node} (${a.token}) and ${b.node} (${b.token}) at once`);
        }
      }
    }
  } finally {
    for (const c of [...clients.values(), observer]) await c.close();
  }
  if (violations.length > 0) {
    throw new Error(`${violations.slice(0, 10).join('\n')}\nscheduler:\n${s.report().length} scheduled calls\ntrace (last 60):\n  ${trace.slice(-60).join('\n  ')}`);
  }
}

const planArb: fc.Arbitrary<TaskPlan> = fc.record({ otherMode: fc.nat({ max: 7 }).map((n) => n === 0), abort: fc.nat({ max: 5 }).map((n) => n === 0), renews: fc.nat({ max: 2 }) });

// ================================================================ the suite

export function runModelBasedSuite(test: TestFn, name: string, options: ModelBasedOptions): void {
  test(`${name}: every answer and inspect() agree with a simple reference model (fast-check commands)`, async (t) => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commandArbs, { maxCommands: 40, size: 'medium' }), async (cmds) => {
        const world = await options.newWorld();
        try {
          const store = await world.open();
          const real: Real = { store, world, vol: { driver: 'mbt', name: `vol-${randomBytes(4).toString('hex')}` }, trace: [] };
          await fc.asyncModelRun(() => ({ model: new ReferenceModel(), real }), cmds);
        } finally {
          await world.dispose();
        }
      }),
      { numRuns: options.sequentialRuns, includeErrorInReport: true },
    );
    t.pass();
  });

  test(`${name}: concurrent acquire/release from several nodes keep the invariants in any interleaving (fast-check scheduler)`, async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.constantFrom<AccessMode>('exclusive', 'shared'),
        fc.array(fc.array(planArb, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 3 }),
        async (s, mode, plan) => {
          const world = await options.newWorld();
          try {
            await interleavedRun(s, world, mode, plan);
          } finally {
            await world.dispose();
          }
        },
      ),
      { numRuns: options.interleavingRuns, includeErrorInReport: true },
    );
    t.pass();
  });
}
