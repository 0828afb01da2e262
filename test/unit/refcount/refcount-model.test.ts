// Property tests of the pure refcount model: random operation sequences over three nodes,
// checked after every step against the safety rules of docs/contract.md and the invariants of
// docs/chaos.md: one performer per node, exclusive volumes on one node
// (except through preemption, which removes the old holders), finite leases, monotonic epoch,
// no revival of expired leases, idempotent retries.
import test from 'ava';
import fc from 'fast-check';
import * as model from '../../../src/refcount/refcount-model.js';
import type { VolumeRecord } from '../../../src/refcount/refcount-model.js';
import { StoreMisuseError } from '../../../src/refcount/refcount-errors.js';
import type { AccessMode, AcquireRequest, AcquireResult, HolderRef } from '../../../src/refcount/refcount-store.js';

const VOL = { driver: 'd', name: 'v' };
const NODES = ['A', 'B', 'C'] as const;
const TOKENS = ['t1', 't2', 't3', 'r1'] as const;
const MAX_TTL = 1000;

type Op =
  | { op: 'acquire'; node: string; token: string; mode: AccessMode; preempt: boolean; ttl: number; grace?: number }
  | { op: 'markMounted' | 'abortMount' | 'release' | 'markUnmounted'; node: string; token: string }
  | { op: 'renew' | 'claimUnmount'; node: string; token: string; ttl: number }
  | { op: 'reap'; node: string }
  | { op: 'advance'; ms: number };

const node = fc.constantFrom(...NODES);
const token = fc.constantFrom(...TOKENS);
const ttl = fc.integer({ min: 1, max: MAX_TTL });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record(
      {
        op: fc.constant('acquire' as const),
        node,
        token,
        mode: fc.constantFrom<AccessMode>('exclusive', 'exclusive', 'shared'),
        preempt: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
        ttl,
        grace: fc.integer({ min: 0, max: 3000 }),
      },
      { requiredKeys: ['op', 'node', 'token', 'mode', 'preempt', 'ttl'] },
    ),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('markMounted' as const, 'abortMount' as const, 'release' as const, 'markUnmounted' as const), node, token }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('renew' as const, 'claimUnmount' as const), node, token, ttl }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reap' as const), node }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 1500 }) }) },
);

const ref = (o: { node: string; token: string }): HolderRef => ({ ...VOL, node: o.node, token: o.token });
const request = (o: Extract<Op, { op: 'acquire' }>): AcquireRequest => ({
  ...ref(o),
  task: `task-${o.token}`,
  mode: o.mode,
  preempt: o.preempt,
  ttlMs: o.ttl,
  ...(o.grace === undefined ? {} : { orphanGraceMs: o.grace }),
});

function step(volume: VolumeRecord | undefined, o: Op, now: number): { volume: VolumeRecord | undefined; result: unknown } {
  switch (o.op) {
    case 'acquire':
      return model.acquire(volume, request(o), now);
    case 'markMounted':
      return model.markMounted(volume, ref(o), `/mnt/${o.node}`, now);
    case 'abortMount':
      return model.abortMount(volume, ref(o), now);
    case 'release':
      return model.release(volume, ref(o), now);
    case 'markUnmounted':
      return model.markUnmounted(volume, ref(o), now);
    case 'renew':
      return model.renew(volume, ref(o), o.ttl, now);
    case 'claimUnmount':
      return model.claimUnmount(volume, ref(o), o.ttl, now);
    case 'reap':
      return model.reap(volume, o.node, now);
    case 'advance':
      return { volume, result: undefined };
  }
}

const live = (v: VolumeRecord, now: number) => v.holders.filter((h) => h.expiresAt > now);

