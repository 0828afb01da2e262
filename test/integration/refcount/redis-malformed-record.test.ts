// Regression (malformed Redis records fail open): a record in a volume's key that this code did
// not write — holders "abc" or an object, epoch 1e308 or -7.5, a state outside the four, a lease
// that never ends, … — used to be read as "no holders" or taken at its word, and an exclusive
// volume was granted and mounted. Now every script checks the record's shape and answers the
// bad-record code, the store turns it into DVDI_STORE_RECORD_INVALID naming the volume, nothing
// in the key changes, and a sidecar for the volume exits without calling the driver.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../src/common/logger.js';
import { createRedisRefcountStore, type RedisRefcountStore } from '../../../src/refcount/redis-refcount-store.js';
import type { HolderRef } from '../../../src/refcount/refcount-store.js';
import { DvdiError } from '../../../src/common/errors.js';
import { useAdminRedis } from '../../helpers/redis-admin.js';
import { rigsFor } from '../../helpers/node-rig.js';

const redis = useAdminRedis(test);
const startRig = rigsFor(test);

const future = (): number => Date.now() + 3_600_000;
const holder = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ token: 'tok-other', node: 'node-z', task: 't', role: 'holder', expiresAt: future(), ...extra });
const base = (extra: Record<string, unknown>): string => JSON.stringify({ driver: 'D', name: 'V', epoch: 3, holders: [], nodes: [], ...extra });

/** Each shape a forged or damaged record took (or could take); all must be refused. */
const shapes: Record<string, () => string> = {
  'holders "abc"': () => base({ holders: 'abc' }),
  'holders as an object': () => base({ holders: { a: holder() } }),
  'epoch 1e308': () => base({ epoch: 1e308 }).replace('1e+308', '1e308'),
  'epoch -7.5': () => base({ epoch: -7.5 }),
  'epoch as a string': () => base({ epoch: '3' }),
  'epoch null': () => base({ epoch: null }),
  'nodes "x"': () => base({ nodes: 'x' }),
  'node state outside the four': () => base({ nodes: [{ node: 'node-z', state: 'attached', lastLiveAt: 1 }] }),
  'holder lease that never ends (1e308)': () => base({ mode: 'exclusive', holders: [holder({ expiresAt: 1e308 })] }),
  'holder with a numeric token': () => base({ mode: 'exclusive', holders: [holder({ token: 7 })] }),
  'holder role outside holder/unmounter': () => base({ mode: 'exclusive', holders: [holder({ role: 'owner' })] }),
  'mode outside exclusive/shared': () => base({ mode: 'both' }),
  'not an object (array)': () => JSON.stringify([1, 2]),
  'JSON null': () => 'null',
  'not JSON': () => '{"epoch":',
};

async function storeOn(prefix: string): Promise<RedisRefcountStore> {
  const store = createRedisRefcountStore({ url: redis.server.url, prefix, logger: silentLogger() });
  if (!(await store.waitReady(5000))) throw new Error('store did not connect');
  return store;
}

