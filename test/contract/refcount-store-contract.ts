// The RefcountStore contract: one suite that every store (embedded now, Redis later) must pass.
// `makeStore` builds a fresh, isolated store per test. Where the contract needs time to pass
// (lease expiry, orphan grace), the fixture's `advance(ms)` moves the store's clock; a store
// that reads a real clock (Redis TIME) leaves it out and the suite sleeps for real instead. To
// stay correct on a loaded machine, every lease is long while the test needs it alive; a test
// that wants a lease to end shortens it with renew(short) right before letting time pass.
import type { ExecutionContext, TestFn } from 'ava';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccessMode, AcquireRequest, HolderRef, RefcountStore, VolumeKey, VolumeView } from '../../src/refcount/refcount-store.js';

export interface StoreFixture {
  store: RefcountStore;
  /** Move the store's clock forward; absent when the store reads real time. */
  advance?: (ms: number) => Promise<void>;
  cleanup?: () => Promise<void>;
  /**
   * Present when the backend can lose data (Redis restarted without persistence, failover to a
   * replica that had not caught up): drops everything this fixture's store keeps, as that loss
   * would. The data-loss part of the contract (renew `missing`, reclaim, quarantine) runs only
   * where this is given.
   */
  loseData?: () => Promise<void>;
}

export type StoreFactory = () => Promise<StoreFixture>;

const LONG = 60_000;

interface Ctx {
  store: RefcountStore;
  /** A lease meant to expire within the test. */
  short: number;
  /** True when the fixture moves the store's clock (`advance`), so timing cannot matter. */
  controlsTime: boolean;
  /** The fixture's data-loss hook, when the backend can lose data. */
  loseData: (() => Promise<void>) | undefined;
  vol: VolumeKey;
  /** Let `ms` of store time pass. */
  pass(ms: number): Promise<void>;
  /** Shorten these holders' leases and let them end. */
  letExpire(...refs: HolderRef[]): Promise<void>;
  req(node: string, token: string, options?: { mode?: AccessMode; preempt?: boolean; ttlMs?: number; orphanGraceMs?: number; vol?: VolumeKey }): AcquireRequest;
  ref(node: string, token: string, vol?: VolumeKey): HolderRef;
  inspect(vol?: VolumeKey): Promise<VolumeView>;
  /** acquire → mount → markMounted, asserting each step. */
  mounted(node: string, token: string, options?: { mode?: AccessMode; ttlMs?: number }): Promise<number>;
}

function uid(): string {
  return randomBytes(5).toString('hex');
}