/** Invariants of one record at time `now`; returns the first violation, or undefined. */
function violation(v: VolumeRecord | undefined, now: number): string | undefined {
  if (!v) return undefined;
  const ids = v.holders.map((h) => `${h.node}/${h.token}`);
  if (new Set(ids).size !== ids.length) return `duplicate holder ${ids.join(',')}`;
  if (new Set(v.nodes.map((n) => n.node)).size !== v.nodes.length) return 'duplicate node record';
  if (!Number.isInteger(v.epoch) || v.epoch < 0) return `bad epoch ${v.epoch}`;
  for (const h of v.holders) {
    // Nothing expires without bounds.
    if (!Number.isFinite(h.expiresAt) || h.expiresAt > now + MAX_TTL) return `unbounded lease ${JSON.stringify(h)}`;
    if (!v.nodes.some((n) => n.node === h.node)) return `holder ${h.token} on ${h.node} without node record`;
  }
  const alive = live(v, now);
  if (alive.some((h) => h.role === 'holder') && v.mode === undefined) return 'live holders without a mode';
  for (const n of v.nodes) {
    if ((n.state === 'mounting' || n.state === 'unmounting') && n.performer === undefined) return `${n.node} ${n.state} without performer`;
    if (n.state === 'mounting' && n.mountId !== n.performer) return `${n.node} mounting: mountId ${n.mountId} is not the performer ${n.performer}`;
    if (n.state === 'mounted' && (n.mountpoint === undefined || n.performer !== undefined || n.mountId === undefined)) return `${n.node} mounted inconsistently`;
    if (n.state === 'absent' && (n.performer ?? n.mountpoint ?? n.mountId) !== undefined) return `${n.node} absent with leftovers`;
    // At most one performer per node, and it is that node's live holder of the right role.
    const unmounters = alive.filter((h) => h.node === n.node && h.role === 'unmounter');
    if (unmounters.length > 1) return `${n.node} has ${unmounters.length} live unmounters`;
    for (const u of unmounters) if (!(n.state === 'unmounting' && n.performer === u.token)) return `${n.node}: live unmounter ${u.token} is not performing`;
    const performer = alive.find((h) => h.node === n.node && h.token === n.performer);
    if (performer && n.state === 'mounting' && performer.role !== 'holder') return `${n.node}: mounting performer is an unmounter`;
  }
  // Exclusive: live task holders on at most one node.
  if (v.mode === 'exclusive') {
    const nodes = new Set(alive.filter((h) => h.role === 'holder').map((h) => h.node));
    if (nodes.size > 1) return `exclusive volume held on ${[...nodes].join(',')}`;
  }
  return undefined;
}

function run(ops: Op[], check: (before: VolumeRecord | undefined, o: Op, after: VolumeRecord | undefined, result: unknown, now: number) => string | undefined): void {
  let volume: VolumeRecord | undefined;
  let now = 1_000_000;
  for (const [i, o] of ops.entries()) {
    if (o.op === 'advance') {
      now += o.ms;
      continue;
    }
    const frozen = JSON.stringify(volume);
    let next: { volume: VolumeRecord | undefined; result: unknown };
    try {
      next = step(volume, o, now);
    } catch (error) {
      // The only refusal the model knows: an unmounter's token acquiring again.
      if (!(error instanceof StoreMisuseError) || o.op !== 'acquire') throw error;
      next = { volume, result: 'misuse' };
    }
    if (JSON.stringify(volume) !== frozen) throw new Error(`step ${i} mutated its input`);
    const problem = violation(next.volume, now) ?? check(volume, o, next.volume, next.result, now);
    if (problem) throw new Error(`step ${i} ${JSON.stringify(o)} → ${JSON.stringify(next.result)}: ${problem}\nstate ${JSON.stringify(next.volume)}`);
    volume = next.volume;
  }
}

const sequences = fc.array(opArb, { minLength: 1, maxLength: 80 });

test('random sequences keep every invariant of the record', (t) => {
  fc.assert(fc.property(sequences, (ops) => run(ops, () => undefined)), { numRuns: 2000 });
  t.pass();
});