for (const [shape, make] of Object.entries(shapes)) {
  test(`malformed record (${shape}): every operation refuses with DVDI_STORE_RECORD_INVALID naming the volume, the key is untouched`, async (t) => {
    const prefix = `mal${randomBytes(4).toString('hex')}`;
    await redis.admin.set(`${prefix}:alive`, '0');
    const store = await storeOn(prefix);
    t.teardown(() => store.close());
    const vol = { driver: 'drv', name: `vol-${randomBytes(3).toString('hex')}` };
    const key = store.volumeKey(vol);
    const raw = make();
    await redis.admin.set(key, raw, 'PX', 600_000);
    const ref: HolderRef = { ...vol, node: 'node-a', token: 'tok-a' };
    const refused = async (what: string, call: () => Promise<unknown>): Promise<void> => {
      const error = await t.throwsAsync(call, undefined, what);
      t.true(error instanceof DvdiError && error.code === 'DVDI_STORE_RECORD_INVALID', `${what}: ${String(error)}`);
      t.true(error?.message.includes(`${vol.driver}/${vol.name}`), `${what} names the volume: ${error?.message ?? ''}`);
    };
    for (const mode of ['exclusive', 'shared'] as const) {
      for (const preempt of [false, true]) {
        await refused(`acquire ${mode} preempt=${String(preempt)}`, () => store.acquire({ ...ref, task: 'task-a', mode, preempt, ttlMs: 10_000 }));
      }
    }
    await refused('acquire with reclaim', () => store.acquire({ ...ref, task: 'task-a', mode: 'exclusive', preempt: false, ttlMs: 10_000, reclaim: { mountpoint: '/m', mountId: 'tok-a', epoch: 9 } }));
    await refused('renew', () => store.renew(ref, 10_000));
    await refused('release', () => store.release(ref));
    await refused('markMounted', () => store.markMounted(ref, '/m'));
    await refused('abortMount', () => store.abortMount(ref));
    await refused('markUnmounted', () => store.markUnmounted(ref));
    await refused('claimUnmount', () => store.claimUnmount(ref, 10_000));
    await refused('inspect', () => store.inspect(vol));
    t.is(await redis.admin.get(key), raw, 'the record is exactly as it was: nothing was granted or rewritten');
  });
}

test('an empty list written as {} (what Lua cjson writes) is still a valid record', async (t) => {
  const prefix = `mal${randomBytes(4).toString('hex')}`;
  await redis.admin.set(`${prefix}:alive`, '0');
  const store = await storeOn(prefix);
  t.teardown(() => store.close());
  const vol = { driver: 'drv', name: 'empty-lists' };
  await redis.admin.set(store.volumeKey(vol), JSON.stringify({ driver: 'drv', name: 'empty-lists', epoch: 4, holders: {}, nodes: {} }), 'PX', 600_000);
  t.like(await store.inspect(vol), { epoch: 4, holders: [], nodes: [] });
  const result = await store.acquire({ ...vol, node: 'node-a', token: 'tok', task: 't', mode: 'exclusive', preempt: false, ttlMs: 10_000 });
  t.like(result, { kind: 'mount', epoch: 5 });
});

// The sidecar end of it: an exclusive volume whose record is forged is not granted, and the
// driver is never asked to Mount it (the plugin's journal is the ground truth).
for (const shape of ['holders "abc"', 'holders as an object', 'epoch 1e308', 'epoch -7.5', 'holder lease that never ends (1e308)'] as const) {
  test.serial(`malformed record (${shape}): the sidecar exits 4 naming the volume, the driver is not called`, async (t) => {
    const prefix = `mals${randomBytes(4).toString('hex')}`;
    await redis.admin.set(`${prefix}:alive`, '0');
    const rig = await startRig({ env: { DVDI_REDIS_URL: redis.server.url, DVDI_REDIS_PREFIX: prefix, DVDI_LEASE_TTL_MS: '3000', DVDI_ACQUIRE_TIMEOUT_MS: '3000' } });
    const volume = `forged-${randomBytes(3).toString('hex')}`;
    await redis.admin.set(`${prefix}:{${rig.driver}/${volume}}:vol`, shapes[shape]!(), 'PX', 600_000);
    const sidecar = await rig.sidecar({ DVDI_VOLUME_NAME: volume, DVDI_TASK_ID: 'task-forged' });
    const finished = await sidecar.child.finished;
    t.is(finished.code, 4, finished.stderr.slice(-2000));
    // The lifecycle wraps the store's error (DVDI_STORE_UNAVAILABLE, exit 4) and keeps its text.
    t.regex(finished.stderr, /is not a refcount record; acquire refused, nothing granted/);
    t.true(finished.stderr.includes(`${rig.driver}/${volume}`), 'the error names the volume');
    const mounts = rig.journal().filter((l) => l.volume === volume && l.op === 'Mount');
    t.deepEqual(mounts, [], 'the driver was not asked to Mount the volume');
  });
}