export function runStoreContract(test: TestFn, name: string, makeStore: StoreFactory): void {
  const it = (title: string, body: (t: ExecutionContext, c: Ctx) => Promise<void>): void => {
    test(`${name}: ${title}`, async (t) => {
      const fixture = await makeStore();
      t.teardown(async () => {
        await fixture.store.close();
        await fixture.cleanup?.();
      });
      const { store } = fixture;
      // Unique names per test, so that stores shared between tests (one Redis) stay isolated.
      const vol: VolumeKey = { driver: `drv-${uid()}`, name: `vol-${uid()}` };
      const pass = async (ms: number): Promise<void> => {
        if (fixture.advance) await fixture.advance(ms);
        else await sleep(ms);
      };
      const short = 300;
      const c: Ctx = {
        store,
        short,
        controlsTime: fixture.advance !== undefined,
        loseData: fixture.loseData,
        vol,
        pass,
        async letExpire(...refs) {
          for (const r of refs) t.like(await store.renew(r, short), { kind: 'ok' });
          await pass(short + 200);
        },
        req: (node, token, o = {}) => ({
          ...(o.vol ?? vol),
          node,
          token,
          task: `task-${token}`,
          mode: o.mode ?? 'exclusive',
          preempt: o.preempt ?? false,
          ttlMs: o.ttlMs ?? LONG,
          ...(o.orphanGraceMs === undefined ? {} : { orphanGraceMs: o.orphanGraceMs }),
        }),
        ref: (node, token, v = vol) => ({ ...v, node, token }),
        async inspect(v = vol) {
          const view = await store.inspect(v);
          if (!view) throw new Error(`inspect(${v.name}) returned undefined`);
          return view;
        },
        async mounted(node, token, o = {}) {
          const result = await store.acquire(c.req(node, token, o));
          if (result.kind !== 'mount') throw new Error(`expected mount for ${node}/${token}, got ${JSON.stringify(result)}`);
          t.like(await store.markMounted(c.ref(node, token), `/mnt/${node}`), { kind: 'ok' });
          return result.epoch;
        },
      };
      await body(t, c);
    });
  };

  const nodeState = (view: VolumeView, node: string): string => view.nodes.find((n) => n.node === node)?.state ?? 'absent';
  const holdersOf = (view: VolumeView, node?: string): string[] =>
    view.holders.filter((h) => node === undefined || h.node === node).map((h) => h.token).sort();

  // ---------------------------------------------------------------- acquire on one node

  it('first acquire mounts: state mounting, performed by the caller, whose token is the Mount ID', async (t, c) => {
    const result = await c.store.acquire(c.req('A', 't1'));
    t.is(result.kind, 'mount');
    if (result.kind === 'mount') {
      t.true(result.epoch >= 1);
      t.is(result.staleMountId, undefined);
    }
    const view = await c.inspect();
    t.is(view.mode, 'exclusive');
    t.like(view.nodes.find((n) => n.node === 'A'), { state: 'mounting', performer: 't1', mountId: 't1' });
    t.deepEqual(holdersOf(view), ['t1']);
    t.like(view.holders[0], { node: 'A', task: 'task-t1', role: 'holder' });
    t.true(view.holders[0]!.expiresInMs > 0 && view.holders[0]!.expiresInMs <= LONG);
  });

  it('a second task on the same node waits while mounting and joins after markMounted', async (t, c) => {
    await c.store.acquire(c.req('A', 't1'));
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'wait', state: 'mounting', performer: 't1' });
    t.deepEqual(await c.store.markMounted(c.ref('A', 't1'), '/mnt/A'), { kind: 'ok' });
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'join', mountpoint: '/mnt/A' });
    const view = await c.inspect();
    t.deepEqual(holdersOf(view, 'A'), ['t1', 't2']);
    t.like(view.nodes.find((n) => n.node === 'A'), { state: 'mounted', mountpoint: '/mnt/A', mountId: 't1' });
    t.is(view.nodes.find((n) => n.node === 'A')?.performer, undefined);
  });

  it('only the performer may mark mounted; an unknown token is lost', async (t, c) => {
    await c.store.acquire(c.req('A', 't1'));
    await c.store.acquire(c.req('A', 't2'));
    t.like(await c.store.markMounted(c.ref('A', 't2'), '/x'), { kind: 'not-performer', state: 'mounting', performer: 't1' });
    t.deepEqual(await c.store.markMounted(c.ref('A', 'nobody'), '/x'), { kind: 'lost' });
    t.deepEqual(await c.store.renew(c.ref('A', 'nobody'), LONG), { kind: 'lost' });
  });

  it('abortMount puts the node back to absent and the next holder performs, without a stale ID', async (t, c) => {
    await c.store.acquire(c.req('A', 't1'));
    t.is((await c.store.acquire(c.req('A', 't2'))).kind, 'wait');
    t.deepEqual(await c.store.abortMount(c.ref('A', 't1')), { kind: 'ok' });
    t.deepEqual(await c.store.abortMount(c.ref('A', 't1')), { kind: 'ok' }, 'abort is idempotent');
    t.deepEqual(holdersOf(await c.inspect()), ['t2']);
    const next = await c.store.acquire(c.req('A', 't2'));
    t.like(next, { kind: 'mount' });
    t.is(next.kind === 'mount' ? next.staleMountId : 'x', undefined);
  });

  it('release of the performer while mounting is an abort: released, node absent', async (t, c) => {
    await c.store.acquire(c.req('A', 't1'));
    await c.store.acquire(c.req('A', 't2'));
    t.deepEqual(await c.store.release(c.ref('A', 't1')), { kind: 'released' });
    t.is(nodeState(await c.inspect(), 'A'), 'absent');
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'mount' });
  });

  it('release while another holder of the node is the mounting performer → released', async (t, c) => {
    await c.store.acquire(c.req('A', 't1'));
    await c.store.acquire(c.req('A', 't2'));
    t.deepEqual(await c.store.release(c.ref('A', 't2')), { kind: 'released' });
    t.like((await c.inspect()).nodes.find((n) => n.node === 'A'), { state: 'mounting', performer: 't1' });
  });

  // ---------------------------------------------------------------- release and unmount

  it('release order: only the last live holder gets unmount, once; markUnmounted makes the node absent', async (t, c) => {
    await c.mounted('A', 't1');
    t.is((await c.store.acquire(c.req('A', 't2'))).kind, 'join');
    t.is((await c.store.acquire(c.req('A', 't3'))).kind, 'join');
    t.deepEqual(await c.store.release(c.ref('A', 't2')), { kind: 'released' });
    t.deepEqual(await c.store.release(c.ref('A', 't1')), { kind: 'released' });
    t.deepEqual(await c.store.release(c.ref('A', 't3')), { kind: 'unmount', mountpoint: '/mnt/A', mountId: 't1' });
    const during = await c.inspect();
    t.like(during.nodes.find((n) => n.node === 'A'), { state: 'unmounting', performer: 't3', mountId: 't1' });
    t.like(during.holders.find((h) => h.token === 't3'), { role: 'unmounter' });
    // A retried release of the unmounter repeats its answer; the others stay unknown.
    t.deepEqual(await c.store.release(c.ref('A', 't3')), { kind: 'unmount', mountpoint: '/mnt/A', mountId: 't1' });
    t.deepEqual(await c.store.release(c.ref('A', 't1')), { kind: 'unknown' });
    t.deepEqual(await c.store.markUnmounted(c.ref('A', 't3')), { kind: 'ok' });
    t.deepEqual(await c.store.markUnmounted(c.ref('A', 't3')), { kind: 'ok' }, 'markUnmounted is idempotent');
    const after = await c.store.inspect(c.vol);
    t.is(after === undefined ? 'absent' : nodeState(after, 'A'), 'absent');
    t.deepEqual(after?.holders ?? [], []);
    t.false((await c.store.list()).some((v) => v.name === c.vol.name), 'list shows only volumes in use');
  });

  it('a holder arriving while the node unmounts waits, then mounts afresh', async (t, c) => {
    await c.mounted('A', 't1');
    t.like(await c.store.release(c.ref('A', 't1')), { kind: 'unmount' });
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'wait', state: 'unmounting', performer: 't1' });
    t.like(await c.store.markUnmounted(c.ref('A', 't2')), { kind: 'not-performer', state: 'unmounting' });
    t.deepEqual(await c.store.markUnmounted(c.ref('A', 't1')), { kind: 'ok' });
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'mount' });
  });

  // ---------------------------------------------------------------- across nodes

  it('exclusive: node B is refused while node A holds, and is not registered', async (t, c) => {
    await c.mounted('A', 'a1');
    t.deepEqual(await c.store.acquire(c.req('B', 'b1')), { kind: 'held', nodes: ['A'] });
    t.deepEqual(holdersOf(await c.inspect()), ['a1']);
    t.deepEqual(await c.store.renew(c.ref('B', 'b1'), LONG), { kind: 'lost' });
  });

  it('exclusive: a node that is still unmounting blocks other nodes until markUnmounted', async (t, c) => {
    await c.mounted('A', 'a1');
    await c.store.release(c.ref('A', 'a1'));
    t.deepEqual(await c.store.acquire(c.req('B', 'b1')), { kind: 'held', nodes: ['A'] });
    await c.store.markUnmounted(c.ref('A', 'a1'));
    t.like(await c.store.acquire(c.req('B', 'b1')), { kind: 'mount' });
  });

  it('shared: two nodes both mount, each with its own node state', async (t, c) => {
    t.like(await c.store.acquire(c.req('A', 'a1', { mode: 'shared' })), { kind: 'mount' });
    t.like(await c.store.acquire(c.req('B', 'b1', { mode: 'shared' })), { kind: 'mount' });
    const view = await c.inspect();
    t.is(view.mode, 'shared');
    t.is(nodeState(view, 'A'), 'mounting');
    t.is(nodeState(view, 'B'), 'mounting');
  });

  it('mode conflict: a claim with the other mode is refused while holders exist, on any node', async (t, c) => {
    await c.store.acquire(c.req('A', 'a1', { mode: 'exclusive' }));
    t.deepEqual(await c.store.acquire(c.req('B', 'b1', { mode: 'shared' })), { kind: 'mode-conflict', mode: 'exclusive' });
    t.deepEqual(await c.store.acquire(c.req('A', 'a2', { mode: 'shared' })), { kind: 'mode-conflict', mode: 'exclusive' });
    t.deepEqual(holdersOf(await c.inspect()), ['a1']);
    // With the claim gone the mode is free again.
    await c.store.release(c.ref('A', 'a1'));
    t.like(await c.store.acquire(c.req('B', 'b1', { mode: 'shared' })), { kind: 'mount' });
  });

  it('preempt: the other node’s holders are revoked and the epoch increases by one', async (t, c) => {
    const e1 = await c.mounted('A', 'a1');
    await c.store.acquire(c.req('A', 'a2'));
    const taken = await c.store.acquire(c.req('B', 'b1', { preempt: true }));
    t.deepEqual(taken, { kind: 'mount', epoch: e1 + 1, preempted: ['A'] });
    t.deepEqual(await c.store.renew(c.ref('A', 'a1'), LONG), { kind: 'lost' });
    t.deepEqual(await c.store.renew(c.ref('A', 'a2'), LONG), { kind: 'lost' });
    t.deepEqual(await c.store.renew(c.ref('B', 'b1'), LONG), { kind: 'ok', epoch: e1 + 1, expiresInMs: LONG });
    const view = await c.inspect();
    t.deepEqual(holdersOf(view), ['b1']);
    t.is(view.epoch, e1 + 1);
    // A's mount is still recorded: A's reconciler finds it orphaned and unmounts it.
    t.is(nodeState(view, 'A'), 'mounted');
    t.true((await c.store.reap('A')).some((v) => v.name === c.vol.name));
    t.like(await c.store.claimUnmount(c.ref('A', 'rec-A'), LONG), { kind: 'unmount', state: 'mounted', mountpoint: '/mnt/A', mountId: 'a1' });
    t.deepEqual(await c.store.markUnmounted(c.ref('A', 'rec-A')), { kind: 'ok' });
  });

  it('epoch: unchanged when re-granted to the same node, +1 when granted to another node', async (t, c) => {
    const cycle = async (node: string, token: string): Promise<number> => {
      const epoch = await c.mounted(node, token);
      t.like(await c.store.release(c.ref(node, token)), { kind: 'unmount' });
      t.deepEqual(await c.store.markUnmounted(c.ref(node, token)), { kind: 'ok' });
      return epoch;
    };
    const e1 = await cycle('A', 'a1');
    t.is(await cycle('A', 'a2'), e1);
    t.is(await cycle('B', 'b1'), e1 + 1);
    t.is(await cycle('A', 'a3'), e1 + 2);
    t.is((await c.inspect()).epoch, e1 + 2, 'the epoch outlives the holders');
  });

  // ---------------------------------------------------------------- leases

  it('renew moves the lease end to now + ttl, longer or shorter', async (t, c) => {
    await c.store.acquire(c.req('A', 't1'));
    t.deepEqual(await c.store.renew(c.ref('A', 't1'), 2 * LONG), { kind: 'ok', epoch: (await c.inspect()).epoch, expiresInMs: 2 * LONG });
    t.true((await c.inspect()).holders[0]!.expiresInMs > LONG, 'beyond the first lease');
    await c.letExpire(c.ref('A', 't1'));
    t.deepEqual(await c.store.renew(c.ref('A', 't1'), LONG), { kind: 'lost' });
  });

  it('renewing every third of a short lease keeps it alive past its first TTL', async (t, c) => {
    // Needs store time that only moves when told: with a real clock a loaded machine could
    // delay one renew past the lease, which says nothing about the store.
    if (!c.controlsTime) {
      t.pass('store reads real time: covered by the test above');
      return;
    }
    await c.store.acquire(c.req('A', 't1', { ttlMs: c.short }));
    for (let i = 0; i < 4; i++) {
      await c.pass(c.short / 3);
      t.like(await c.store.renew(c.ref('A', 't1'), c.short), { kind: 'ok', expiresInMs: c.short });
    }
    t.true((await c.inspect()).holders[0]!.expiresInMs > 0);
    t.deepEqual(await c.store.reap('A'), []);
  });

  it('an expired lease is lost for good: renew lost, reap removes it and reports the volume', async (t, c) => {
    await c.mounted('A', 't1');
    await c.letExpire(c.ref('A', 't1'));
    t.deepEqual(await c.store.renew(c.ref('A', 't1'), c.short), { kind: 'lost' });
    t.deepEqual(await c.store.markMounted(c.ref('A', 't1'), '/mnt/A'), { kind: 'lost' });
    const before = await c.inspect();
    t.true(before.holders[0]!.expiresInMs <= 0, 'expired but not yet reaped');
    t.deepEqual(await c.store.reap('B'), [], 'reap touches only its own node');
    t.deepEqual(holdersOf(await c.inspect()), ['t1']);
    const reaped = await c.store.reap('A');
    t.deepEqual(reaped.filter((v) => v.name === c.vol.name), [c.vol]);
    const after = await c.inspect();
    t.deepEqual(after.holders, []);
    t.is(nodeState(after, 'A'), 'mounted', 'the orphaned mount stays until someone unmounts it');
    t.deepEqual(await c.store.renew(c.ref('A', 't1'), c.short), { kind: 'lost' });
  });

  it('release of an expired holder is unknown and never hands it the unmount', async (t, c) => {
    await c.mounted('A', 't1');
    await c.letExpire(c.ref('A', 't1'));
    t.deepEqual(await c.store.release(c.ref('A', 't1')), { kind: 'unknown' });
    t.is(nodeState(await c.inspect(), 'A'), 'mounted');
  });

  it('takeover: when the mounting performer’s lease ends, the next acquire mounts with staleMountId', async (t, c) => {
    t.like(await c.store.acquire(c.req('A', 't1')), { kind: 'mount' });
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'wait', performer: 't1' });
    await c.letExpire(c.ref('A', 't1'));
    const taken = await c.store.acquire(c.req('A', 't2'));
    t.like(taken, { kind: 'mount', staleMountId: 't1' });
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'mount', staleMountId: 't1' }, 'a retried acquire repeats the stale ID');
    t.like((await c.inspect()).nodes.find((n) => n.node === 'A'), { state: 'mounting', performer: 't2', mountId: 't2' });
    t.deepEqual(await c.store.markMounted(c.ref('A', 't1'), '/mnt/A'), { kind: 'lost' });
    t.deepEqual(await c.store.markMounted(c.ref('A', 't2'), '/mnt/A'), { kind: 'ok' });
  });

  it('takeover of a dead unmounter: the next acquire mounts and Unmounts the old mount ID first', async (t, c) => {
    await c.mounted('A', 't1');
    t.like(await c.store.release(c.ref('A', 't1')), { kind: 'unmount', mountId: 't1' });
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'wait', state: 'unmounting' });
    await c.letExpire(c.ref('A', 't1'));
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'mount', staleMountId: 't1' });
  });

  it('an expired holder that acquires again is judged as a new claim', async (t, c) => {
    await c.mounted('A', 'a1');
    await c.letExpire(c.ref('A', 'a1'));
    // Meanwhile B took V past A's orphan grace.
    t.like(await c.store.acquire(c.req('B', 'b1', { orphanGraceMs: 1 })), { kind: 'mount' });
    t.deepEqual(await c.store.acquire(c.req('A', 'a1')), { kind: 'held', nodes: ['B'] });
  });

  it('orphan grace: an orphaned node blocks exclusive grants elsewhere only within the grace', async (t, c) => {
    const e1 = await c.mounted('A', 'a1');
    await c.letExpire(c.ref('A', 'a1'));
    t.deepEqual(await c.store.acquire(c.req('B', 'b1', { orphanGraceMs: 3_600_000 })), { kind: 'held', nodes: ['A'] });
    t.deepEqual(await c.store.acquire(c.req('B', 'b1', { orphanGraceMs: 50 })), { kind: 'mount', epoch: e1 + 1 });
  });

  it('claimUnmount: only when no live holder or performer is on the node', async (t, c) => {
    t.deepEqual(await c.store.claimUnmount(c.ref('A', 'rec'), LONG), { kind: 'absent' });
    await c.store.acquire(c.req('A', 't1'));
    t.deepEqual(await c.store.claimUnmount(c.ref('A', 'rec'), LONG), { kind: 'busy' }, 'live performer');
    await c.store.markMounted(c.ref('A', 't1'), '/mnt/A');
    t.deepEqual(await c.store.claimUnmount(c.ref('A', 'rec'), LONG), { kind: 'busy' }, 'live holder');
    await c.letExpire(c.ref('A', 't1'));
    const claim = await c.store.claimUnmount(c.ref('A', 'rec'), LONG);
    t.deepEqual(claim, { kind: 'unmount', state: 'mounted', mountpoint: '/mnt/A', mountId: 't1' });
    t.like(await c.store.claimUnmount(c.ref('A', 'rec'), LONG), { kind: 'unmount' }, 'the same reconciler may retry');
    t.deepEqual(await c.store.claimUnmount(c.ref('A', 'rec2'), LONG), { kind: 'busy' }, 'a second reconciler may not');
    t.like(await c.store.acquire(c.req('A', 't3')), { kind: 'wait', state: 'unmounting', performer: 'rec' });
    t.deepEqual(await c.store.markUnmounted(c.ref('A', 'rec')), { kind: 'ok' });
    t.is(nodeState(await c.inspect(), 'A'), 'absent');
  });

  it('claimUnmount of a dead mounting performer hands over its Mount ID', async (t, c) => {
    await c.store.acquire(c.req('A', 't1'));
    await c.letExpire(c.ref('A', 't1'));
    t.deepEqual((await c.store.reap('A')).filter((v) => v.name === c.vol.name), [c.vol]);
    t.like(await c.store.claimUnmount(c.ref('A', 'rec'), LONG), { kind: 'unmount', state: 'mounting', mountId: 't1' });
  });

  // ---------------------------------------------------------------- idempotence

  it('idempotent retries: acquire twice is one holder; a second release is unknown', async (t, c) => {
    const first = await c.store.acquire(c.req('A', 't1'));
    const again = await c.store.acquire(c.req('A', 't1'));
    t.deepEqual(again, first);
    await c.store.markMounted(c.ref('A', 't1'), '/mnt/A');
    t.deepEqual(await c.store.markMounted(c.ref('A', 't1'), '/mnt/A'), { kind: 'ok' }, 'markMounted retry');
    t.like(await c.store.acquire(c.req('A', 't1')), { kind: 'join', mountpoint: '/mnt/A' });
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'join' });
    t.like(await c.store.acquire(c.req('A', 't2')), { kind: 'join' });
    t.deepEqual(holdersOf(await c.inspect()), ['t1', 't2']);
    t.deepEqual(await c.store.release(c.ref('A', 't2')), { kind: 'released' });
    t.deepEqual(await c.store.release(c.ref('A', 't2')), { kind: 'unknown' });
    t.deepEqual(holdersOf(await c.inspect()), ['t1']);
  });

  // ---------------------------------------------------------------- concurrency

  it('concurrent acquires on one node: exactly one performer, everyone registered once', async (t, c) => {
    const tokens = Array.from({ length: 20 }, (_, i) => `t${i}`);
    const results = await Promise.all(tokens.map((token) => c.store.acquire(c.req('A', token))));
    const performers = tokens.filter((_, i) => results[i]!.kind === 'mount');
    t.is(performers.length, 1);
    t.is(results.filter((r) => r.kind === 'wait').length, 19);
    await c.store.markMounted(c.ref('A', performers[0]!), '/mnt/A');
    const releases = await Promise.all(tokens.map((token) => c.store.release(c.ref('A', token))));
    const unmounters = tokens.filter((_, i) => releases[i]!.kind === 'unmount');
    t.is(unmounters.length, 1, 'exactly one release unmounts');
    t.deepEqual(await c.store.markUnmounted(c.ref('A', unmounters[0]!)), { kind: 'ok' });
    t.deepEqual((await c.store.inspect(c.vol))?.holders ?? [], []);
  });

  it('concurrent exclusive acquires from several nodes: exactly one node is granted', async (t, c) => {
    const nodes = ['A', 'B', 'C', 'D'];
    const results = await Promise.all(nodes.flatMap((node) => [1, 2, 3].map((i) => c.store.acquire(c.req(node, `${node}${i}`)))));
    const granted = new Set(results.flatMap((r, i) => (r.kind === 'held' ? [] : [nodes[Math.floor(i / 3)]])));
    t.is(granted.size, 1);
    t.is(results.filter((r) => r.kind === 'mount').length, 1);
    t.is(new Set((await c.inspect()).holders.map((h) => h.node)).size, 1);
  });

  it('concurrent acquire/release cycles from many callers leave no holder behind', async (t, c) => {
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; i < 10; i++) {
        const token = `w${w}-${i}`;
        let result = await c.store.acquire(c.req('A', token, { mode: 'shared' }));
        while (result.kind === 'wait') result = await c.store.acquire(c.req('A', token, { mode: 'shared' }));
        if (result.kind === 'mount') await c.store.markMounted(c.ref('A', token), '/mnt/A');
        const released = await c.store.release(c.ref('A', token));
        if (released.kind === 'unmount') await c.store.markUnmounted(c.ref('A', token));
      }
    };
    await Promise.all([0, 1, 2, 3, 4].map(worker));
    const view = await c.store.inspect(c.vol);
    t.deepEqual(view?.holders ?? [], []);
    t.is(view === undefined ? 'absent' : nodeState(view, 'A'), 'absent');
  });

  // ---------------------------------------------------------------- data loss (stores that can lose data)

  it('data loss: renew answers missing; reclaim re-registers the mount (join, same epoch, same Mount ID)', async (t, c) => {
    if (!c.loseData) {
      t.pass('this store cannot lose data');
      return;
    }
    const epoch = await c.mounted('A', 'a1');
    t.is((await c.store.acquire(c.req('A', 'a2'))).kind, 'join');
    await c.loseData();
    t.deepEqual(await c.store.renew(c.ref('A', 'a1'), LONG), { kind: 'missing' });
    t.is(await c.store.inspect(c.vol), undefined);
    const reclaim = { mountpoint: '/mnt/A', mountId: 'a1', epoch };
    t.deepEqual(await c.store.acquire({ ...c.req('A', 'a1'), reclaim }), { kind: 'join', epoch, mountpoint: '/mnt/A' });
    t.deepEqual(await c.store.acquire({ ...c.req('A', 'a1'), reclaim }), { kind: 'join', epoch, mountpoint: '/mnt/A' }, 'a retried reclaim is one holder');
    // The node's second holder re-registers into the recreated record.
    t.deepEqual(await c.store.acquire({ ...c.req('A', 'a2'), reclaim: { ...reclaim } }), { kind: 'join', epoch, mountpoint: '/mnt/A' });
    t.deepEqual(await c.store.renew(c.ref('A', 'a1'), LONG), { kind: 'ok', epoch, expiresInMs: LONG });
    const view = await c.inspect();
    t.deepEqual(holdersOf(view, 'A'), ['a1', 'a2']);
    t.like(view.nodes.find((n) => n.node === 'A'), { state: 'mounted', mountpoint: '/mnt/A', mountId: 'a1' });
    t.true((await c.store.list()).some((v) => v.name === c.vol.name), 'the recreated record is listed');
    t.deepEqual(await c.store.release(c.ref('A', 'a2')), { kind: 'released' });
    t.deepEqual(await c.store.release(c.ref('A', 'a1')), { kind: 'unmount', mountpoint: '/mnt/A', mountId: 'a1' });
    t.deepEqual(await c.store.markUnmounted(c.ref('A', 'a1')), { kind: 'ok' });
  });

  it('data loss: no exclusive grant to another node within one TTL of the loss; granted after', async (t, c) => {
    if (!c.loseData) {
      t.pass('this store cannot lose data');
      return;
    }
    await c.mounted('A', 'a1');
    await c.loseData();
    const ttlMs = 1500;
    const first = await c.store.acquire(c.req('B', 'b1', { ttlMs }));
    t.is(first.kind, 'quarantine');
    const retryInMs = first.kind === 'quarantine' ? first.retryInMs : 0;
    t.true(retryInMs > 0 && retryInMs <= ttlMs, `retryInMs ${retryInMs}`);
    t.is(await c.store.inspect(c.vol), undefined, 'a quarantined acquire registers nothing');
    t.is((await c.store.acquire(c.req('B', 'b1', { ttlMs, preempt: true }))).kind, 'quarantine', 'preemption waits too');
    await c.pass(retryInMs + 100);
    t.like(await c.store.acquire(c.req('B', 'b1', { ttlMs })), { kind: 'mount' });
    // Too late for A: V belongs to B now; A's reclaim gets the ordinary answer and A fences.
    t.deepEqual(await c.store.acquire({ ...c.req('A', 'a1'), reclaim: { mountpoint: '/mnt/A', mountId: 'a1' } }), { kind: 'held', nodes: ['B'] });
  });

  it('data loss: a reclaim within the quarantine is granted; other nodes are then held by it', async (t, c) => {
    if (!c.loseData) {
      t.pass('this store cannot lose data');
      return;
    }
    const epoch = await c.mounted('A', 'a1');
    await c.loseData();
    t.like(await c.store.acquire({ ...c.req('A', 'a1'), reclaim: { mountpoint: '/mnt/A', mountId: 'a1', epoch } }), { kind: 'join', epoch });
    t.deepEqual(await c.store.acquire(c.req('B', 'b1')), { kind: 'held', nodes: ['A'] });
    // A new task on the reclaiming node is no new node: it joins the mount.
    t.like(await c.store.acquire(c.req('A', 'a3')), { kind: 'join', mountpoint: '/mnt/A' });
    // Shared claims exclude nobody, so the quarantine does not apply to them.
    const other = { driver: c.vol.driver, name: `${c.vol.name}-shared` };
    t.like(await c.store.acquire(c.req('B', 'b2', { mode: 'shared', vol: other })), { kind: 'mount' });
  });

  // ---------------------------------------------------------------- per-node view

  const namesOn = async (c: Ctx, node: string): Promise<string[]> => (await c.store.listNode(node)).map((v) => `${v.driver}/${v.name}`).sort();

  it('listNode(node) shows exactly the volumes in which the node has a holder or a state, through the whole life cycle', async (t, c) => {
    const other = { driver: c.vol.driver, name: `${c.vol.name}-b` };
    const id = `${c.vol.driver}/${c.vol.name}`;
    t.deepEqual(await namesOn(c, 'A'), []);
    t.like(await c.store.acquire(c.req('A', 't1')), { kind: 'mount' });
    t.like(await c.store.acquire(c.req('B', 'b1', { vol: other })), { kind: 'mount' });
    t.deepEqual(await namesOn(c, 'A'), [id], 'mounting: listed for its node');
    t.deepEqual(await namesOn(c, 'B'), [`${other.driver}/${other.name}`], 'and not for another node');
    t.deepEqual(await namesOn(c, 'C'), []);
    t.like(await c.store.markMounted(c.ref('A', 't1'), '/mnt/A'), { kind: 'ok' });
    const [view] = await c.store.listNode('A');
    t.like(view, { mode: 'exclusive', holders: [{ token: 't1', node: 'A' }], nodes: [{ node: 'A', state: 'mounted', mountpoint: '/mnt/A' }] });
    t.like(await c.store.release(c.ref('A', 't1')), { kind: 'unmount' });
    t.deepEqual(await namesOn(c, 'A'), [id], 'unmounting: still listed');
    t.like(await c.store.markUnmounted(c.ref('A', 't1')), { kind: 'ok' });
    t.deepEqual(await namesOn(c, 'A'), [], 'absent and no holder: no longer listed');
    t.deepEqual(await c.store.reap('A'), [], 'a reap of the pruned volume finds nothing');
    t.deepEqual(await namesOn(c, 'A'), []);
  });

  it('listNode keeps an orphaned node state (holder expired and reaped) until it is unmounted', async (t, c) => {
    await c.mounted('A', 't1', { ttlMs: c.short * 10 });
    await c.letExpire(c.ref('A', 't1'));
    t.deepEqual((await c.store.reap('A')).filter((v) => v.name === c.vol.name), [c.vol]);
    const [view] = await c.store.listNode('A');
    t.like(view, { name: c.vol.name, holders: [], nodes: [{ node: 'A', state: 'mounted' }] });
    t.like(await c.store.claimUnmount(c.ref('A', 'rec'), LONG), { kind: 'unmount' });
    t.like(await c.store.markUnmounted(c.ref('A', 'rec')), { kind: 'ok' });
    t.deepEqual(await namesOn(c, 'A'), []);
  });

  it('reap and listNode of one node are not confused by many volumes of other nodes', async (t, c) => {
    const mine = { driver: c.vol.driver, name: `${c.vol.name}-mine` };
    for (let i = 0; i < 20; i++) t.like(await c.store.acquire(c.req(`N${i}`, `n${i}`, { vol: { driver: c.vol.driver, name: `${c.vol.name}-${i}` } })), { kind: 'mount' });
    t.like(await c.store.acquire(c.req('A', 'a1', { vol: mine, ttlMs: c.short * 10 })), { kind: 'mount' });
    t.deepEqual(await namesOn(c, 'A'), [`${mine.driver}/${mine.name}`]);
    await c.letExpire(c.ref('A', 'a1', mine));
    t.deepEqual(await c.store.reap('A'), [mine], 'only the node\'s own orphan');
    t.is((await c.store.list()).filter((v) => v.driver === c.vol.driver).length, 21, 'the cluster-wide view still has them all');
  });

  // ---------------------------------------------------------------- plumbing

  it('ping answers, list shows volumes in use, and close ends the store', async (t, c) => {
    t.true(await c.store.ping());
    t.is(typeof c.store.backend, 'string');
    await c.store.acquire(c.req('A', 't1'));
    const listed = (await c.store.list()).find((v) => v.name === c.vol.name && v.driver === c.vol.driver);
    t.like(listed, { mode: 'exclusive', holders: [{ token: 't1' }] });
    t.is(await c.store.inspect({ driver: c.vol.driver, name: 'never-seen' }), undefined);
    await c.store.close();
    t.false(await c.store.ping());
    await t.throwsAsync(c.store.acquire(c.req('A', 't2')), { code: 'DVDI_STORE_CLOSED' });
  });
}