test('epoch never decreases, and a preemption that revokes increases it and leaves no other node holding', (t) => {
  fc.assert(
    fc.property(sequences, (ops) =>
      run(ops, (before, o, after, result, now) => {
        if ((after?.epoch ?? 0) < (before?.epoch ?? 0)) return 'epoch went back';
        if (o.op !== 'acquire' || !o.preempt || o.mode !== 'exclusive' || !after) return undefined;
        const kind = (result as { kind?: string }).kind;
        if (kind !== 'mount' && kind !== 'join' && kind !== 'wait') return undefined;
        // Unmounters are exempt: a reconciler may clean a preempted node's orphan at any time.
        if (live(after, now).some((h) => h.node !== o.node && h.role === 'holder')) return 'live holders of another node survived a preemption';
        // Only task holders are revoked (unmounters are exempt, as above): a retried preemption
        // that meets only another node's unmounter revokes nobody and keeps the epoch.
        const revoked = live(before ?? after, now).some((h) => h.node !== o.node && h.role === 'holder');
        if (revoked && after.epoch <= (before?.epoch ?? 0)) return 'a revoking preemption did not increase the epoch';
        return undefined;
      }),
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

test('an exclusive grant without preempt happens only when no other node has a live holder', (t) => {
  fc.assert(
    fc.property(sequences, (ops) =>
      run(ops, (before, o, _after, result, now) => {
        if (o.op !== 'acquire' || o.mode !== 'exclusive' || o.preempt || !before) return undefined;
        const kind = (result as { kind?: string }).kind;
        if (kind !== 'mount' && kind !== 'join' && kind !== 'wait') return undefined;
        // A retry by a registered holder is not a new grant (the grant was checked when it was made).
        if (live(before, now).some((h) => h.node === o.node && h.token === o.token)) return undefined;
        const others = live(before, now).filter((h) => h.node !== o.node);
        return others.length > 0 ? `granted to ${o.node} while ${others.map((h) => h.node).join(',')} live` : undefined;
      }),
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

test('a mount is handed out only when the node has no other live performer', (t) => {
  fc.assert(
    fc.property(sequences, (ops) =>
      run(ops, (before, o, _after, result, now) => {
        if (o.op !== 'acquire' || (result as { kind?: string }).kind !== 'mount' || !before) return undefined;
        const n = before.nodes.find((x) => x.node === o.node);
        if (!n?.performer || n.performer === o.token) return undefined;
        const performer = live(before, now).find((h) => h.node === o.node && h.token === n.performer);
        return performer ? `mount given to ${o.token} while ${n.performer} performs, live` : undefined;
      }),
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

test('expired leases are never revived: renew and markMounted of an expired holder are lost', (t) => {
  fc.assert(
    fc.property(sequences, (ops) =>
      run(ops, (before, o, after, result, now) => {
        if (!before || (o.op !== 'renew' && o.op !== 'markMounted' && o.op !== 'release')) return undefined;
        const h = before.holders.find((x) => x.node === o.node && x.token === o.token);
        if (!h || h.expiresAt > now) return undefined;
        const kind = (result as { kind: string }).kind;
        if (o.op === 'release') return kind === 'unknown' && !after?.holders.includes(h) ? undefined : `release of expired holder: ${kind}`;
        return kind === 'lost' ? undefined : `${o.op} of an expired holder answered ${kind}`;
      }),
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

test('idempotent retries: acquire twice answers the same with one entry; release twice never releases twice', (t) => {
  fc.assert(
    fc.property(sequences, opArb.filter((o) => o.op === 'acquire'), fc.boolean(), (ops, last, viaRelease) => {
      let volume: VolumeRecord | undefined;
      let now = 1_000_000;
      for (const o of ops) {
        if (o.op === 'advance') now += o.ms;
        else {
          try {
            volume = step(volume, o, now).volume;
          } catch {
            // misuse refusals leave the state as it was
          }
        }
      }
      const a = last;
      if (viaRelease) {
        const first = model.release(volume, ref(a), now);
        const second = model.release(first.volume, ref(a), now);
        if (first.result.kind === 'released' && second.result.kind !== 'unknown') throw new Error('released twice');
        if (first.result.kind === 'unmount' && JSON.stringify(second.result) !== JSON.stringify(first.result)) throw new Error('unmount answer changed');
        return;
      }
      let first;
      try {
        first = model.acquire(volume, request(a), now);
      } catch (error) {
        if (error instanceof StoreMisuseError) return;
        throw error;
      }
      const second = model.acquire(first.volume, request(a), now);
      // `preempted` names whom *this call* revoked: the retry revokes nobody, so it answers the
      // same without that field (and must not repeat it).
      const { preempted: _revokedByFirst, ...expected } = first.result as AcquireResult & { preempted?: string[] };
      if (JSON.stringify(second.result) !== JSON.stringify(expected)) throw new Error(`${JSON.stringify(first.result)} then ${JSON.stringify(second.result)}`);
      const count = (v: VolumeRecord | undefined) => v?.holders.filter((h) => h.node === a.node && h.token === a.token).length ?? 0;
      if (count(second.volume) !== count(first.volume) || count(second.volume) > 1) throw new Error('registered twice');
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('leases are bounded: a ttl of 0, a negative, an infinite or a huge one is refused', (t) => {
  for (const ttlMs of [0, -1, Number.POSITIVE_INFINITY, Number.NaN, model.MAX_TTL_MS + 1]) {
    t.throws(() => model.acquire(undefined, { ...VOL, node: 'A', token: 't', task: 'x', mode: 'shared', preempt: false, ttlMs }, 0), { instanceOf: StoreMisuseError });
    t.throws(() => model.renew(undefined, { ...VOL, node: 'A', token: 't' }, ttlMs, 0), { instanceOf: StoreMisuseError });
  }
});

test('an unmounter cannot claim again under its token', (t) => {
  const req: AcquireRequest = { ...VOL, node: 'A', token: 't', task: 'x', mode: 'exclusive', preempt: false, ttlMs: 100 };
  let v = model.acquire(undefined, req, 0).volume;
  v = model.markMounted(v, req, '/m', 1).volume;
  const released = model.release(v, req, 2);
  t.deepEqual(released.result, { kind: 'unmount', mountpoint: '/m', mountId: 't' });
  t.throws(() => model.acquire(released.volume, req, 3), { code: 'DVDI_STORE_MISUSE' });
});

test('volume ids are unambiguous for names containing slashes', (t) => {
  t.not(model.volumeId({ driver: 'a/b', name: 'c' }), model.volumeId({ driver: 'a', name: 'b/c' }));
});
